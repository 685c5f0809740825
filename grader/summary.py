"""The class at a glance, for ``index.html`` of ``grader batch``.

A batch keeps one ``StudentRow`` per submission for up to thousands of students, so a row
holds names, statuses and numbers only, never a Report; the class summary is computed from
the rows alone.
"""

from __future__ import annotations

import statistics
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from grader.check import percent
from grader.text import clean, clean_name

HISTOGRAM_BUCKETS = 10
"""Scores in bins of 10 percentage points; 100% joins the top bin."""
MAX_NOTE = 200


class RowStatus(str, Enum):
    """A row's status in the class files: a report's status, or ``not_graded`` for an entry of
    the class folder (or a student of the roster) that has no report."""

    GRADED = "graded"
    FAILED_TO_LOAD = "failed_to_load"
    TIMED_OUT = "timed_out"
    GRADER_ERROR = "grader_error"
    NOT_GRADED = "not_graded"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class StudentRow:
    """One entry of a batch, as the class summary needs it."""

    student: str
    """Who the row is, as shown: the entry's name in the class folder (or the roster's), cleaned."""
    status: RowStatus
    """A RowStatus value: graded, failed_to_load, timed_out, grader_error or not_graded."""
    score: float
    max_score: float
    note: str = ""
    """One line on why a submission was not graded."""
    passed: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    """Names of the tests lost in full or in part."""
    misconception: str = ""
    misconception_hint: str = ""
    report_file: str = "report.html"
    """The file the class page links to, in the student's folder; empty: none."""
    identity: tuple[tuple[str, str], ...] = ()
    """The student's columns of the roster (LMS ids, names), when there is one."""
    entry: str = ""
    """The name a roster matches: the entry's name in the class folder as it is there (not
    cleaned), or for a student of the roster with nothing there, the roster's."""
    folder: str = ""
    """The folder of its reports under ``--out`` (the name renamed where it is not a safe file
    name); empty: none."""

    @property
    def percent(self) -> float:
        return round(percent(self.score, self.max_score), 2)

    @property
    def flagged(self) -> bool:
        """Nothing of it could be judged: it did not load, timed out, broke the grader, or was
        not graded at all."""
        return self.status != RowStatus.GRADED

    @property
    def submitted(self) -> bool:
        """A submission the grader graded (whatever came of it), not an entry it could not."""
        return self.status != RowStatus.NOT_GRADED


@dataclass(frozen=True, slots=True)
class Bucket:
    low: int
    high: int
    count: int

    @property
    def label(self) -> str:
        return f"{self.low}–{self.high}%"


@dataclass(frozen=True, slots=True)
class PassRate:
    test: str
    """A test's name, or a group's (the generated tests of one shape)."""
    passed: int
    attempted: int
    """Graded submissions, or for a group, runs of its tests by graded submissions."""
    tests: int = 1

    @property
    def percent(self) -> float:
        return round(100.0 * self.passed / self.attempted, 1) if self.attempted else 0.0


@dataclass(frozen=True, slots=True)
class MisconceptionCount:
    name: str
    hint: str
    students: int


@dataclass(frozen=True, slots=True)
class ClassSummary:
    problem_id: str
    rows: tuple[StudentRow, ...]
    """Every submission, by student name."""
    flagged: tuple[StudentRow, ...]
    histogram: tuple[Bucket, ...]
    """Graded submissions only: a file that did not load says nothing about the class."""
    pass_rates: tuple[PassRate, ...]
    """Hardest test first."""
    misconceptions: tuple[MisconceptionCount, ...]
    """Most common first."""
    identity_columns: tuple[str, ...] = ()
    """The roster's columns each row may carry."""
    csv_layout: str = ""
    """The LMS whose import layout grades.csv has (Canvas, Moodle); empty: plain."""
    left_out_of_csv: tuple[tuple[StudentRow, str], ...] = ()
    """Rows that layout cannot hold (no identity the LMS knows), and why."""

    @property
    def graded(self) -> int:
        return sum(not row.flagged for row in self.rows)

    @property
    def submitted(self) -> tuple[StudentRow, ...]:
        return tuple(row for row in self.rows if row.submitted)

    @property
    def mean_percent(self) -> float:
        """Over the submissions (a file that did not load counts 0; an entry not graded, nothing)."""
        return round(statistics.fmean(row.percent for row in self.submitted), 1) if self.submitted else 0.0

    @property
    def median_percent(self) -> float:
        return round(statistics.median(row.percent for row in self.submitted), 1) if self.submitted else 0.0


def row_from_report(entry: str, report: dict[str, Any], report_file: str = "report.html",
                    folder: str | None = None) -> StudentRow:
    """The row of the class folder's ``entry`` (its name there), from a report.json's content:
    what a batch has of a submission it graded just now or in an earlier run; its reports are
    in ``folder`` (default: the entry's name). Test names are interned: a class's rows share them."""
    tests = report.get("tests") or []
    diagnosis = report.get("diagnosis") or {}
    status = RowStatus(report.get("status"))
    return StudentRow(
        student=shown_name(entry),
        status=status,
        score=float(report.get("score", 0.0)),
        max_score=float(report.get("max_score", 0.0)),
        note=_one_line(clean(str(report.get("output", "")))),
        passed=tuple(sys.intern(str(t.get("name", ""))) for t in tests if t.get("status") == "passed"),
        failed=tuple(sys.intern(str(t.get("name", ""))) for t in tests if t.get("status") != "passed"),
        misconception=sys.intern(str(diagnosis.get("misconception") or "")),
        misconception_hint=sys.intern(str(diagnosis.get("hint") or "")),
        report_file="report.json" if status is RowStatus.GRADER_ERROR else report_file,
        entry=entry,
        folder=entry if folder is None else folder,
    )


def not_graded_row(entry: str, reason: str, max_score: float,
                   identity: tuple[tuple[str, str], ...] = ()) -> StudentRow:
    """An entry of the class folder (by its name there), or a student of the roster, with no
    report, and why."""
    return StudentRow(student=shown_name(entry), status=RowStatus.NOT_GRADED, score=0.0, max_score=max_score,
                      note=_one_line(clean(reason)), report_file="", identity=identity, entry=entry)


def shown_name(name: str) -> str:
    """A name of the class folder as the class files show it: in composed Unicode (``zoë`` is
    one character however the file system spelled it), cleaned."""
    return clean_name(unicodedata.normalize("NFC", name))


def class_summary(problem_id: str, rows: list[StudentRow], groups: Mapping[str, str] | None = None,
                  identity_columns: tuple[str, ...] = (), csv_layout: str = "",
                  left_out_of_csv: tuple[tuple[StudentRow, str], ...] = ()) -> ClassSummary:
    """``groups``: a test's name -> the group it is counted in (by default, itself)."""
    ordered = tuple(sorted(rows, key=lambda row: row.student))
    return ClassSummary(
        problem_id=problem_id,
        rows=ordered,
        flagged=tuple(row for row in ordered if row.flagged),
        histogram=histogram(row.percent for row in ordered if not row.flagged),
        pass_rates=pass_rates(ordered, groups or {}),
        misconceptions=misconception_counts(ordered),
        identity_columns=identity_columns,
        csv_layout=csv_layout,
        left_out_of_csv=left_out_of_csv,
    )


def histogram(percents: Iterable[float]) -> tuple[Bucket, ...]:
    width = 100 // HISTOGRAM_BUCKETS
    counts = Counter(min(int(p // width), HISTOGRAM_BUCKETS - 1) for p in percents)
    return tuple(Bucket(i * width, (i + 1) * width, counts[i]) for i in range(HISTOGRAM_BUCKETS))


def pass_rates(rows: tuple[StudentRow, ...], groups: Mapping[str, str]) -> tuple[PassRate, ...]:
    """Per test or group of tests (``groups``: test name -> group), over the graded
    submissions; hardest first, then by name."""
    passed: Counter[str] = Counter()
    attempted: Counter[str] = Counter()
    members: dict[str, set[str]] = {}
    for row in rows:
        if row.flagged:
            continue
        for name in row.passed + row.failed:
            group = groups.get(name, name)
            attempted[group] += 1
            passed[group] += name in row.passed
            members.setdefault(group, set()).add(name)
    rates = [PassRate(group, passed[group], attempted[group], len(members[group])) for group in attempted]
    return tuple(sorted(rates, key=lambda rate: (rate.percent, rate.test)))


def misconception_counts(rows: tuple[StudentRow, ...]) -> tuple[MisconceptionCount, ...]:
    counts = Counter(row.misconception for row in rows if row.misconception)
    hints = {row.misconception: row.misconception_hint for row in rows if row.misconception}
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(MisconceptionCount(name, hints[name], count) for name, count in ranked)


def _one_line(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= MAX_NOTE else line[: MAX_NOTE - 1] + "…"
