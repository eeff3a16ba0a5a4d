"""Rerun triggers: the package's source files a workflow script runs, and their hash.

Snakemake sees edits to a rule's script, not to the library the script imports. Each
rule therefore passes ``code=script_code("x.py")`` as a param: a hash of the script and
of every module of this package the script imports, directly or through other modules,
so that editing a module reruns exactly the rules whose scripts can run it.

The import graph is read from the source with :mod:`ast`, nothing is imported:

- ``import a.b``, ``from a.b import c`` (``c`` a submodule or a name), relative imports;
- imports anywhere in a module, inside functions too (lazy imports run when called);
- a string that names a module of the package (``"filterdb.sources.npm"``, or
  ``"filterdb.readers.onnx:read"`` in entry-point notation) or an ``import_module(".x")``
  argument: a registry that imports by name;
- importing ``a.b.c`` runs the ``__init__`` of ``a`` and ``a.b``: those files count, and
  what they import at module level, but not their functions' lazy imports (those run only
  when a name of that package itself is used, and such a use imports it by name); taking a
  plain constant from a module (``from . import __version__``) counts as running it, not
  as using its functions.

Standard library only: the Snakefile calls it when it parses the workflow.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = __name__.split(".")[0]
PACKAGE_DIR = Path(__file__).resolve().parent
_DEFERRED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


class _Package:
    """Module names of one package ↔ its source files."""

    def __init__(self, directory: str | Path, name: str) -> None:
        self.directory = Path(directory)
        self.name = name

    def file_of(self, module: str) -> Path | None:
        """The source file of ``module`` (a package's ``__init__.py``), or None outside the package."""
        parts = module.split(".")
        if parts[0] != self.name:
            return None
        base = self.directory.joinpath(*parts[1:])
        if (base / "__init__.py").is_file():
            return base / "__init__.py"
        if len(parts) > 1 and base.with_suffix(".py").is_file():
            return base.with_suffix(".py")
        return None

    def is_module(self, module: str) -> bool:
        """A module or package (a directory without ``__init__.py`` included) of this package."""
        parts = module.split(".")
        if parts[0] != self.name or not all(part.isidentifier() for part in parts):
            return False
        base = self.directory.joinpath(*parts[1:])
        return base.is_dir() or (len(parts) > 1 and base.with_suffix(".py").is_file())

    def name_of(self, path: Path) -> str:
        parts = path.relative_to(self.directory).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        return ".".join((self.name, *parts))


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _resolve(base: str | None, level: int, package_of: str | None) -> str | None:
    """The absolute module name of ``from <level dots><base> import …`` in package ``package_of``."""
    if level == 0:
        return base
    if not package_of:
        return None  # a relative import in a top-level script
    parts = package_of.split(".")
    if level - 1 >= len(parts):
        return None
    anchor = parts[: len(parts) - (level - 1)]
    return ".".join([*anchor, base] if base else anchor)


def _top_level_nodes(tree: ast.AST):
    """Nodes that run when the module is imported: everything but function bodies."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in ast.iter_child_nodes(node) if not isinstance(child, _DEFERRED))


@functools.lru_cache(maxsize=1024)
def _parse(source: bytes, filename: str) -> ast.Module:
    return ast.parse(source, filename)


def _constants(path: Path) -> set[str]:
    """Names a module binds at its top level to plain values (``__version__ = "1.0"``): importing
    one runs the module, not its functions."""
    names = set()
    for node in _parse(path.read_bytes(), str(path)).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant):
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


@functools.lru_cache(maxsize=4096)
def _named(source: bytes, filename: str, package_of: str | None, lazy: bool) -> tuple:
    """What the module's source names, any package: ``(module, None)`` for ``import module``, an
    ``import_module`` argument or a dotted string; ``(module, name)`` for ``from module import name``
    (only the imports run at import unless ``lazy``)."""
    tree = _parse(source, filename)
    found = []
    for node in ast.walk(tree) if lazy else _top_level_nodes(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(node.module, node.level, package_of)
            if module is not None:
                found.extend((module, alias.name) for alias in node.names)
        elif lazy and isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            target = node.args[0].value
            if called == "import_module" and isinstance(target, str) and target.startswith("."):
                level = len(target) - len(target.lstrip("."))
                resolved = _resolve(target[level:] or None, level, package_of)
                if resolved:
                    found.append((resolved, None))
        elif lazy and isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value:
            # kept only when it names a submodule of the package; "module:attribute" names its module
            found.append((node.value.partition(":")[0], None))
    return tuple(found)


def _imports(path: Path, package: _Package, package_of: str | None, lazy: bool) -> dict[str, bool]:
    """Modules of ``package`` the imports of the file at ``path`` name (only those run at import
    unless ``lazy``), each with whether its lazy imports count too (False: only a constant is
    taken from it)."""
    return dict(_imports_of(path.read_bytes(), str(path), str(package.directory), package.name, package_of, lazy))


@functools.lru_cache(maxsize=4096)
def _imports_of(source: bytes, filename: str, directory: str, name: str, package_of: str | None, lazy: bool) -> tuple:
    # keyed by the file's bytes: every rule's script imports much the same modules, and the
    # workflow hashes ~30 scripts each time it is parsed
    package = _Package(directory, name)
    found: dict[str, bool] = {}
    for module, name in _named(source, filename, package_of, lazy):
        if not package.is_module(module):
            continue
        if name is None:
            found[module] = True
        elif name != "*" and package.is_module(f"{module}.{name}"):  # a submodule
            found[f"{module}.{name}"] = True
        else:  # a name the module itself defines
            origin = package.file_of(module)
            constant = origin is not None and name in _constants(origin)
            found[module] = found.get(module, False) or not constant
    return tuple(found.items())


def imported_files(script: str | Path, package_dir: str | Path = PACKAGE_DIR, package: str = PACKAGE) -> list[Path]:
    """The source files of ``package`` (in ``package_dir``) that ``script`` imports, directly or
    transitively, sorted. The script itself is not among them."""
    pkg = _Package(package_dir, package)
    full: set[Path] = set()  # imported by name: every import counts, lazy ones too
    init_only: set[Path] = set()  # an ancestor package's __init__: its module-level imports
    queue: list[tuple[Path | None, bool]] = [(None, True)]
    while queue:
        path, lazy = queue.pop()
        if path is None:
            path, package_of = Path(script), None
        else:
            name = pkg.name_of(path)
            package_of = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for module, whole in _imports(path, pkg, package_of, lazy).items():
            for name, by_name in [(m, False) for m in _ancestors(module)] + [(module, whole)]:
                found = pkg.file_of(name)
                if found is None or found in full or (not by_name and found in init_only):
                    continue
                (full if by_name else init_only).add(found)
                queue.append((found, by_name))
    return sorted(full | init_only)


def script_code(script: str | Path, package_dir: str | Path = PACKAGE_DIR, package: str = PACKAGE) -> str:
    """A short hash of ``script`` and of every package module it imports (:func:`imported_files`)."""
    digest = hashlib.sha256()
    root = Path(package_dir)
    for path in imported_files(script, package_dir, package):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(Path(script).read_bytes())
    return digest.hexdigest()[:16]
