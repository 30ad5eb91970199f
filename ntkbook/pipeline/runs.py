"""Parameterised runs, kept side by side: run folders, their list, comparison and sweeps.

``ntkbook run CH -p NAME VALUE`` executes a chapter into its own folder
``_build/runs/<chapter>/<hash>/`` (``hash``: the first 16 hex digits of
:func:`~ntkbook.pipeline.runner.inputs_hash`, over the notebook, profile, parameters and
package source): the executed notebook ``<chapter>.ipynb``, the record ``record.json``
(parameters, seed, versions, timings, glued results, claims) and the page ``<chapter>.html``
(rendered offline by myst-nb's docutils writer, glue and claims resolved, figures embedded).
It never touches a profile's book results (``_build/executed/<profile>``,
``_build/results/<profile>``). A folder whose record is up to date is not run again.

:func:`list_runs` lists the runs, :func:`compare` puts their glued scalar results side by side,
:func:`sweep` runs a product of parameter values on a :class:`concurrent.futures.Executor` (in
process by default, or a Dask cluster's executor).
"""

from __future__ import annotations

import csv
import io
import itertools
import tempfile
from collections.abc import Sequence
from concurrent.futures import Executor, as_completed
from pathlib import Path
from typing import Any

from ntkbook.pipeline.glue import failed_claims
from ntkbook.pipeline.profiles import chapter_parameters
from ntkbook.pipeline.runner import (
    ChapterError,
    ChapterRun,
    chapter_name,
    execute_to_record,
    read_record,
    record_path,
    repo_root,
    resolve_parameters,
    resolve_run,
    up_to_date,
)
from ntkbook.store.executor import InProcessExecutor

RUN_ID_LENGTH = 16
RECORD = "record.json"
MYST_EXTENSIONS = ["amsmath", "dollarmath", "colon_fence", "deflist", "substitution"]
MATHJAX = Path("book/_static/mathjax/tex-chtml.js")


def runs_dir(root: Path, chapter: str | None = None) -> Path:
    """``_build/runs`` (or ``_build/runs/<chapter>``)."""
    base = root / "_build" / "runs"
    return base / chapter if chapter else base


def render_page(root: Path, notebook: Path, page: Path) -> Path:
    """Render an executed notebook to one self-contained HTML page, offline: myst-nb's docutils
    writer resolves ``{glue}`` references and claims, embeds the figures, and the math uses the
    checkout's local MathJax (``book/_static/mathjax``) when it is there."""
    from docutils.core import publish_file
    from myst_nb.docutils_ import Parser

    mathjax = root / MATHJAX
    math = "MathML"
    if mathjax.is_file():
        rel = Path(*[".."] * len(page.parent.relative_to(root).parts)) / MATHJAX
        math = f"MathJax {rel.as_posix()}"
    warnings = io.StringIO()
    with tempfile.TemporaryDirectory(prefix=".page-", dir=page.parent) as outputs:
        partial = page.with_name(f".{page.name}.partial")
        publish_file(
            source_path=str(notebook), destination_path=str(partial), parser=Parser(),
            writer_name="html5",
            settings_overrides={
                "nb_builder_name": "html", "nb_execution_mode": "off",
                "myst_enable_extensions": MYST_EXTENSIONS, "math_output": math,
                "nb_output_folder": outputs, "image_loading": "embed",
                "warning_stream": warnings, "report_level": 3, "halt_level": 5,
            },
        )
        partial.replace(page)
    return page


def run_parameterised(
    chapter: str,
    profile: str = "default",
    overrides: dict[str, Any] | None = None,
    *,
    force: bool = False,
    root: Path | None = None,
) -> ChapterRun:
    """Execute ``chapter`` with ``profile``'s parameters and ``overrides`` into its run folder.

    Raises:
        ChapterError: unknown chapter/profile/parameter (before running), or a failing cell.
    """
    root, chapter, params, digest = resolve_run(chapter, profile, overrides, root)
    run_id = digest[:RUN_ID_LENGTH]
    folder = runs_dir(root, chapter) / run_id
    notebook, record = folder / f"{chapter}.ipynb", folder / RECORD
    page = folder / f"{chapter}.html"
    executed = force or not up_to_date(record, notebook, digest)
    if executed:
        execute_to_record(
            root, chapter, profile, params, digest=digest, notebook=notebook, record=record,
            failed=root / "_build" / "failed" / "runs" / f"{chapter}-{run_id}.ipynb",
            label=f"profile: {profile}, run {run_id}",
            extra={"run": run_id, "overrides": dict(overrides or {})},
        )
    if executed or not page.is_file():
        render_page(root, notebook, page)
    failed = tuple(failed_claims(read_record(record)))
    return ChapterRun(chapter, profile, notebook, record, executed, failed, page)


def changed_parameters(record: dict[str, Any]) -> dict[str, Any]:
    """The parameters of a record that differ from the chapter's ``default`` profile."""
    try:
        default = chapter_parameters(record["chapter"], "default")
    except ValueError:
        default = {}
    return {k: v for k, v in record.get("parameters", {}).items() if default.get(k) != v}


def list_runs(root: Path, chapter: str | None = None) -> list[dict[str, Any]]:
    """Every run's record (with its ``folder``), of one chapter or all, oldest first."""
    base = runs_dir(root, chapter_name(chapter) if chapter else None)
    pattern = f"*/{RECORD}" if chapter else f"*/*/{RECORD}"
    records = []
    for path in base.glob(pattern):
        try:
            rec = read_record(path)
        except ValueError:
            continue
        rec["folder"] = path.parent
        records.append(rec)
    return sorted(records, key=lambda r: (r.get("started", ""), r.get("run", "")))


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def runs_table(records: Sequence[dict[str, Any]]) -> str:
    """The lines ``ntkbook runs`` prints."""
    rows = [("chapter", "run", "profile", "started (UTC)", "wall (s)", "failed claims",
             "parameters (vs default profile)")]
    for rec in records:
        changed = ", ".join(f"{k}={_short(v)}" for k, v in changed_parameters(rec).items())
        rows.append((rec["chapter"], rec.get("run", "?"), rec["profile"], rec["started"],
                     f"{rec['wall_seconds']:.1f}", str(len(failed_claims(rec))), changed or "—"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1]
             for r in rows]
    return "\n".join(lines)


def find_run(root: Path, chapter: str, ref: str) -> dict[str, Any]:
    """A run of ``chapter`` by hash prefix, or ``profile:NAME`` for a profile's book record."""
    if ref.startswith("profile:"):
        path = record_path(root, ref.split(":", 1)[1], chapter)
        if not path.is_file():
            raise ChapterError(f"no record of {chapter} for {ref} ({path}); run "
                               f"`ntkbook run {chapter} --profile {ref.split(':', 1)[1]}` first")
        rec = read_record(path)
        rec["run"] = ref
        return rec
    matches = [r for r in list_runs(root, chapter) if r.get("run", "").startswith(ref)]
    if len(matches) != 1:
        what = "no run" if not matches else f"{len(matches)} runs"
        raise ChapterError(f"{what} of {chapter} match {ref!r}; see `ntkbook runs {chapter}`")
    return matches[0]


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def compare(root: Path, chapter: str, refs: Sequence[str] = ()) -> list[list[str]]:
    """A table (first row: header) of several runs side by side: the parameters that differ
    between them, then every glued scalar result, then every claim (holds / FAILS).

    Args:
        refs: run hash prefixes or ``profile:NAME``; default: every run of ``chapter``.
    """
    root = repo_root(root)
    chapter = chapter_name(chapter)
    records = [find_run(root, chapter, r) for r in refs] if refs else list_runs(root, chapter)
    if not records:
        raise ChapterError(f"no runs of {chapter}: `ntkbook run {chapter} -p NAME VALUE` first")
    table = [["", *[r["run"] for r in records]]]
    params = sorted({k for r in records for k in r.get("parameters", {})})
    for name in params:
        values = [r.get("parameters", {}).get(name) for r in records]
        if any(v != values[0] for v in values):
            table.append([f"parameter {name}", *map(_short, values)])
    names = list(dict.fromkeys(k for r in records for k, v in r.get("results", {}).items()
                               if _scalar(v)))
    for name in names:
        values = [r.get("results", {}).get(name) for r in records]
        table.append([name, *(_short(v) if _scalar(v) else "" for v in values)])
    claims = list(dict.fromkeys(c["name"] for r in records for c in r.get("claims", [])))
    for name in claims:
        cells = []
        for rec in records:
            holds = {c["name"]: c["holds"] for c in rec.get("claims", [])}.get(name)
            cells.append("" if holds is None else ("holds" if holds else "FAILS"))
        table.append([f"claim {name}", *cells])
    return table


def format_table(table: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w)
                       for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
             for row in table]
    return "\n".join(lines)


def write_csv(table: list[list[str]], path: Path) -> Path:
    """``table`` as CSV at ``path`` (written through a temporary file)."""
    from ntkbook.store.files import atomic_write_text

    buffer = io.StringIO()
    csv.writer(buffer).writerows(table)
    return atomic_write_text(path, buffer.getvalue())


def sweep_points(grid: dict[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The product of the values of each parameter, as override dicts (first name slowest)."""
    names = list(grid)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())]


def sweep(
    chapter: str,
    grid: dict[str, Sequence[Any]],
    profile: str = "default",
    *,
    executor: Executor | None = None,
    force: bool = False,
    root: Path | None = None,
    progress: bool = True,
) -> tuple[list[ChapterRun], list[tuple[dict[str, Any], BaseException]]]:
    """Run ``chapter`` at every point of ``grid`` on ``executor`` (default: in this process),
    each into its run folder (cached). Every parameter name is checked before anything runs.

    Returns:
        The runs, in grid order, and the points that failed with their errors.
    """
    from tqdm.auto import tqdm

    root = repo_root(root)
    chapter = chapter_name(chapter)
    points = sweep_points(grid)
    for point in points:
        resolve_parameters(root, chapter, profile, point)
    executor = executor or InProcessExecutor()
    futures = {}
    with tqdm(total=len(points), desc=f"sweep {chapter}", unit="run",
              disable=not progress) as bar:
        for index, point in enumerate(points):
            future = executor.submit(run_parameterised, chapter, profile, point, force=force,
                                     root=root)
            future.add_done_callback(lambda _: bar.update())  # in process: at once
            futures[future] = index
        done: dict[int, ChapterRun] = {}
        errors = []
        for future in as_completed(futures):
            index = futures[future]
            try:
                done[index] = future.result()
            except Exception as exc:  # noqa: BLE001 - reported with its point; the others go on
                errors.append((points[index], exc))
    return [done[i] for i in sorted(done)], errors

