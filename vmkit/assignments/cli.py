"""``vmkit assignments release | autograde | export``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_COURSE = "vmkit-course"


def cmd_release(args: argparse.Namespace) -> int:
    from .grader import GradingError, release

    try:
        out = release(Path(args.course), args.assignment or None)
    except GradingError as exc:
        print(f"vmkit assignments release: {exc}", file=sys.stderr)
        return 1
    for p in out:
        print(p)
    print(f"{len(out)} student notebooks in {Path(args.course).resolve() / 'release'} "
          "(solutions and hidden tests removed)")
    return 0


def cmd_autograde(args: argparse.Namespace) -> int:
    from .grader import GradingError, autograde

    if not 1 <= args.timeout <= 3600:
        raise ValueError(f"--timeout must be between 1 and 3600 seconds, got {args.timeout:g}")
    try:
        grades = autograde(Path(args.submissions), Path(args.course), timeout=args.timeout,
                           progress=lambda s: print(f"grading {s} ...", file=sys.stderr, flush=True))
    except GradingError as exc:
        print(f"vmkit assignments autograde: {exc}", file=sys.stderr)
        return 1
    width = max([len(g.student) for g in grades] + [7])
    print(f"{'student':<{width}}  {'assignment':<14} {'score':>6} {'max':>5}")
    for g in grades:
        print(f"{g.student:<{width}}  {g.assignment:<14} {g.score:>6g} {g.max_score:>5g}")
    course = Path(args.course).resolve()
    print(f"grades: {course / 'grades.csv'}; feedback: {course / 'feedback'}/STUDENT/ASSIGNMENT/feedback.html")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .grader import GradingError, export

    try:
        print(export(Path(args.course)))
    except GradingError as exc:
        print(f"vmkit assignments export: {exc}", file=sys.stderr)
        return 1
    return 0


def add_assignment_commands(sub) -> None:
    sp = sub.add_parser("assignments", help="release and autograde the nbgrader assignments",
                        description="Release the student versions of the assignments and grade submissions with "
                                    "nbgrader, student code sandboxed (see notebooks/assignments/README.md).")
    asub = sp.add_subparsers(dest="assignments_command", metavar="SUBCOMMAND", parser_class=type(sp))
    rp = asub.add_parser("release", help="make the student versions (solutions and hidden tests stripped)")
    rp.add_argument("--course", default=DEFAULT_COURSE, help=f"course directory (default ./{DEFAULT_COURSE})")
    rp.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    rp.set_defaults(func=cmd_release)
    ap = asub.add_parser("autograde", help="grade every submission in SUBMISSIONS_DIR/STUDENT/ASSIGNMENT/")
    ap.add_argument("submissions", metavar="SUBMISSIONS_DIR")
    ap.add_argument("--course", default=DEFAULT_COURSE, help=f"course directory (default ./{DEFAULT_COURSE})")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per cell, 1-3600 (default 60)")
    ap.set_defaults(func=cmd_autograde)
    ep = asub.add_parser("export", help="the gradebook as nbgrader's CSV")
    ep.add_argument("--course", default=DEFAULT_COURSE, help=f"course directory (default ./{DEFAULT_COURSE})")
    ep.set_defaults(func=cmd_export)

    def _usage(args: argparse.Namespace) -> int:
        sp.print_help()
        return 0

    sp.set_defaults(func=_usage)
