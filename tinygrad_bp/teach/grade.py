"""Grading a class: every submission judged against one key, and a report for the teacher.

A submission is a TOML file: a whole case file or only its ``[claims]``, with
``[names]`` when the student wrote in their own notation. Its claims are judged
against the key's network and data (whatever network the file itself states).
A file that cannot be read is reported with the reason and the run goes on.

Score = (ok + follows + `rounding_credit` x rounding) / claims: an error carried
forward is not a new mistake, so it costs nothing.
"""

from __future__ import annotations

import csv
import html
import io
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..files import FileLimitError, read_text
from .judge import STATUSES, Judge, Judgement
from .problem import CASE_LIMIT, CaseFormatError, parse_toml

__all__ = ["ClassReport", "Submission", "grade_class", "submission_files", "write_report"]

MAX_FILES = 5000
SUBMISSION_KEYS = ("claims", "names", "network", "layer", "data", "title", "input", "weights")


@dataclass
class Submission:
    path: str
    judgements: list[Judgement] = field(default_factory=list)
    error: str = ""  # why the file could not be graded

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(j.status for j in self.judgements)
        return {s: c.get(s, 0) for s in STATUSES}

    def score(self, rounding_credit: float) -> float | None:
        if self.error or not self.judgements:
            return None
        c = self.counts
        good = c["ok"] + c["follows"] + rounding_credit * c["rounding"]
        return good / len(self.judgements)

    @property
    def student(self) -> str:
        return Path(self.path).stem


@dataclass
class ClassReport:
    key: str
    submissions: list[Submission]
    rounding_credit: float
    rtol: float

    @property
    def graded(self) -> list[Submission]:
        return [s for s in self.submissions if not s.error]

    def quantity_table(self) -> list[dict]:
        """Per quantity: how many students claimed it and how many got each status."""
        rows: dict[str, Counter] = {}
        for s in self.graded:
            for j in s.judgements:
                rows.setdefault(j.key or j.name, Counter())[j.status] += 1
        table = [
            {"quantity": q, "claimed_by": sum(c.values()), **{st: c.get(st, 0) for st in STATUSES}}
            for q, c in rows.items()
        ]
        return sorted(table, key=lambda r: (-r["wrong"], -r["rounding"], r["quantity"]))

    def slip_table(self) -> list[dict]:
        """Per slip id: how many wrong claims it explains, and in how many students."""
        claims, students = Counter(), Counter()
        for s in self.graded:
            seen = set()
            for j in s.judgements:
                for slip in j.slips:
                    claims[slip] += 1
                    seen.add(slip)
            students.update(seen)
        return [
            {"slip": slip, "claims": n, "students": students[slip]}
            for slip, n in sorted(claims.items(), key=lambda kv: (-students[kv[0]], -kv[1], kv[0]))
        ]

    def student_rows(self) -> list[dict]:
        out = []
        for s in self.submissions:
            score = s.score(self.rounding_credit)
            out.append(
                {
                    "student": s.student,
                    "file": s.path,
                    "score": None if score is None else round(score, 4),
                    "claims": len(s.judgements),
                    **s.counts,
                    "error": s.error,
                }
            )
        return out

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "rtol": self.rtol,
            "rounding_credit": self.rounding_credit,
            "students": [
                {**row, "wrong_claims": [j.to_dict() for j in s.judgements if j.status != "ok"]}
                for row, s in zip(self.student_rows(), self.submissions)
            ],
            "quantities": self.quantity_table(),
            "slips": self.slip_table(),
            "malformed": [{"file": s.path, "reason": s.error} for s in self.submissions if s.error],
        }

    def summary(self) -> str:
        """The report as text for the terminal."""
        lines = [
            f"key {self.key}: {len(self.graded)} graded, "
            f"{len(self.submissions) - len(self.graded)} unreadable"
        ]
        width = max([len(s.student) for s in self.submissions] + [7])
        for row, s in zip(self.student_rows(), self.submissions):
            if s.error:
                lines.append(f"  {row['student']:<{width}}  UNREADABLE: {s.error}")
                continue
            score = "  -  " if row["score"] is None else f"{row['score']:5.0%}"
            c = s.counts
            lines.append(
                f"  {row['student']:<{width}}  {score}  "
                + "  ".join(f"{st} {c[st]}" for st in STATUSES)
            )
            for j in s.judgements:
                if j.status == "wrong":
                    slips = ", ".join(j.slips) or "no diagnosis"
                    true = "" if j.true != j.true else f" (true {j.true:.4g})"
                    lines.append(f"      {j.name} = {j.text}{true}: {slips}. {j.explanation}")
        quantities = [r for r in self.quantity_table() if r["wrong"]][:10]
        if quantities:
            lines.append(
                "most often wrong: "
                + ", ".join(f"{r['quantity']} ({r['wrong']})" for r in quantities)
            )
        slips = self.slip_table()[:10]
        if slips:
            lines.append(
                "most common slips: "
                + ", ".join(f"{r['slip']} ({r['students']} students)" for r in slips)
            )
        return "\n".join(lines)


def submission_files(folder: str | os.PathLike, key: str | None = None, limit=MAX_FILES):
    """The .toml files of `folder`, sorted, leaving out the key itself."""
    root = Path(folder)
    if not root.is_dir():
        raise FileLimitError(f"submissions {root}: not a folder; give the folder of the files")
    key_path = Path(key).resolve() if key else None
    files = []
    for entry in sorted(root.iterdir()):
        if entry.suffix.lower() != ".toml" or entry.name.startswith("."):
            continue
        if key_path is not None and entry.resolve() == key_path:
            continue
        files.append(entry)
        if len(files) > limit:
            raise FileLimitError(
                f"submissions {root}: more than {limit} .toml files; raise --max-files"
            )
    return files


def read_submission(judge: Judge, path: Path) -> Submission:
    sub = Submission(str(path))
    try:
        data = parse_toml(read_text(path, CASE_LIMIT, "submission"), str(path))
        unknown = [k for k in data if k not in SUBMISSION_KEYS]
        if unknown:
            raise CaseFormatError(f"unknown section [{unknown[0]}]; expected [claims] and [names]")
        claims, names = data.get("claims"), data.get("names", {})
        if not isinstance(claims, dict) or not claims:
            raise CaseFormatError("no [claims] section with name = number lines")
        if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
            raise CaseFormatError('[names] needs lines like w5 = "w31"')
        bad = [
            k for k, v in claims.items() if isinstance(v, bool) or not isinstance(v, (int, float))
        ]
        if bad:
            raise CaseFormatError(f"[claims] {bad[0]}: expected a number, got {claims[bad[0]]!r}")
        sub.judgements = judge.judge(claims, names)
    except (FileLimitError, CaseFormatError, ValueError) as exc:
        sub.error = " ".join(str(exc).split())[:300]
    return sub


def grade_class(
    judge: Judge,
    key: str,
    files: Iterable[Path],
    rounding_credit: float = 0.5,
    progress: Callable[[int, int], None] | None = None,
) -> ClassReport:
    files = list(files)
    subs = []
    for n, path in enumerate(files, 1):
        subs.append(read_submission(judge, path))
        if progress:
            progress(n, len(files))
    return ClassReport(key, subs, rounding_credit, judge.rtol)


# -- writing the report ------------------------------


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        for row in rows:
            # a cell starting with = + - @ is a formula to a spreadsheet: quote it as text
            w.writerow({k: _cell(v) for k, v in row.items()})
    return buf.getvalue()


def _cell(v: object) -> object:
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return "" if v is None else v


def bar_chart(title: str, bars: list[tuple[str, int]], width: int = 560) -> str:
    """A horizontal bar chart as inline SVG (labels escaped)."""
    if not bars:
        return f"<p>{html.escape(title)}: none.</p>"
    top = max(n for _, n in bars) or 1
    row, left = 22, 170
    height = row * len(bars) + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{html.escape(title)}">',
        f'<text x="0" y="14" font-size="14" font-weight="bold">{html.escape(title)}</text>',
    ]
    for k, (label, n) in enumerate(bars):
        y = 24 + k * row
        w = (width - left - 40) * n / top
        out += [
            f'<text x="{left - 6}" y="{y + 14}" font-size="12" text-anchor="end">'
            f"{html.escape(label[:28])}</text>",
            f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" fill="#c0392b"/>',
            f'<text x="{left + w + 4:.1f}" y="{y + 14}" font-size="12">{n}</text>',
        ]
    out.append("</svg>")
    return "\n".join(out)


def _table(rows: list[dict]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in r.values())
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def report_html(report: ClassReport) -> str:
    from .render import CSS

    quantities = [r for r in report.quantity_table() if r["wrong"]][:15]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"/><title>Class report</title>',
        f"<style>{CSS}</style></head><body>",
        "<h1>Class report</h1>",
        f"<p>Key: {html.escape(report.key)}. {len(report.graded)} submissions graded, "
        f"{len(report.submissions) - len(report.graded)} unreadable. Score = (ok + follows + "
        f"{report.rounding_credit:g} x rounding) / claims.</p>",
        bar_chart("Most often wrong quantities", [(r["quantity"], r["wrong"]) for r in quantities]),
        bar_chart(
            "Most common slips (students)",
            [(r["slip"], r["students"]) for r in report.slip_table()],
        ),
        "<h2>Students</h2>",
        _table([{k: v for k, v in r.items() if k != "file"} for r in report.student_rows()]),
        "<h2>Quantities</h2>",
        _table(report.quantity_table()),
        "<h2>Slips</h2>",
        _table(report.slip_table()),
        "<h2>Wrong claims</h2>",
    ]
    for s in report.submissions:
        wrong = [j for j in s.judgements if j.status in ("wrong", "rounding")]
        if wrong or s.error:
            parts.append(f"<h3>{html.escape(s.student)}</h3>")
        if s.error:
            parts.append(f'<p class="note">Unreadable: {html.escape(s.error)}</p>')
        if wrong:
            parts.append(
                _table(
                    [
                        {
                            "claim": j.name,
                            "written": j.text,
                            "true": f"{j.true:.6g}",
                            "status": j.status,
                            "slips": ", ".join(j.slips),
                            "why": j.explanation,
                        }
                        for j in wrong
                    ]
                )
            )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(report: ClassReport, folder: str | os.PathLike) -> list[Path]:
    """students.csv, quantities.csv, slips.csv, report.json and report.html in `folder`."""
    from ..files import atomic_write
    from ..formatting import dumps

    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise OSError(f"-o {root}: exists and is not a folder; give a folder name")
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "students.csv": _csv(report.student_rows()),
        "quantities.csv": _csv(report.quantity_table()),
        "slips.csv": _csv(report.slip_table()),
        "report.json": dumps(report.to_dict()) + "\n",
        "report.html": report_html(report),
    }
    return [atomic_write(root / name, text) for name, text in files.items()]
