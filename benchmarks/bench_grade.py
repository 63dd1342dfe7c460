"""Grading a class of 500 submissions: how long `tinygrad-bp grade` takes.

Writes 500 submissions (copies of the ten example files of examples/class/,
each with its numbers nudged so no two are alike) to a temporary folder, then
times the whole grading (reading, judging, the report tables) and the writing of
the report files, the median of a few runs. The goal: under 30 s.

    python benchmarks/bench_grade.py [--students 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

from tinygrad_bp.teach.grade import Key, grade_class, submission_files, write_report

ROOT = Path(__file__).resolve().parent.parent
CLASS = ROOT / "examples" / "class"
NUMBER = re.compile(r"^(\S+ = )(-?\d+\.\d+)$", re.M)


def make_class(folder: Path, students: int, seed: int = 0) -> None:
    """`students` files: the example submissions, one claim in three nudged in its last digit."""
    rng = random.Random(seed)
    sources = [p for p in sorted(CLASS.glob("*.toml")) if p.name != "key.toml"]
    for k in range(students):
        text = sources[k % len(sources)].read_text()

        def nudge(m: re.Match) -> str:
            if rng.random() < 1 / 3:
                return m.group(0)
            digits = m.group(2)
            last = (int(digits[-1]) + rng.choice((1, 9))) % 10
            return m.group(1) + digits[:-1] + str(last)

        (folder / f"student{k:04d}.toml").write_text(NUMBER.sub(nudge, text))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        make_class(folder, args.students)
        key = Key(CLASS / "key.toml")
        grading, writing = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            report = grade_class(key, submission_files(folder))
            t1 = time.perf_counter()
            write_report(report, Path(tmp) / "report")
            t2 = time.perf_counter()
            grading.append(t1 - t0)
            writing.append(t2 - t1)
        claims = sum(len(s.judgements) for s in report.submissions)
        unreadable = sum(bool(s.error) for s in report.submissions)
        g, w = statistics.median(grading), statistics.median(writing)
        print(
            f"{args.students} submissions ({claims} claims, {unreadable} unreadable): "
            f"graded in {g:.2f} s ({1000 * g / args.students:.1f} ms each), "
            f"report written in {w:.2f} s; median of {args.repeat}; goal < 30 s: "
            + ("met" if g + w < 30 else "NOT met")
        )


if __name__ == "__main__":
    main()
