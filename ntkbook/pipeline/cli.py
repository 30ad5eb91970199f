"""The ``ntkbook`` command.

  run CHAPTER... [--profile P]        a profile's book results (_build/results/P)
  run CHAPTER... -p NAME VALUE ...    a parameterised run in its own folder (_build/runs/CH/<hash>)
  runs [CHAPTER]                      list the parameterised runs
  compare CHAPTER [RUN...]            their glued scalar results side by side, and a CSV
  sweep CHAPTER -p NAME V1 V2 ...     the product of values, each run in its folder (cached)
  build [--profile P]                 every chapter, then the HTML book
  list                                chapters and profiles
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Sequence
from pathlib import Path

from ntkbook.pipeline.profiles import CHAPTERS, PROFILE_NAMES


def _literal(text: str):
    """A ``-p NAME VALUE`` value: a Python literal (``3``, ``1e-3``, ``[50, 100]``) or a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ntkbook", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute chapters with papermill and write result records")
    run.add_argument("chapters", nargs="+", metavar="CHAPTER", help=f"one of {', '.join(CHAPTERS)}")
    build = sub.add_parser("build", help="run every chapter, then build the HTML book")
    sweep = sub.add_parser("sweep", help="run a chapter at every combination of parameter values")
    sweep.add_argument("chapter", metavar="CHAPTER")
    for cmd in (run, build, sweep):
        cmd.add_argument("--profile", default="default", choices=PROFILE_NAMES)
        cmd.add_argument("--force", action="store_true", help="run even if inputs are unchanged")
    run.add_argument(
        "-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
        help="override a chapter parameter (repeatable); the run goes to _build/runs/CH/<hash>",
    )
    sweep.add_argument(
        "-p", "--parameter", nargs="+", action="append", required=True,
        metavar="NAME VALUE", help="a parameter and its values (repeatable: the product is run)",
    )
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="a Dask scheduler (tcp://host:8786): run there instead of in process")
    runs = sub.add_parser("runs", help="list parameterised runs")
    runs.add_argument("chapter", nargs="?", metavar="CHAPTER")
    compare = sub.add_parser("compare", help="glued scalar results of runs side by side")
    compare.add_argument("chapter", metavar="CHAPTER")
    compare.add_argument("runs", nargs="*", metavar="RUN",
                         help="hash prefix or profile:NAME (default: every run of CHAPTER)")
    compare.add_argument("--csv", type=Path, metavar="PATH",
                         help="where to write the CSV (default _build/runs/CHAPTER/compare.csv)")
    sub.add_parser("list", help="list chapters and profiles")
    return parser


def _print_failed(chapter: str, failed) -> None:
    from ntkbook.pipeline.glue import format_claim

    if failed:
        print(f"  {len(failed)} claim(s) not supported by this run:")
        for entry in failed:
            print(f"    - {format_claim(entry)}")


def _run(args) -> int:
    from ntkbook.pipeline.runner import chapter_name, repo_root, resolve_parameters, run_chapter
    from ntkbook.pipeline.runs import run_parameterised

    root = repo_root()
    overrides = {name: _literal(value) for name, value in args.parameter}
    chapters = [chapter_name(c) for c in args.chapters]
    for chapter in chapters:  # every check before anything runs
        resolve_parameters(root, chapter, args.profile, overrides)
    for chapter in chapters:
        if overrides:
            result = run_parameterised(chapter, args.profile, overrides, force=args.force,
                                       root=root)
        else:
            result = run_chapter(chapter, args.profile, force=args.force, root=root)
        state = "executed" if result.executed else "up to date (use --force to re-run)"
        where = f"run {result.record.parent.name}" if overrides else args.profile
        print(f"{chapter} [{where}]: {state}\n  notebook: {result.notebook}\n"
              f"  record:   {result.record}" + (f"\n  page:     {result.page}"
                                               if result.page else ""))
        _print_failed(chapter, result.failed_claims)
    return 0


def _sweep(args) -> int:
    from ntkbook.pipeline.runner import ChapterError
    from ntkbook.pipeline.runs import sweep

    grid = {}
    for name, *values in args.parameter:
        if not values:
            raise ChapterError(f"-p {name}: give at least one value")
        grid[name] = [_literal(v) for v in values]
    client = None
    if args.scheduler:
        from distributed import Client

        client = Client(args.scheduler)
        executor = client.get_executor()
    else:
        executor = None
    try:
        done, errors = sweep(args.chapter, grid, args.profile, executor=executor,
                             force=args.force)
    finally:
        if client is not None:
            client.close()
    for run in done:
        state = "executed" if run.executed else "cached"
        print(f"{run.record.parent.name}  {state:8s}  {len(run.failed_claims)} failed claim(s)"
              f"  {run.page}")
    for point, exc in errors:
        print(f"failed {point}: {exc}", file=sys.stderr)
    return 1 if errors else 0


def _runs(args) -> int:
    from ntkbook.pipeline.runner import repo_root
    from ntkbook.pipeline.runs import list_runs, runs_table

    records = list_runs(repo_root(), args.chapter)
    print(runs_table(records) if records else "no runs yet: `ntkbook run CH -p NAME VALUE`")
    return 0


def _compare(args) -> int:
    from ntkbook.pipeline.runner import chapter_name, repo_root
    from ntkbook.pipeline.runs import compare, format_table, runs_dir, write_csv

    root = repo_root()
    table = compare(root, args.chapter, args.runs)
    print(format_table(table))
    path = write_csv(table, args.csv or runs_dir(root, chapter_name(args.chapter)) / "compare.csv")
    print(f"\nCSV: {path}")
    return 0


def _build(args) -> int:
    from ntkbook.pipeline.build import build_book

    html = build_book(args.profile, force=args.force)
    print(f"\nThe book is at {html / 'index.html'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from ntkbook.pipeline.runner import ChapterError

    args = _parser().parse_args(argv)
    commands = {"run": _run, "build": _build, "sweep": _sweep, "runs": _runs,
                "compare": _compare}
    try:
        if args.command == "list":
            print("chapters:", " ".join(CHAPTERS))
            print("profiles:", " ".join(PROFILE_NAMES))
            return 0
        return commands[args.command](args)
    except ChapterError as exc:
        print(f"ntkbook: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ntkbook: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
