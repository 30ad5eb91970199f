"""Assemble the executed chapters into a book and build it with jupyter-book 1.x.

The book's source tree is ``_build/executed/<profile>/``: the executed notebooks, copies of
``_config.yml``, ``_toc.yml``, the markdown pages and ``book/_static`` (the local MathJax and the
book's stylesheet), and a generated run report: each chapter's profile, run time, claims and
parameters, the versions, and the machine, whose matmul rate the build measures once
(:func:`measure_machine`, with :func:`ntkbook.experiments.perf.matmul_peak` in a subprocess) and
keeps in the build's record ``_build/results/<profile>/book.json``. jupyter-book renders it with
execution off, ``-W --keep-going``, after a clean build directory.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ntkbook.pipeline.glue import failed_claims, format_claim
from ntkbook.pipeline.profiles import CHAPTERS
from ntkbook.pipeline.runner import (
    ChapterError,
    executed_path,
    record_path,
    repo_root,
    run_chapter,
)
from ntkbook.store.files import atomic_write_json, atomic_write_text

MATHJAX_ENTRY = Path("book/_static/mathjax/tex-chtml.js")
REPORT_PAGE = "run_report"
BOOK_RECORD = "book.json"
MATMUL_N = 2000
# The matmul rate through the one measuring function, in a fresh process: the pipeline does not
# import the experiments (nor JAX), and float64 needs x64 switched on before anything runs.
_MACHINE_CODE = f"""
import json
import jax
jax.config.update("jax_enable_x64", True)
from ntkbook.experiments.perf import matmul_peak
rates = {{d: matmul_peak({MATMUL_N}, d) for d in ("float32", "float64")}}
print(json.dumps({{"matmul_gflops": rates, "device": str(jax.devices()[0].device_kind),
                  "backend": jax.default_backend()}}))
"""


def html_dir(root: Path, profile: str) -> Path:
    """Where the built book of ``profile`` lands: ``_build/html`` for the default profile."""
    return root / "_build" / ("html" if profile == "default" else f"html-{profile}")


def book_record_path(root: Path, profile: str) -> Path:
    """The build's record: ``_build/results/<profile>/book.json``."""
    return record_path(root, profile, "_").with_name(BOOK_RECORD)


def screenshots_dir(root: Path, profile: str) -> Path:
    """Where the browser check keeps a full-page screenshot of each page."""
    return root / "_build" / "screenshots" / profile


def _copy_sources(root: Path, src: Path) -> None:
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, src / name)
    for page in (root / "book").glob("*.md"):
        shutil.copy2(page, src / "book" / page.name)
    static = root / "book" / "_static"
    if not (root / MATHJAX_ENTRY).is_file():
        raise ChapterError(
            f"MathJax is missing ({MATHJAX_ENTRY}): run `make mathjax` "
            "(it fetches MathJax 3 from the npm registry) so that math renders offline"
        )
    shutil.rmtree(src / "book" / "_static", ignore_errors=True)
    shutil.copytree(static, src / "book" / "_static")


def _format_parameters(params: dict) -> str:
    return ", ".join(f"`{k}={json.dumps(v)}`" for k, v in params.items()) or "(none)"


def cpu_model() -> str:
    """The processor's name (``/proc/cpuinfo``), else what :mod:`platform` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def measure_machine(root: Path) -> dict:
    """The machine this build runs on: CPU model and counts, load, and the measured GFLOP/s of
    an ``n x n`` float32 and float64 matrix squared (:func:`ntkbook.experiments.perf.matmul_peak`,
    median of 5, run in a subprocess)."""
    measured = datetime.now(timezone.utc).isoformat(timespec="seconds")
    proc = subprocess.run([sys.executable, "-c", _MACHINE_CODE], cwd=root, capture_output=True,
                          text=True, timeout=900)
    if proc.returncode != 0:
        raise ChapterError(f"measuring the matmul rate failed:\n{proc.stderr[-2000:]}")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "measured": measured,
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg")
        else None,
        "matmul_n": MATMUL_N,
        **json.loads(proc.stdout.strip().splitlines()[-1]),
    }


def book_record(root: Path, profile: str, machine: dict) -> dict:
    """The build's record: the machine and each chapter's run time and claims."""
    chapters = []
    for chapter in CHAPTERS:
        rec = json.loads(record_path(root, profile, chapter).read_text())
        chapters.append({
            "chapter": chapter, "profile": rec["profile"], "started": rec["started"],
            "wall_seconds": rec["wall_seconds"], "claims": len(rec.get("claims", [])),
            "failed_claims": [c["name"] for c in failed_claims(rec)],
        })
    return {
        "profile": profile,
        "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "chapters": chapters,
        "total_wall_seconds": round(sum(c["wall_seconds"] for c in chapters), 3),
    }


def _doc(chapter: str) -> str:
    return f"{{doc}}`{chapter} <{chapter}>`"


def _when(iso: str) -> str:
    """``2026-01-02T03:04:05+00:00`` as ``2026-01-02 03:04`` (UTC)."""
    return iso[:16].replace("T", " ")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds:.0f} s ({seconds / 60:.1f} min)"


@dataclass(frozen=True)
class CellTime:
    """One code cell of an executed chapter: its 1-based ``position`` among the notebook's
    cells, the ``seconds`` it ran (papermill's timing) and a ``label`` (its first line of code,
    imports and comments skipped, at most 48 characters)."""

    position: int
    seconds: float
    label: str


def _label(source) -> str:
    text = "".join(source) if isinstance(source, list) else str(source)
    lines = [ln.strip() for ln in text.splitlines()]
    code = [ln for ln in lines if ln and not ln.startswith(("#", "import ", "from "))]
    first = (code or lines or [""])[0]
    return first if len(first) <= 48 else first[:47] + "…"


def slowest_cells(notebook: Path, count: int = 3) -> list[CellTime]:
    """The ``count`` code cells of an executed notebook that ran longest, slowest first, from
    the duration papermill writes into each cell's metadata ([] if it wrote none)."""
    cells = json.loads(notebook.read_text()).get("cells", [])
    times = [CellTime(i + 1, float(c["metadata"]["papermill"]["duration"]), _label(c["source"]))
             for i, c in enumerate(cells)
             if c.get("cell_type") == "code"
             and c.get("metadata", {}).get("papermill", {}).get("duration") is not None]
    return sorted(times, key=lambda t: -t.seconds)[:count]


def _code_span(text: str) -> str:
    """``text`` as inline code in a Markdown table cell (no backtick or pipe inside)."""
    return "`" + text.replace("`", "'").replace("|", "/") + "`"


def _time_section(root: Path, profile: str, records: list[dict]) -> list[str]:
    lines = [
        "## Where the time goes",
        "",
        "Each chapter's three slowest cells in the run that made its record (papermill's "
        "timing), with their share of the chapter's run time: the place to look before "
        "changing a parameter to make a chapter faster.",
        "",
        "| chapter | run time | slowest cells |",
        "|---|---:|---|",
    ]
    for rec in records:
        notebook = executed_path(root, profile, rec["chapter"])
        if not notebook.is_file():
            continue
        total = rec["wall_seconds"]
        cells = "; ".join(
            f"cell {c.position} {_code_span(c.label)}: {c.seconds:.0f} s "
            f"({100 * c.seconds / total:.0f} %)" for c in slowest_cells(notebook)
        ) if total > 0 else "—"
        lines.append(f"| {_doc(rec['chapter'])} | {_duration(total)} | {cells or '—'} |")
    return lines


def run_report(root: Path, profile: str, book: dict | None = None) -> str:
    """Markdown for the generated page: execution statistics (each chapter's profile, run time
    and claims), the machine and its matmul rate, parameters and versions. ``book`` is the
    build's record (:func:`book_record`); without it the page has no machine section."""
    records = [json.loads(record_path(root, profile, c).read_text()) for c in CHAPTERS]
    lines = [
        "# Run report",
        "",
        f"Every chapter of this build ran under the **{profile}** profile. Rebuild with",
        "`make book PROFILE=<profile>` or `ntkbook build --profile <profile>`.",
        "",
        "## Execution statistics",
        "",
        "| chapter | profile | run time (s) | claims | not supported | executed (UTC) |",
        "|---|---|---:|---:|---:|---|",
    ]
    for rec in records:
        failed = len(failed_claims(rec))
        lines.append(
            f"| {_doc(rec['chapter'])} | {rec['profile']} | {rec['wall_seconds']:.1f} | "
            f"{len(rec.get('claims', []))} | {failed} | {_when(rec['started'])} |"
        )
    total = sum(rec["wall_seconds"] for rec in records)
    lines += [
        "",
        f"Total chapter run time: {_duration(total)}. A chapter whose notebook, package source "
        "and parameters had not changed was not run again by this build: its time is that of "
        "the run that made its record (the *executed* column). A claim *not supported* by the "
        "run is shown on its page as a warning box with the numbers of the run.",
    ]
    failed = [(rec["chapter"], c["name"]) for rec in records for c in failed_claims(rec)]
    if failed:
        lines += ["", "Claims not supported by this build:", ""]
        lines += [f"- {_doc(chapter)}: `{name}`" for chapter, name in failed]
    lines += ["", *_time_section(root, profile, records)]
    if book is not None:
        lines += ["", *_machine_section(book["machine"])]
    lines += ["", "## Parameters", "", "| chapter | seed | parameters |", "|---|---:|---|"]
    for rec in records:
        seed = rec.get("seed")
        lines.append(f"| {_doc(rec['chapter'])} | {'—' if seed is None else seed} | "
                     f"{_format_parameters(rec['parameters'])} |")
    lines += ["", "## Versions", "", "| package | version |", "|---|---|"]
    for name, version in (records[0]["versions"] if records else {}).items():
        lines.append(f"| {name} | {version} |")
    return "\n".join(lines) + "\n"


def _machine_section(machine: dict) -> list[str]:
    rate = machine["matmul_gflops"]
    load = machine.get("load_average")
    n = machine["matmul_n"]
    rows = [
        ("processor", machine["cpu"]),
        ("logical CPUs", machine["logical_cpus"]),
        ("CPUs this build may use", machine.get("usable_cpus") or "—"),
        ("JAX device", f"{machine['device']} ({machine['backend']})"),
        ("matmul, float32", f"{rate['float32']:.1f} GFLOP/s"),
        ("matmul, float64", f"{rate['float64']:.1f} GFLOP/s"),
        ("load average (1, 5, 15 min)", ", ".join(f"{x:.2f}" for x in load) if load else "—"),
    ]
    return [
        "## The machine",
        "",
        f"Measured by this build ({_when(machine['measured'])} UTC): the rate of an {n} × {n} "
        "matrix squared, median of 5 calls after compilation "
        "(`ntkbook.experiments.perf.matmul_peak`), the practical peak the chapters' times can "
        "be read against. Chapters that were up to date ran earlier, perhaps on another machine "
        "or under another load.",
        "",
        "| | this build |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in rows],
    ]


def claims_summary(runs) -> str:
    """The failed claims of each chapter run (``ChapterRun.failed_claims``), for the log."""
    failed = [(run.chapter, entry) for run in runs for entry in run.failed_claims]
    if not failed:
        return "claims: every claim holds"
    lines = [f"claims: {len(failed)} not supported by this run:"]
    lines += [f"  {chapter}: {format_claim(entry)}" for chapter, entry in failed]
    return "\n".join(lines)


def jupyter_book_command() -> list[str]:
    """The jupyter-book 1.x executable of this Python environment."""
    exe = Path(sys.executable).with_name("jupyter-book")
    return [str(exe)] if exe.is_file() else [shutil.which("jupyter-book") or "jupyter-book"]


def build_book(
    profile: str = "default", *, force: bool = False, root: Path | None = None, log=print
) -> Path:
    """Run every chapter under ``profile`` (cached), then build the HTML book.

    Returns:
        The folder holding ``index.html``.
    """
    root = repo_root(root)
    runs = []
    for chapter in CHAPTERS:
        run = run_chapter(chapter, profile, force=force, root=root)
        runs.append(run)
        log(f"{chapter}: {'executed' if run.executed else 'up to date'} ({run.record})")
    log(claims_summary(runs))
    log("measuring the machine's matmul rate")
    book = book_record(root, profile, measure_machine(root))
    atomic_write_json(book_record_path(root, profile), book)
    src = root / "_build" / "executed" / profile
    _copy_sources(root, src)
    atomic_write_text(src / "book" / f"{REPORT_PAGE}.md", run_report(root, profile, book))
    out = root / "_build" / "jb" / profile
    shutil.rmtree(out, ignore_errors=True)  # a clean build: no stale pages or warnings hidden
    cmd = jupyter_book_command() + [
        "build", str(src), "--path-output", str(out), "--builder", "html", "-W", "--keep-going",
    ]
    log("$ " + " ".join(cmd))
    env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1")
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise ChapterError(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")
    final = html_dir(root, profile)
    staging = final.with_name(final.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.move(str(out / "_build" / "html"), staging)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)
    return final
