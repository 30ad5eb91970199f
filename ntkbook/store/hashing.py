"""The one content hash: of inputs, and of the source of the code that made a result.

A cached result is valid while its inputs and the code that computed it are unchanged. "The code"
is computed, not listed by hand: :func:`module_closure` follows the ``import`` statements of the
named modules through the whole ``ntkbook`` package (statically, with :mod:`ast`), so editing any
module a computation imports, however indirectly, changes the key.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

PACKAGE = "ntkbook"


@cache
def _source_path(module: str) -> Path | None:
    """The ``.py`` file of ``module`` (a package's ``__init__.py``), or None if not ntkbook's."""
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        return None
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _imports(tree: ast.AST, module: str = "", is_package: bool = False) -> set[str]:
    """ntkbook modules that the code ``tree`` of ``module`` imports (``from a import b`` counts
    ``a.b`` when ``b`` is a module), including the parent packages that Python runs on import."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                anchor = parts if is_package else parts[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    with_parents = set()
    for name in found:
        parts = name.split(".")
        with_parents.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {m for m in with_parents if _source_path(m) is not None}


@cache
def _parsed_imports(module: str, path: Path, stamp: tuple[int, int]) -> frozenset[str]:
    """:func:`_imports` of a source file, remembered while its ``(mtime_ns, size)`` holds."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return frozenset(_imports(tree, module, path.name == "__init__.py"))


def _imported_modules(module: str, path: Path) -> set[str]:
    """ntkbook modules that ``module``'s source file ``path`` imports (see :func:`_imports`)."""
    stat = path.stat()
    return set(_parsed_imports(module, path, (stat.st_mtime_ns, stat.st_size)))


def source_imports(source: str) -> set[str]:
    """ntkbook modules that a piece of top-level code imports (a notebook's cells, say), with
    their parent packages; IPython magics and shell lines (``%``, ``!``) are skipped."""
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return _imports(ast.parse("\n".join(lines)))


def _closure(modules: Iterable[str | ModuleType]) -> dict[str, Path]:
    """Module name -> source file for ``modules`` and every ntkbook module they import."""
    todo = [m.__name__ if isinstance(m, ModuleType) else str(m) for m in modules]
    seen: dict[str, Path] = {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _source_path(name)
        if path is None:
            raise ValueError(f"{name!r} is not a module of the {PACKAGE} package")
        seen[name] = path
        todo.extend(_imported_modules(name, path) - seen.keys())
    return seen


def module_closure(modules: Iterable[str | ModuleType]) -> list[Path]:
    """Source files of ``modules`` and of every ntkbook module they import, transitively.

    Args:
        modules: module names (``"ntkbook.experiments.grids"``) or module objects.

    Returns:
        The ``.py`` files, sorted.

    Raises:
        ValueError: A name is not a module of the ntkbook package.
    """
    return sorted(set(_closure(modules).values()))


def _update(digest, part: Any) -> None:
    if isinstance(part, np.ndarray):
        digest.update(f"{part.dtype}{part.shape}".encode())
        digest.update(np.ascontiguousarray(part).tobytes())
    else:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())


def content_hash(*parts: Any, code: Sequence[str | ModuleType] = (),
                 files: Iterable[str | Path] = ()) -> str:
    """SHA-256 of ``parts``, of the source closure of ``code`` and of ``files``.

    Args:
        parts: values: arrays by dtype, shape and bytes; anything else as sorted JSON.
        code: modules whose source, and that of every ntkbook module they import
            (:func:`module_closure`), the result depends on.
        files: further files hashed by name and bytes (a notebook, say).

    Returns:
        64 hex digits.
    """
    digest = hashlib.sha256()
    for part in parts:
        _update(digest, part)
    for name, path in sorted(_closure(code).items()):
        digest.update(name.encode())
        digest.update(path.read_bytes())
    for path in sorted(Path(f) for f in files):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
