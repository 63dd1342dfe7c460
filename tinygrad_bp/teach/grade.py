"""Grading a class: every submission judged against one key, and a report for the teacher.

A submission is a TOML file: a whole case file or only its ``[claims]``, with
``[names]`` when the student wrote in their own notation. Its claims are judged
by the check command's judge (`tinygrad_bp.slides.case.judge`) against the
key's network and data, whatever network the file itself states. A file that
cannot be read (or names a quantity the network does not have) is reported with
the reason and the run goes on.

Score = (ok + follows + `rounding_credit` x rounding) / claims: an error carried
forward is not a new mistake, so it costs nothing. A quantity claimed more than
once (under several names) counts once, with its worst verdict: writing the same
number again, or a second guess, earns nothing.
"""

from __future__ import annotations

import csv
import html
import io
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..files import FileLimitError, read_text
from ..slides.case import DEFAULT_MAX_BYTES, STATUSES, Case, CaseError, Verdict, judge

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "ClassReport",
    "Key",
    "KeyFolder",
    "Submission",
    "grade_class",
    "submission_files",
    "write_report",
]

MAX_FILES = 5000


class Key:
    """The answer key: its case file's tables without claims, to which each student's are added."""

    def __init__(self, path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = str(path)
        data = tomllib.loads(read_text(path, max_bytes, "key"))
        self.tables = {k: v for k, v in data.items() if k not in ("claims", "names")}
        # the key must be a usable case; its [names] are the teacher's notation for the report
        case = Case.from_dict({**self.tables, "names": data.get("names", {})}, self.path)
        self.params = set(case.network.parameter_names)
        self.ours_to_theirs = {ours: theirs for theirs, ours in case.names.items()}

    def written(self, key: str) -> str:
        """A quantity as the key's author writes it: ``w12@1`` -> ``w2_new`` with w2 = "w12"."""
        base, _, n = key.partition("@")
        mine = self.ours_to_theirs
        if n == "1" and base in self.params:
            theirs = f"{mine.get(base, base)}_new"
        else:
            for head, tail in (("dE/d", ""), ("Delta_", ""), ("f'(", ")"), ("", "")):
                inner = base[len(head) : len(base) - len(tail)]
                if base.startswith(head) and base.endswith(tail) and inner in mine:
                    base = head + mine[inner] + tail
                    break
            theirs = base + (f"@{n}" if n else "")
        return theirs if theirs == key else f"{theirs} ({key})"

    def case(self, claims: dict, names: dict, path: str, raw: str) -> Case:
        return Case.from_dict({**self.tables, "names": names, "claims": claims}, path, raw)

    def for_submission(self, path: Path) -> Key:
        return self


class KeyFolder:
    """One key per student, as `exercise --students` writes them: the submission NAME.toml
    is judged against ``key-NAME.toml`` of the folder (``student001-problem01.toml`` against
    ``key-student001-problem01.toml``)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.path = str(folder)
        self.folder = Path(folder)

    def for_submission(self, path: Path) -> Key:
        key = self.folder / f"key-{path.stem}.toml"
        if not key.is_file():
            raise CaseError(
                f"no key {key.name} in {self.path} for this submission; add that file "
                "or give one key for all with --key FILE"
            )
        return Key(key)

    def written(self, key: str) -> str:
        return key


@dataclass
class Submission:
    path: str
    judgements: list[Verdict] = field(default_factory=list)
    error: str = ""  # why the file could not be graded

    @property
    def graded(self) -> list[Verdict]:
        """One judgement per quantity: of a quantity claimed more than once, the worst."""
        worst: dict[str, Verdict] = {}
        for j in self.judgements:
            seen = worst.get(j.claim.key)
            if seen is None or STATUSES.index(j.status) > STATUSES.index(seen.status):
                worst[j.claim.key] = j
        return list(worst.values())

    @property
    def repeated(self) -> dict[str, int]:
        """Quantities claimed more than once, and how many times."""
        c = Counter(j.claim.key for j in self.judgements)
        return {k: n for k, n in c.items() if n > 1}

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(j.status for j in self.graded)
        return {s: c.get(s, 0) for s in STATUSES}

    def score(self, rounding_credit: float) -> float | None:
        if self.error or not self.judgements:
            return None
        c = self.counts
        good = c["ok"] + c["follows"] + rounding_credit * c["rounding"]
        return good / len(self.graded)

    @property
    def student(self) -> str:
        return Path(self.path).stem


@dataclass
class ClassReport:
    key: Key | KeyFolder
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
            for j in s.graded:
                rows.setdefault(self.key.written(j.claim.key), Counter())[j.status] += 1
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
            for j in s.graded:
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
                    "score": None if score is None else _rounded(score, 4),
                    "claims": len(s.graded),
                    **s.counts,
                    "error": s.error,
                }
            )
        return out

    def to_dict(self) -> dict:
        return {
            "key": self.key.path,
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
            f"key {self.key.path}: {len(self.graded)} graded, "
            f"{len(self.submissions) - len(self.graded)} unreadable"
        ]
        width = max([len(s.student) for s in self.submissions] + [7])
        for row, s in zip(self.student_rows(), self.submissions):
            if s.error:
                lines.append(f"  {row['student']:<{width}}  UNREADABLE: {s.error}")
                continue
            score = "  -  " if row["score"] is None else f"{_rounded(row['score'], 2):5.0%}"
            c = s.counts
            lines.append(
                f"  {row['student']:<{width}}  {score}  "
                + "  ".join(f"{st} {c[st]}" for st in STATUSES)
            )
            if s.repeated:
                lines.append(
                    "      claimed more than once, counted once by the worst verdict: "
                    + ", ".join(f"{self.key.written(k)} ({n} times)" for k, n in s.repeated.items())
                )
            for j in s.judgements:
                if j.status == "wrong":
                    slips = ", ".join(j.slips) or "no diagnosis"
                    c = j.claim
                    lines.append(
                        f"      {c.name} = {c.text} (true {j.true:.4g}): {slips}. {j.explanation}"
                    )
        quantities = [r for r in self.quantity_table() if r["wrong"]][:10]
        if quantities:
            lines.append(
                "most often wrong: "
                + ", ".join(f"{r['quantity']}: {r['wrong']}" for r in quantities)
            )
        slips = self.slip_table()[:10]
        if slips:
            lines.append(
                "most common slips: "
                + ", ".join(f"{r['slip']}: {_count(r['students'], 'student')}" for r in slips)
            )
        return "\n".join(lines)


def _rounded(score: float, digits: int) -> float:
    """`score` rounded to `digits` decimals, but never to 1 (or 0) unless it is exactly that:
    one wrong claim in 400 is 99.75%, shown 99%, not 100%."""
    r = round(score, digits)
    if r == 1 and score < 1:
        return 1 - 10.0**-digits
    if r == 0 and score > 0:
        return 10.0**-digits
    return r


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def submission_files(folder: str | os.PathLike, key: str | None = None, limit=MAX_FILES):
    """The .toml files of `folder`, sorted, leaving out the key itself (or the key-*.toml
    files when `key` is a folder of keys)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileLimitError(f"submissions {root}: not a folder; give the folder of the files")
    key_path = Path(key).resolve() if key else None
    keys_here = key_path is not None and key_path == root.resolve()
    files = []
    for entry in sorted(root.iterdir()):
        if entry.suffix.lower() != ".toml" or entry.name.startswith("."):
            continue
        if entry.resolve() == key_path or (keys_here and entry.name.startswith("key-")):
            continue
        files.append(entry)
        if len(files) > limit:
            raise FileLimitError(
                f"submissions {root}: more than {limit} .toml files; raise --max-files "
                "(limit= from Python)"
            )
    return files


SECTIONS = ("claims", "names", "network", "layer", "data", "input", "weights")


def read_submission(keys: Key | KeyFolder, path: Path, rtol: float) -> Submission:
    """One student's file judged against the key; any problem becomes `Submission.error`."""
    sub = Submission(str(path))
    try:
        key = keys.for_submission(path)
        raw = read_text(path, DEFAULT_MAX_BYTES, "submission")
        data = tomllib.loads(raw)
        unknown = [k for k in data if k not in SECTIONS]
        if unknown:
            raise CaseError(
                f"unknown section [{unknown[0]}]; expected [claims] and [names]: remove it"
            )
        claims, names = data.get("claims"), data.get("names", {})
        if not isinstance(claims, dict) or not claims:
            raise CaseError(
                f"no [claims] section with name = number lines (got {claims!r:.40}); "
                'add one, e.g. [claims] then "dE/dw11" = 0.1'
            )
        sub.judgements = judge(key.case(claims, names, str(path), raw), rtol).verdicts
    except (FileLimitError, CaseError, tomllib.TOMLDecodeError, RecursionError) as exc:
        sub.error = " ".join(str(exc).split())[:300] or type(exc).__name__
    return sub


def grade_class(
    key: Key | KeyFolder,
    files: Iterable[Path],
    rtol: float = 0.02,
    rounding_credit: float = 0.5,
    progress: Callable[[int, int], None] | None = None,
) -> ClassReport:
    """Judge every file; `progress(n, total)` is called after each one."""
    files = list(files)
    subs = []
    for n, path in enumerate(files, 1):
        subs.append(read_submission(key, path, rtol))
        if progress:
            progress(n, len(files))
    return ClassReport(key, subs, rounding_credit, rtol)


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
        f"<p>Key: {html.escape(report.key.path)}. {len(report.graded)} submissions graded, "
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
                            "claim": j.claim.name,
                            "written": j.claim.text,
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
