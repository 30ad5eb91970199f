"""The ``ntkbook`` command: ``ntkbook run CHAPTER...`` and ``ntkbook build``."""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Sequence

from ntkbook.pipeline.profiles import CHAPTERS, PROFILE_NAMES


def _literal(text: str):
    """A ``-p NAME VALUE`` value: a Python literal (``3``, ``1e-3``, ``[50, 100]``) or a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ntkbook", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute chapters with papermill and write result records")
    run.add_argument("chapters", nargs="+", metavar="CHAPTER", help=f"one of {', '.join(CHAPTERS)}")
    build = sub.add_parser("build", help="run every chapter, then build the HTML book")
    for cmd in (run, build):
        cmd.add_argument("--profile", default="default", choices=PROFILE_NAMES)
        cmd.add_argument("--force", action="store_true", help="run even if inputs are unchanged")
    run.add_argument(
        "-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
        help="override a chapter parameter (repeatable)",
    )
    sub.add_parser("list", help="list chapters and profiles")
    return parser


def _run(args) -> int:
    from ntkbook.pipeline.runner import chapter_name, repo_root, resolve_parameters, run_chapter

    root = repo_root()
    overrides = {name: _literal(value) for name, value in args.parameter}
    chapters = [chapter_name(c) for c in args.chapters]
    for chapter in chapters:  # every check before anything runs
        resolve_parameters(root, chapter, args.profile, overrides)
    for chapter in chapters:
        result = run_chapter(chapter, args.profile, overrides, force=args.force, root=root)
        state = "executed" if result.executed else "up to date (use --force to re-run)"
        print(f"{chapter} [{args.profile}]: {state}\n  notebook: {result.notebook}\n"
              f"  record:   {result.record}")
    return 0


def _build(args) -> int:
    from ntkbook.pipeline.build import build_book

    html = build_book(args.profile, force=args.force)
    print(f"\nThe book is at {html / 'index.html'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from ntkbook.pipeline.runner import ChapterError

    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            print("chapters:", " ".join(CHAPTERS))
            print("profiles:", " ".join(PROFILE_NAMES))
            return 0
        return _run(args) if args.command == "run" else _build(args)
    except ChapterError as exc:
        print(f"ntkbook: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ntkbook: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
