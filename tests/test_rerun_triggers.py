"""Rerun triggers: each rule's ``code`` param hashes its script and the filterdb modules the
script imports (``filterdb.workflow_code``), so that editing a module reruns exactly the
rules whose scripts import it, directly or through other modules."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from filterdb.workflow_code import PACKAGE_DIR, imported_files, script_code

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "workflow" / "scripts").glob("*.py"))


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def toy(tmp_path):
    """A small package ``pkg`` with every kind of import the derivation follows, and scripts."""
    package = tmp_path / "pkg"
    write(package, {
        "__init__.py": '__version__ = "1"\n\ndef __getattr__(name):\n    from . import heavy\n    return getattr(heavy, name)\n',
        "heavy.py": "",
        "base.py": "",
        "util.py": "from .base import thing\n",
        "lazy.py": "def f():\n    from pkg.sub import deep\n",
        "sub/__init__.py": "from . import shared\n",
        "sub/shared.py": "",
        "sub/deep.py": "from ..util import helper\n",
        "registry.py": 'import importlib\nKINDS = {"a": "pkg.plugins.a", "d": "pkg.plugins.d:run"}\n\ndef get(name):\n    return importlib.import_module(KINDS[name])\n\ndef other():\n    return importlib.import_module(".plugins.b", __package__)\n',
        "plugins/__init__.py": "",
        "plugins/a.py": "",
        "plugins/b.py": "",
        "plugins/c.py": "",
        "plugins/d.py": "",
        "version_user.py": "from . import __version__\n",
        "unused.py": "",
    })  # fmt: skip
    scripts = tmp_path / "scripts"
    write(scripts, {
        "s_lazy.py": "from pkg.lazy import f\n",
        "s_sub.py": "from pkg.sub import deep\n",
        "s_registry.py": "def main():\n    from pkg import registry\n",
        "s_version.py": "import pkg.version_user\n",
        "s_root.py": "from pkg import anything\n",
        "s_none.py": "import json\n",
    })  # fmt: skip
    return package, scripts


def names(package: Path, files) -> set[str]:
    return {p.relative_to(package).as_posix() for p in files}


def test_imports_followed_through_the_kinds_of_import(toy):
    package, scripts = toy

    def files(script):
        return names(package, imported_files(scripts / script, package, "pkg"))

    # lazy import inside a function, a submodule through `from pkg.sub import deep`, a relative
    # `..util` import, and the __init__ files run on the way (sub's pulls in sub.shared)
    assert files("s_lazy.py") == {"__init__.py", "lazy.py", "sub/__init__.py", "sub/shared.py", "sub/deep.py",
                                  "util.py", "base.py"}  # fmt: skip
    assert files("s_sub.py") == {"__init__.py", "sub/__init__.py", "sub/shared.py", "sub/deep.py", "util.py", "base.py"}
    # a registry that imports modules by name: dotted strings ("module:attribute" too) and
    # import_module(".x", __package__)
    assert files("s_registry.py") == {"__init__.py", "registry.py", "plugins/__init__.py", "plugins/a.py", "plugins/b.py",
                                      "plugins/d.py"}  # fmt: skip
    # a constant taken from the package (__version__) runs its __init__, not its lazy __getattr__
    assert files("s_version.py") == {"__init__.py", "version_user.py"}
    # a name the package's __init__ provides lazily: its function's imports count
    assert files("s_root.py") == {"__init__.py", "heavy.py"}
    assert files("s_none.py") == set()


def test_toy_edit_changes_exactly_the_importers(toy, tmp_path):
    package, scripts = toy
    before = {s.name: script_code(s, package, "pkg") for s in scripts.glob("*.py")}
    for module, expected in [
        ("base.py", {"s_lazy.py", "s_sub.py"}),
        ("plugins/b.py", {"s_registry.py"}),
        ("plugins/d.py", {"s_registry.py"}),
        ("plugins/c.py", set()),
        ("heavy.py", {"s_root.py"}),
        ("__init__.py", {"s_lazy.py", "s_sub.py", "s_registry.py", "s_version.py", "s_root.py"}),
    ]:
        path = package / module
        original = path.read_text()
        path.write_text(original + "# edited\n")
        after = {s.name: script_code(s, package, "pkg") for s in scripts.glob("*.py")}
        path.write_text(original)
        assert {s for s in before if after[s] != before[s]} == expected, module
    # the script itself counts too
    (scripts / "s_none.py").write_text("import json  # edited\n")
    assert script_code(scripts / "s_none.py", package, "pkg") != before["s_none.py"]


def direct_imports(script: Path) -> set[str]:
    """Modules a script names in `from filterdb.x import` / `import filterdb.x` lines, by a regex
    (a second reading, independent of the ast walk)."""
    found = set()
    for match in re.finditer(r"^\s*(?:from|import)\s+filterdb((?:\.\w+)*)(?:\s+import\s+([\w, ]+))?", script.read_text(), re.M):
        module = match.group(1).lstrip(".").replace(".", "/")
        candidates = [module] + [f"{module}/{n.strip()}".lstrip("/") for n in (match.group(2) or "").split(",")]
        for candidate in candidates:
            if candidate and ((PACKAGE_DIR / f"{candidate}.py").is_file() or (PACKAGE_DIR / candidate / "__init__.py").is_file()):
                found.add(f"{candidate}.py" if (PACKAGE_DIR / f"{candidate}.py").is_file() else f"{candidate}/__init__.py")
    return found


@pytest.fixture(scope="module")
def graph():
    """{script name: the package files it imports} of the workflow's scripts."""
    return {s.name: names(PACKAGE_DIR, imported_files(s)) for s in SCRIPTS}


def test_every_direct_import_is_followed(graph):
    for script in SCRIPTS:
        missing = direct_imports(script) - graph[script.name]
        assert not missing, (script.name, missing)


def test_every_script_rule_passes_its_code(graph):
    rules = "\n".join(p.read_text() for p in sorted((ROOT / "workflow" / "rules").glob("*.smk")))
    used = set(re.findall(r'"\.\./scripts/([\w.]+)"', rules))
    coded = set(re.findall(r'script_code\("([\w.]+)"\)', rules))
    assert used == coded and used <= set(graph)
    assert "code_version" not in rules


def picked_modules(graph) -> list[str]:
    """Modules to edit: the most and the least imported, one that no script imports, and the
    page reader and metrics (where filters are read and scaled)."""
    counts = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        name = path.relative_to(PACKAGE_DIR).as_posix()
        counts[name] = sum(name in files for files in graph.values())
    imported = sorted((n for n in counts if counts[n]), key=lambda n: (counts[n], n))
    picks = {imported[0], imported[-1], *(n for n in ("_pages.py", "metrics.py") if n in counts)}
    picks |= set(sorted(n for n in counts if not counts[n])[:1])
    return sorted(picks)


def test_editing_a_module_changes_exactly_the_hashes_of_its_importers(graph, tmp_path):
    copy = tmp_path / PACKAGE_DIR.name
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = {s.name: script_code(s, copy) for s in SCRIPTS}
    assert before == {s.name: script_code(s) for s in SCRIPTS}  # the copy hashes as the package does
    for module in picked_modules(graph):
        path = copy / module
        original = path.read_bytes()
        path.write_bytes(original + b"\n# a comment\n")
        after = {s.name: script_code(s, copy) for s in SCRIPTS}
        path.write_bytes(original)
        changed = {s for s in before if after[s] != before[s]}
        assert changed == {s for s, files in graph.items() if module in files}, module


SNAKEMAKE = Path(sys.executable).with_name("snakemake")
SMOKE = ["--configfile", "config/smoke.yaml", "--workflow-profile", "none"]


def rule_family(rule: str) -> str:
    """The rules of a bucket of models (``histograms_07``) by their common name (``histograms``)."""
    return re.sub(r"_\d\d$", "", rule)


def rule_scripts() -> dict[str, str]:
    """{rule: script file name} from workflow/rules/*.smk; a bucket's rules (defined in a loop,
    ``name: f"histograms_{_bucket}"``) by their common name."""
    found = {}
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"(?m)^\s*rule ?", smk.read_text())[1:]:
            script = re.search(r'"\.\./scripts/([\w.]+)"', block)
            name = block.split(":")[0].strip() or re.search(r'name:\s*f"(\w+)_\{_\w+\}"', block).group(1)
            if script:
                found[name] = script.group(1)
    return found


# `--list-changes params` of Snakemake 9.27 lists every output with recorded params, changed or not: a
# ParamsChange without a change still iterates over its files. Patched here to iterate only over changes.
LIST_PARAMS_CHANGES = (
    "import sys, snakemake.persistence as p; p.ParamsChange.__iter__ = lambda self: iter(self.files if self else ()); "
    "from snakemake.cli import main; sys.argv[0] = 'snakemake'; main()"
)


def snakemake(workdir: Path, *args: str, patched: bool = False) -> str:
    env = {**os.environ, "PYTHONPATH": str(workdir / "src")}  # the copy's filterdb, not the installed one
    command = [sys.executable, "-c", LIST_PARAMS_CHANGES] if patched else [str(SNAKEMAKE)]
    done = subprocess.run([*command, *args, *SMOKE], cwd=workdir, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_snakemake_reruns_exactly_the_rules_that_import_an_edited_module(graph, tmp_path):
    """Through Snakemake: a copied workflow whose jobs all ran (--touch records their params),
    then one module gains a comment; Snakemake finds changed params in exactly the rules whose
    scripts import that module."""
    workdir = tmp_path / "workflow_copy"
    workdir.mkdir()
    shutil.copy(ROOT / "Snakefile", workdir)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for folder in ("workflow", "config", "src", "envs"):
        shutil.copytree(ROOT / folder, workdir / folder, ignore=ignore)
    summary = snakemake(workdir, "--summary", "--cores", "1", "all")
    rule_of = {}
    for line in summary.splitlines()[1:]:
        path, _, rule = line.split("\t")[:3]
        rule_of[path] = rule_family(rule)
        (workdir / path).parent.mkdir(parents=True, exist_ok=True)
        (workdir / path).touch()
    # every job "ran": its params are recorded (--forceall: else a job whose outputs happen to
    # be newer than its inputs is skipped and has no record)
    snakemake(workdir, "--touch", "--forceall", "--cores", "1", "all")

    def params_changed() -> set[str]:  # rules whose recorded params differ from the workflow's now
        return {rule_of[path] for path in snakemake(workdir, "--list-changes", "params", "all", patched=True).split()}

    assert params_changed() == set()
    scripts = rule_scripts()
    planned = set(rule_of.values()) & set(scripts)
    # modules that some of the planned rules import and some do not: the most imported, the least
    importers = {m: {r for r in planned if m in graph[scripts[r]]} for m in {f for fs in graph.values() for f in fs}}
    partial = sorted((m for m in importers if 0 < len(importers[m]) < len(planned)), key=lambda m: (len(importers[m]), m))
    for module in (partial[-1], partial[0]):
        edited = workdir / "src" / "filterdb" / module
        original = edited.read_text()
        edited.write_text(original + "\n# a comment\n")
        assert params_changed() == importers[module], module
        edited.write_text(original)
