"""HTML pages: ``report.html`` for one submission and ``index.html`` for a class.

One self-contained file each: inline CSS and SVG, no JavaScript, no external resource, so a
page reads offline, on a phone, and in a mail attachment. Templates are package data
(``grader/templates/*.html.j2``) rendered by one jinja2 Environment with autoescape and
StrictUndefined.

What a student may see is decided here, in plain Python, before any template runs: hidden
tests appear only as a count, after-due-date tests by name and status, graphs only for
visible tests, and output the submission printed only when no hidden program ran.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import jinja2

from grader import __version__
from grader.check import TestStatus
from grader.files import write_atomically
from grader.graph import GraphLayout, TestGraph, layout
from grader.report import Report, TestResult
from grader.spec import Problem, TestProgram, Visibility
from grader.summary import ClassSummary, StudentRow, class_summary

DETAILED = (Visibility.VISIBLE, Visibility.AFTER_PUBLISHED)
"""Tests whose details (output, hint, program, graph) a student may see."""
MAX_CAPTURED_CHARS = 20_000
"""Of each captured stream, the last this many characters are shown."""
SEED_FINGERPRINT_ROUNDS = 200_000
"""A slow hash, so a fingerprint does not hand out a guessable seed for free."""

STATUS_LABELS = {
    TestStatus.PASSED: ("✓", "passed"),
    TestStatus.FAILED: ("✗", "failed"),
    TestStatus.ERROR: ("!", "error"),
    TestStatus.TIMEOUT: ("⏱", "timed out"),
}
SUBMISSION_STATUS = {
    "graded": "graded",
    "failed_to_load": "did not load",
    "timed_out": "timed out while loading",
    "grader_error": "grader error",
}


@dataclass(frozen=True, slots=True)
class TestRow:
    """One line of the tests table."""

    name: str
    symbol: str
    status: str
    passed: bool
    points: str
    visibility: str
    anchor: str
    """Id of its details section; empty when it has none."""

    __test__ = False


@dataclass(frozen=True, slots=True)
class FailureSection:
    """What a student may see of one failing test."""

    name: str
    anchor: str
    status: str
    points: str
    summary: str
    hint: str
    diagnosis: str
    """The likely misconception behind it, shown beside the hint."""
    program: str
    graph: TestGraph | None
    layout: GraphLayout | None


@dataclass(frozen=True, slots=True)
class HiddenCount:
    tests: int
    passed: int
    score: float
    max_score: float


@dataclass(frozen=True, slots=True)
class Captured:
    stdout: str
    stderr: str
    shortened: bool
    withheld: bool
    """It includes hidden programs' runs, so it would show what they compute."""


@dataclass(frozen=True, slots=True)
class ReportPage:
    report: Report
    status_label: str
    percent: float
    rows: tuple[TestRow, ...]
    hidden: HiddenCount | None
    failures: tuple[FailureSection, ...]
    captured: Captured
    seed: str


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("grader"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _number
    return env


def _number(value: float) -> str:
    """Points and scores as people write them: 11, 10.5, 0.25."""
    return f"{round(value, 4):g}"


def render_html(report: Report) -> str:
    """The student's page for one graded submission."""
    return environment().get_template("report.html.j2").render(page=report_page(report), grader_version=__version__)


def write_index(out: Path, problem: Problem, rows: list[StudentRow]) -> None:
    """``index.html`` of a batch, next to its students' folders; generated tests are counted
    by shape (forty rows of random graphs would say less than seven)."""
    groups = {test.name: test.group for test in problem.tests}
    write_atomically(out / "index.html", render_index(class_summary(problem.id, rows, groups)))


def render_index(summary: ClassSummary) -> str:
    """The instructor's page for a whole batch."""
    return environment().get_template("index.html.j2").render(summary=summary, grader_version=__version__)


def report_page(report: Report) -> ReportPage:
    shown = [t for t in report.tests if t.visibility is not Visibility.HIDDEN]
    failing = [t for t in shown if _detailed(t) and t.status is not TestStatus.PASSED]
    failures = tuple(_failure(report, t) for t in failing) if report.status == "graded" else ()
    anchors = {section.name: section.anchor for section in failures}
    rows = tuple(_row(t, anchors.get(t.name, "")) for t in shown)
    return ReportPage(
        report=report,
        status_label=SUBMISSION_STATUS.get(report.status, report.status.replace("_", " ")),
        percent=round(100.0 * report.score / report.max_score, 1) if report.max_score else 0.0,
        rows=rows,
        hidden=_hidden_count(report.tests),
        failures=failures,
        captured=_captured(report),
        seed=seed_text(report.problem),
    )


def seed_text(problem: Problem) -> str:
    """The seed of the generated tests as a student may see it: in full only when it is the
    spec's public one; a secret seed by its source and a fingerprint, so two reports can be
    compared without revealing it."""
    if problem.seed is None:
        return "none (no generated tests)"
    if problem.seed_source == "spec":
        return f"{problem.seed} (the problem's public seed)"
    return f"secret, from {problem.seed_source}; fingerprint {seed_fingerprint(problem.seed)}"


@functools.lru_cache(maxsize=8)
def seed_fingerprint(seed: int) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", str(seed).encode(), b"grader seed fingerprint", SEED_FINGERPRINT_ROUNDS)
    return digest.hex()[:8]


def _detailed(test: TestResult) -> bool:
    return test.visibility in DETAILED


def _row(test: TestResult, anchor: str) -> TestRow:
    symbol, status = STATUS_LABELS[test.status]
    return TestRow(
        name=test.name,
        symbol=symbol,
        status=status,
        passed=test.status is TestStatus.PASSED,
        points=f"{test.score:g} / {test.max_score:g}",
        visibility=test.visibility.value.replace("_", " "),
        anchor=anchor,
    )


def _failure(report: Report, test: TestResult) -> FailureSection:
    graph = report.graphs.get(test.name) if test.visibility is Visibility.VISIBLE else None
    problem_test = next((t for t in report.problem.tests if t.name == test.name), None)
    summary = test.verdict.summary if graph is not None and test.verdict else test.student_output
    _, status = STATUS_LABELS[test.status]
    return FailureSection(
        name=test.name,
        anchor=f"test-{report.tests.index(test) + 1}",
        status=status,
        points=f"{test.score:g} / {test.max_score:g}",
        summary=summary,
        hint=test.student_hint,
        diagnosis=test.student_diagnosis,
        program=_program_text(problem_test.program) if problem_test else "",
        graph=graph,
        layout=layout(graph) if graph is not None and graph.nodes else None,
    )


def _program_text(program: TestProgram) -> str:
    return program.source.strip()


def _hidden_count(tests: tuple[TestResult, ...]) -> HiddenCount | None:
    hidden = [t for t in tests if t.visibility is Visibility.HIDDEN]
    if not hidden:
        return None
    return HiddenCount(
        tests=len(hidden),
        passed=sum(t.status is TestStatus.PASSED for t in hidden),
        score=round(sum(t.score for t in hidden), 6),
        max_score=round(sum(t.max_score for t in hidden), 6),
    )


def _captured(report: Report) -> Captured:
    """What the submission printed; withheld when a program a student may not see ran,
    since a print in ``__add__`` would spell out a hidden program's numbers."""
    ran_withheld = report.status == "graded" and any(not _detailed(t) for t in report.tests)
    if ran_withheld:
        return Captured("", "", False, True)
    stdout, stderr = report.stdout, report.stderr
    shortened = report.output_truncated or max(len(stdout), len(stderr)) > MAX_CAPTURED_CHARS
    return Captured(stdout[-MAX_CAPTURED_CHARS:], stderr[-MAX_CAPTURED_CHARS:], shortened, False)
