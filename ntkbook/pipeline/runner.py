"""Execute chapters with papermill and write their result records.

``run_chapter`` executes ``book/<chapter>.ipynb`` with a profile's parameters into
``_build/executed/<profile>/book/<chapter>.ipynb`` and writes the record
``_build/results/<profile>/<chapter>.json``: parameters, seed, versions, wall time, the hash of
its inputs, every value the chapter glued and every claim it stated (``claims``). A chapter
whose inputs (the notebook, its parameters, and the source of every ntkbook module it imports,
transitively) are unchanged is not executed again unless forced. A parameterised run goes to its
own folder instead (:mod:`ntkbook.pipeline.runs`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat

from ntkbook.pipeline.glue import failed_claims, glued_claims, glued_values, versions
from ntkbook.pipeline.parameters import unknown_parameters_message
from ntkbook.pipeline.profiles import CHAPTERS, chapter_parameters
from ntkbook.store.files import atomic_write_json
from ntkbook.store.hashing import content_hash, source_imports
from ntkbook.store.paths import checkout

INJECTED_TAG = "injected-parameters"


class ChapterError(RuntimeError):
    """A chapter could not be run: bad parameters, or a cell failed."""


@dataclass(frozen=True)
class ChapterRun:
    chapter: str
    profile: str
    notebook: Path
    record: Path
    executed: bool  # False when the cached result was up to date
    failed_claims: tuple[dict, ...] = field(default=(), compare=False)
    page: Path | None = None  # the rendered HTML page of a parameterised run


def repo_root(start: Path | None = None) -> Path:
    """The folder holding ``_toc.yml`` and ``book/``: from ``start`` (or the cwd) upwards, else
    the checkout this package was imported from (see :func:`ntkbook.store.paths.checkout`)."""
    root = checkout(start)
    if root is None:
        raise ChapterError(
            "cannot find the book: no folder with _toc.yml and book/ above "
            f"{Path(start or Path.cwd()).resolve()}; run ntkbook from the repository's checkout"
        )
    return root


def chapter_name(name: str) -> str:
    """``book/01_theory.ipynb``, ``01_theory.ipynb`` and ``01_theory`` all name ``01_theory``."""
    stem = Path(name).name
    stem = stem[: -len(".ipynb")] if stem.endswith(".ipynb") else stem
    if stem not in CHAPTERS:
        raise ChapterError(f"unknown chapter {name!r}; chapters are: {', '.join(CHAPTERS)}")
    return stem


def declared_parameters(notebook: Path) -> dict[str, Any]:
    """The parameters a notebook declares in its cell tagged ``parameters``."""
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    if not declared:
        raise ChapterError(f"{notebook} has no cell tagged 'parameters'")
    return declared


def resolve_parameters(
    root: Path, chapter: str, profile: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The profile's parameters for ``chapter`` with ``overrides`` on top, checked against the
    notebook's parameters cell: an unknown name is an error, before anything runs."""
    try:
        params = chapter_parameters(chapter, profile)
    except ValueError as exc:
        raise ChapterError(str(exc)) from None
    params.update(overrides or {})
    declared = declared_parameters(root / "book" / f"{chapter}.ipynb")
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ChapterError(unknown_parameters_message(unknown, declared, f"chapter {chapter}"))
    return params


def notebook_modules(notebook: Path) -> set[str]:
    """The ntkbook modules that the code cells of ``notebook`` import (a cell that does not
    parse is skipped: it would fail when run)."""
    found = {"ntkbook"}
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "code":
            try:
                found |= source_imports(cell.source)
            except SyntaxError:
                continue
    return found


def inputs_hash(root: Path, chapter: str, profile: str, params: dict[str, Any]) -> str:
    """Content hash of what a chapter's result depends on: the notebook, the profile and
    parameters, and the source of every ntkbook module the notebook imports, transitively."""
    notebook = root / "book" / f"{chapter}.ipynb"
    return content_hash({"profile": profile, "parameters": params},
                        code=sorted(notebook_modules(notebook)), files=[notebook])


def executed_path(root: Path, profile: str, chapter: str) -> Path:
    return root / "_build" / "executed" / profile / "book" / f"{chapter}.ipynb"


def record_path(root: Path, profile: str, chapter: str) -> Path:
    return root / "_build" / "results" / profile / f"{chapter}.json"


def up_to_date(record: Path, notebook: Path, digest: str) -> bool:
    if not (record.is_file() and notebook.is_file()):
        return False
    try:
        return json.loads(record.read_text())["inputs_hash"] == digest
    except (ValueError, KeyError):
        return False


def _show_effective_parameters(path: Path, label: str) -> dict:
    """Hide papermill's injected cell, and show the values the chapter actually ran with in its
    ``parameters`` cell, so that a reader of the book sees the run's parameters, not the
    notebook's defaults."""
    nb = nbformat.read(path, as_version=4)
    injected = None
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if INJECTED_TAG in tags:
            injected = cell
            if "remove-cell" not in tags:
                tags.append("remove-cell")
    if injected is not None:
        lines = [ln for ln in injected.source.splitlines() if not ln.startswith("# Parameters")]
        for cell in nb.cells:
            if "parameters" in cell.metadata.get("tags", []):
                cell.source = "\n".join([f"# Parameters of this run ({label})"]
                                        + lines).strip()
                break
    nbformat.write(nb, path)
    return nb


def _failure_message(chapter: str, exc: Exception, failed: Path) -> str:
    cell = getattr(exc, "exec_count", None)
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    where = f"cell [{cell}]" if cell is not None else "a cell"
    return (
        f"chapter {chapter} failed in {where}: {ename}: {evalue}\n"
        f"  the partly executed notebook is {failed}"
    )


_ENV_LOCK = threading.Lock()


def _kernel_can_import(root: Path) -> None:
    """The kernel inherits the environment: put the checkout on ``PYTHONPATH`` (once, for the
    whole process, so that runs in several threads do not race on restoring it), so that
    ``import ntkbook`` works in the kernel even if the package is not installed."""
    with _ENV_LOCK:
        current = os.environ.get("PYTHONPATH", "")
        if str(root) not in current.split(os.pathsep):
            os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), current) if p)


def _execute(root: Path, chapter: str, label: str, params: dict[str, Any], target: Path,
             failed: Path) -> None:
    """Execute ``book/<chapter>.ipynb`` with ``params`` into ``target`` (through a partial file:
    ``target`` is complete or absent); a failing notebook is moved to ``failed``."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.stem}.{threading.get_ident()}.partial.ipynb")
    _kernel_can_import(root)
    try:
        papermill.execute_notebook(
            str(root / "book" / f"{chapter}.ipynb"),
            str(partial),
            parameters=params,
            kernel_name="python3",
            cwd=str(root / "book"),
            progress_bar=False,
        )
    except PapermillExecutionError as exc:
        failed.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, failed)
        raise ChapterError(_failure_message(chapter, exc, failed)) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _show_effective_parameters(partial, label)
    os.replace(partial, target)


def execute_to_record(root: Path, chapter: str, profile: str, params: dict[str, Any], *,
                      digest: str, notebook: Path, record: Path, failed: Path, label: str,
                      extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute a chapter into ``notebook`` and write its record to ``record``: parameters, seed,
    versions, timings, glued results and claims (plus ``extra``). Returns the record."""
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    tic = time.perf_counter()
    _execute(root, chapter, label, params, notebook, failed)
    wall = time.perf_counter() - tic
    executed = nbformat.read(notebook, as_version=4)
    content = {
        "chapter": chapter,
        "profile": profile,
        **(extra or {}),
        "parameters": params,
        "seed": params.get("seed"),
        "inputs_hash": digest,
        "started": started,
        "wall_seconds": round(wall, 3),
        "versions": versions(),
        "results": glued_values(executed),
        "claims": glued_claims(executed),
    }
    atomic_write_json(record, content)
    return content


def read_record(path: Path) -> dict[str, Any]:
    """A record written by :func:`execute_to_record`."""
    return json.loads(Path(path).read_text())


def resolve_run(chapter: str, profile: str, overrides: dict[str, Any] | None,
                root: Path | None) -> tuple[Path, str, dict[str, Any], str]:
    """``(root, chapter, parameters, inputs hash)`` of a run, checked before anything runs.

    Raises:
        ChapterError: unknown chapter, profile or parameter, or no checkout.
    """
    root = repo_root(root)
    chapter = chapter_name(chapter)
    params = resolve_parameters(root, chapter, profile, overrides)
    return root, chapter, params, inputs_hash(root, chapter, profile, params)


def run_chapter(
    chapter: str,
    profile: str = "default",
    overrides: dict[str, Any] | None = None,
    *,
    force: bool = False,
    root: Path | None = None,
) -> ChapterRun:
    """Execute one chapter under ``profile`` and write its result record.

    Raises:
        ChapterError: unknown chapter/profile/parameter (before running), or a failing cell.
    """
    root, chapter, params, digest = resolve_run(chapter, profile, overrides, root)
    notebook, record = executed_path(root, profile, chapter), record_path(root, profile, chapter)
    if not force and up_to_date(record, notebook, digest):
        failed = tuple(failed_claims(read_record(record)))
        return ChapterRun(chapter, profile, notebook, record, executed=False, failed_claims=failed)
    content = execute_to_record(
        root, chapter, profile, params, digest=digest, notebook=notebook, record=record,
        failed=root / "_build" / "failed" / profile / notebook.name, label=f"profile: {profile}",
    )
    return ChapterRun(chapter, profile, notebook, record, executed=True,
                      failed_claims=tuple(failed_claims(content)))
