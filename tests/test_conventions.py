"""The ecosystem's conventions: the config documented key by key, one home for each default,
Snakemake's minimum version as pyproject states it, the default profile, the licence, and
the conda environment's post-deploy script."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
import yaml

from filterdb.shift import FLOAT32_EPS

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
SHEET_SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/models.schema.yaml").read_text())
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def schema_keys(node, path=()):
    """Dotted config keys of the schema (``NAME`` for a name the user chooses)."""
    for key, sub in node.get("properties", {}).items():
        yield ".".join((*path, key))
        yield from schema_keys(sub, (*path, key))
        if isinstance(sub.get("additionalProperties"), dict):
            yield from schema_keys(sub["additionalProperties"], (*path, key, "NAME"))


def test_config_readme_describes_every_key_and_sheet_column():
    text = (ROOT / "config/README.md").read_text()
    documented = set(re.findall(r"^\| `([^`]+)`", text, re.M)) | set(re.findall(r"^### `(\w+)`", text, re.M))
    # "experiments.pretrain.steps, .batch_size, …" rows name several keys at once
    for row in re.findall(r"^\| `([\w.]+)\.(\w+)`((?:, `\.\w+`)+)", text, re.M):
        documented |= {f"{row[0]}.{row[1]}", *(f"{row[0]}.{k}" for k in re.findall(r"`\.(\w+)`", row[2]))}
    missing = [k for k in schema_keys(SCHEMA) if k not in documented]
    assert not missing, f"config/README.md does not describe: {missing}"
    columns = [c for c in SHEET_SCHEMA["properties"] if c not in documented]
    assert not columns, f"config/README.md does not describe the sheet columns: {columns}"


def test_defaults_stated_once():
    shift = SCHEMA["properties"]["shift"]["properties"]
    assert shift["eps"]["default"] == FLOAT32_EPS  # the schema's default is the library's constant
    for name in ("config.yaml", "paper.yaml", "smoke.yaml"):
        config = yaml.safe_load((ROOT / "config" / name).read_text())
        assert "eps" not in config["shift"], name  # stated by the schema, not restated
        assert "min_group_filters" not in config.get("figures", {}), name  # one key: shift.min_group_filters
        for axis in config["shift"]["axes"].values():
            assert axis.get("ordered", False) == (axis["column"] in ("depth_decile", "conv_depth")), (name, axis)
    rules = "\n".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    # after validate() fills the schema's defaults, no rule restates one
    assert not re.findall(r"config(?:\[\"\w+\"\])*\.get\(\"\w+\", ", rules)
    assert not re.findall(r"\b(?:ZOO|FIG|BASIS)\.get\(\"\w+\", ", rules)
    assert "1.1920929e-07" not in rules and "column\"]\n        in (" not in rules


def test_min_version_is_pyproject_requirement():
    requirement = next(d for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
                       if d.startswith("snakemake"))  # fmt: skip
    lower = re.search(r">=\s*([\d.]+)", requirement).group(1)
    stated = re.search(r'^min_version\("([\d.]+)"\)', (ROOT / "Snakefile").read_text(), re.M).group(1)
    assert stated == lower


def test_licence_is_pyprojects():
    licence = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]["text"]
    text = (ROOT / "LICENSE").read_text()
    assert licence == "MIT" and text.startswith("MIT License") and "filterdb contributors" in text


def test_catalog_file():
    catalog = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())
    stack = catalog["usage"]["software-stack-deployment"]
    assert stack["conda"] is True and stack["report"] is True
    assert {"desc", "flags"} <= set(catalog["usage"]["mandatory-flags"])


def test_default_profile_is_picked_up(tmp_path):
    profile = yaml.safe_load((ROOT / "workflow/profiles/default/config.yaml").read_text())
    assert profile["rerun-incomplete"] is True
    done = subprocess.run([str(SNAKEMAKE), "-n", "--quiet", "all", "--configfile", "config/smoke.yaml"],
                          cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "workflow specific profile profiles/default" in done.stderr
    assert (ROOT / "profiles/default/config.yaml").resolve() == (ROOT / "workflow/profiles/default/config.yaml")


def test_conda_env_installs_no_relative_path():
    env = yaml.safe_load((ROOT / "envs/filterdb.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert not [p for p in pip if p.startswith(("-e", ".", "/"))]
    common = (ROOT / "workflow/rules/common.smk").read_text()
    assert "FILTERDB_WORKFLOW_DIR=str(workflow.basedir)" in common


@pytest.mark.slow
def test_post_deploy_script_installs_the_checkout(tmp_path):
    """As Snakemake runs it: a copy under .snakemake/conda/, inside the activated new environment,
    in the run's working directory (not the checkout), FILTERDB_WORKFLOW_DIR from common.smk."""
    env_dir = tmp_path / "work" / ".snakemake" / "conda" / "0123abcd"
    # the environment envs/filterdb.yaml describes, but for filterdb: this venv's packages (pip and
    # setuptools among them) through a .pth line, which does not run their .pth files (the editable
    # filterdb install's among them)
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    env_site = env_dir / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    (env_site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    script = env_dir.parent / "0123abcd.post-deploy.sh"
    shutil.copy(ROOT / "envs/filterdb.post-deploy.sh", script)
    shebang = script.read_text().splitlines()[0]
    interpreter = shebang[2:].split() if shebang.startswith("#!") else ["sh"]
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    environ.update(PATH=f"{env_dir / 'bin'}{os.pathsep}{environ['PATH']}", VIRTUAL_ENV=str(env_dir),
                   FILTERDB_WORKFLOW_DIR=str(ROOT))  # fmt: skip
    probe = [str(env_dir / "bin/python"), "-c", "import filterdb; print(filterdb.__file__)"]
    assert subprocess.run(probe, cwd=tmp_path, env=environ, capture_output=True).returncode != 0  # not there yet
    done = subprocess.run([*interpreter, str(script)], cwd=tmp_path / "work", env=environ, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    where = subprocess.run(probe, cwd=tmp_path, env=environ, capture_output=True, text=True, check=True).stdout
    assert Path(where.strip()).resolve().is_relative_to(ROOT / "src")
    # without the variable, it says what is missing
    del environ["FILTERDB_WORKFLOW_DIR"]
    done = subprocess.run([*interpreter, str(script)], cwd=tmp_path / "work", env=environ, capture_output=True, text=True)
    assert done.returncode != 0 and "FILTERDB_WORKFLOW_DIR" in done.stderr
