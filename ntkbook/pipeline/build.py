"""Assemble the executed chapters into a book and build it with jupyter-book 1.x.

The book's source tree is ``_build/executed/<profile>/``: the executed notebooks, copies of
``_config.yml``, ``_toc.yml``, the markdown pages and ``book/_static`` (the local MathJax), and a
generated page listing each chapter's profile, parameters, run time and versions. jupyter-book
renders it with execution off, ``-W --keep-going``, after a clean build directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ntkbook.pipeline.glue import format_claim
from ntkbook.pipeline.profiles import CHAPTERS
from ntkbook.pipeline.runner import ChapterError, record_path, repo_root, run_chapter
from ntkbook.store.files import atomic_write_text

MATHJAX_ENTRY = Path("book/_static/mathjax/tex-chtml.js")
REPORT_PAGE = "run_report"


def html_dir(root: Path, profile: str) -> Path:
    """Where the built book of ``profile`` lands: ``_build/html`` for the default profile."""
    return root / "_build" / ("html" if profile == "default" else f"html-{profile}")


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


def run_report(root: Path, profile: str) -> str:
    """Markdown for the generated page: each chapter's parameters, run time and versions."""
    records = [json.loads(record_path(root, profile, c).read_text()) for c in CHAPTERS]
    lines = [
        "# Run report",
        "",
        f"Every chapter of this build ran under the **{profile}** profile. Rebuild with",
        "`make book PROFILE=<profile>` or `ntkbook build --profile <profile>`.",
        "",
        "| chapter | profile | run time (s) | seed | parameters | executed (UTC) |",
        "|---|---|---:|---:|---|---|",
    ]
    for rec in records:
        lines.append(
            f"| {rec['chapter']} | {rec['profile']} | {rec['wall_seconds']:.1f} | "
            f"{rec.get('seed')} | {_format_parameters(rec['parameters'])} | {rec['started']} |"
        )
    total = sum(rec["wall_seconds"] for rec in records)
    lines += ["", f"Total chapter run time: {total:.1f} s.", "", "## Versions", ""]
    lines += ["| package | version |", "|---|---|"]
    for name, version in (records[0]["versions"] if records else {}).items():
        lines.append(f"| {name} | {version} |")
    return "\n".join(lines) + "\n"


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
    src = root / "_build" / "executed" / profile
    _copy_sources(root, src)
    atomic_write_text(src / "book" / f"{REPORT_PAGE}.md", run_report(root, profile))
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
