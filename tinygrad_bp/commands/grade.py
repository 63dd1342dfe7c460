"""`tinygrad-bp grade SUBMISSIONS --key KEY`: judge a class's numbers, write a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..formatting import dumps
from .args import bounded, positive


def add_parser(sub) -> None:
    p = sub.add_parser(
        "grade",
        help="grade a folder of students' claims against an answer key",
        description="Judge every .toml file of SUBMISSIONS (a whole case file, or only its "
        "[claims], with [names] for the student's own notation) against the network and data "
        "of the key: each claim ok, follows (error carried forward), rounding or wrong with "
        "its slip. Prints a score per student and the class's most common mistakes; with -o "
        "writes students.csv, quantities.csv, slips.csv, report.json and report.html (with a "
        "bar chart). Unreadable files are reported with the reason and skipped. Exit status "
        "0 when the report is made, 2 when the key or the folder is unusable.",
    )
    p.add_argument("submissions", help="folder of the students' .toml files")
    p.add_argument(
        "--key",
        required=True,
        help="the answer key: a case file of the problem; or a folder of keys, one per "
        "student (as `exercise --students` writes them): NAME.toml is judged against "
        "key-NAME.toml",
    )
    p.add_argument("-o", "--output", metavar="DIR", help="write the report files to DIR")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.add_argument(
        "--rtol",
        type=positive(float),
        default=0.02,
        help="relative tolerance of 'rounding' (default 0.02 = 2%%)",
    )
    p.add_argument(
        "--rounding-credit",
        type=bounded(float, 0, 1),
        default=0.5,
        help="credit for a claim judged 'rounding', from 0 to 1 (default 0.5)",
    )
    p.add_argument(
        "--max-files",
        type=bounded(int, 1, 1_000_000),
        default=5000,
        help="most files read (default 5000)",
    )
    p.add_argument(
        "--progress", action="store_true", help="show progress on stderr (default: on a terminal)"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..teach.grade import Key, KeyFolder, grade_class, submission_files, write_report

    key = KeyFolder(args.key) if Path(args.key).is_dir() else Key(args.key)
    files = submission_files(args.submissions, args.key, args.max_files)
    show = args.progress or sys.stderr.isatty()

    def progress(n: int, total: int) -> None:
        if n == total or n % 25 == 0:
            end = "\n" if n == total else ""
            print(f"\rgraded {n}/{total}", end=end, file=sys.stderr, flush=True)

    report = grade_class(key, files, args.rtol, args.rounding_credit, progress if show else None)
    if args.output:
        written = write_report(report, args.output)
        print(f"wrote {', '.join(str(p) for p in written)}", file=sys.stderr)
    print(dumps(report.to_dict()) if args.json else report.summary())
    return 0
