"""HTML pages: ``report.html`` for one submission and ``index.html`` for a class.

One self-contained file each: inline CSS and SVG, no JavaScript, no external resource, so a
page reads offline, on a phone, and in a mail attachment. Templates are package data
(``grader/templates/*.html.j2``) rendered by one jinja2 Environment with autoescape and
StrictUndefined.

The page is built from the student's ``ReportView`` (``grader.view`` decides what a student
may see): hidden tests appear only as a count, every other withheld test (after the due date,
after grades are published) by name, status and points, details and graphs only for visible
tests, and output the submission printed only when no withheld program ran. jinja2's
autoescape escapes every value; nothing is marked safe.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

from grader import __version__
from grader.check import SubmissionStatus, TestStatus
from grader.files import write_atomically
from grader.graph import GraphLayout, TestGraph, layout
from grader.report import Report
from grader.spec import Problem, Visibility
from grader.summary import ClassSummary, StudentRow, class_summary
from grader.view import Audience, ReportView, TestView, report_view

MAX_CAPTURED_CHARS = 20_000
"""Of each captured stream, the last this many characters are shown."""

STATUS_LABELS = {
    TestStatus.PASSED: ("✓", "passed"),
    TestStatus.FAILED: ("✗", "failed"),
    TestStatus.ERROR: ("!", "error"),
    TestStatus.TIMEOUT: ("⏱", "timed out"),
}
SUBMISSION_STATUS = {
    SubmissionStatus.GRADED: "graded",
    SubmissionStatus.FAILED_TO_LOAD: "did not load",
    SubmissionStatus.TIMED_OUT: "timed out while loading",
    SubmissionStatus.GRADER_ERROR: "grader error",
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


@dataclass(frozen=True, slots=True)
class ReportPage:
    view: ReportView
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


def write_index(out: Path, problem: Problem, rows: list[StudentRow], identity_columns: Sequence[str] = (),
                csv_layout: str = "", left_out_of_csv: Sequence[tuple[StudentRow, str]] = ()) -> None:
    """``index.html`` of a batch, next to its students' folders; generated tests are counted
    by shape (forty rows of random graphs would say less than seven); a roster's columns
    beside each student; the rows grades.csv's LMS layout leaves out, and why."""
    groups = {test.name: test.group for test in problem.tests}
    summary = class_summary(problem.id, list(rows), groups, tuple(identity_columns), csv_layout, tuple(left_out_of_csv))
    write_atomically(out / "index.html", render_index(summary))


def render_index(summary: ClassSummary) -> str:
    """The instructor's page for a whole batch."""
    return environment().get_template("index.html.j2").render(summary=summary, grader_version=__version__)


def report_page(report: Report) -> ReportPage:
    view = report_view(report, Audience.STUDENT)
    shown = [t for t in view.tests if t.visibility is not Visibility.HIDDEN]
    failures = tuple(_failure(t) for t in view.detailed if not t.passed) if view.status is SubmissionStatus.GRADED else ()
    anchors = {section.name: section.anchor for section in failures}
    return ReportPage(
        view=view,
        status_label=SUBMISSION_STATUS[view.status],
        percent=round(view.percent, 1),
        rows=tuple(_row(t, anchors.get(t.name, "")) for t in shown),
        hidden=_hidden_count(view.tests),
        failures=failures,
        captured=_captured(view),
        seed=view.seed,
    )


def _row(test: TestView, anchor: str) -> TestRow:
    symbol, status = STATUS_LABELS[test.status]
    return TestRow(
        name=test.name,
        symbol=symbol,
        status=status,
        passed=test.passed,
        points=f"{test.score:g} / {test.max_score:g}",
        visibility=test.visibility.value.replace("_", " "),
        anchor=anchor,
    )


def _failure(test: TestView) -> FailureSection:
    """A failing test the student may see in full."""
    graph = test.graph
    _, status = STATUS_LABELS[test.status]
    return FailureSection(
        name=test.name,
        anchor=f"test-{test.number}",
        status=status,
        points=f"{test.score:g} / {test.max_score:g}",
        summary=test.summary if graph is not None else test.output,
        hint=test.hint,
        diagnosis=test.diagnosis,
        program=test.program,
        graph=graph,
        layout=layout(graph) if graph is not None and graph.nodes else None,
    )


def _hidden_count(tests: tuple[TestView, ...]) -> HiddenCount | None:
    hidden = [t for t in tests if t.visibility is Visibility.HIDDEN]
    if not hidden:
        return None
    return HiddenCount(
        tests=len(hidden),
        passed=sum(t.passed for t in hidden),
        score=round(sum(t.score for t in hidden), 6),
        max_score=round(sum(t.max_score for t in hidden), 6),
    )


def _captured(view: ReportView) -> Captured:
    """What the submission printed on the visible tests (the only run whose output is kept)."""
    stdout, stderr = view.stdout, view.stderr
    shortened = view.output_truncated or max(len(stdout), len(stderr)) > MAX_CAPTURED_CHARS
    return Captured(stdout[-MAX_CAPTURED_CHARS:], stderr[-MAX_CAPTURED_CHARS:], shortened)
