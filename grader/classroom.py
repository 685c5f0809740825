"""GitHub Classroom's runner output, from the same Report as every other format.

A Classroom runner sets the step output ``result`` to base64(JSON); the grading reporter
(classroom-resources/autograding-grading-reporter) reads it from ``<RUNNER ID>_RESULTS``,
prints each test (name, "line N" when ``line_no`` is not 0, ``test_code``, and ``message``
for errors), adds up every test's ``score`` and the runner's ``max_score`` for the points it
reports to Classroom, and fails the job when ``status`` is "fail" or "error".

The student reads all of that in their own repository's Actions log, so only visible tests
carry details: a hidden test (or one shown only after the due date or after grades are
published) appears as "hidden test N" with its status and score, no program, no name, no
expected value.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from grader.check import SubmissionStatus, TestStatus
from grader.report import Report
from grader.view import Audience, ReportView, TestView, report_view

RUNNER_VERSION = 3
"""The version python-grader writes, the richest of the runner formats."""
TEST_STATUS = {TestStatus.PASSED: "pass", TestStatus.FAILED: "fail", TestStatus.ERROR: "error", TestStatus.TIMEOUT: "error"}


def classroom_results(reports: Sequence[Report]) -> dict[str, Any]:
    """One runner's results for one or more graded files: tests listed one after another,
    max_score summed, so the points Classroom adds up equal the reports' own."""
    views = [report_view(report, Audience.STUDENT) for report in reports]
    tests = []
    for view in views:
        prefix = f"{view.submission_name}: " if len(views) > 1 else ""
        tests += [_entry(view, test, prefix) for test in view.tests]
    return {
        "version": RUNNER_VERSION,
        "status": _status(views),
        "max_score": round(sum(view.max_score for view in views), 6),
        "tests": tests,
    }


def render_classroom(report: Report) -> str:
    """The runner's JSON document for one report (``classroom.json`` in ``--out DIR``)."""
    return json.dumps(classroom_results([report]), indent=2, ensure_ascii=False) + "\n"


def runner_output(reports: Sequence[Report]) -> str:
    """The step output ``result`` as a runner sets it: base64 of the compact JSON."""
    return _encoded(classroom_results(reports))


def nothing_graded_results(reason: str, max_score: float = 0.0) -> dict[str, Any]:
    """The runner's results when no file was graded (``reason`` says why): 0 points of
    ``max_score`` (the problem's, when known; else 0/0), status "error", so the reporter fails
    its step rather than count a pass, and one test named after the reason, so the reporter's
    log says it (with no test at all its console divides by zero)."""
    return {
        "version": RUNNER_VERSION,
        "status": "error",
        "max_score": round(max_score, 6),
        "tests": [{"name": reason, "status": "error", "message": reason, "test_code": "", "filename": "",
                   "line_no": 0, "execution_time": "", "score": 0}],
    }


def nothing_graded_output(reason: str, max_score: float = 0.0) -> str:
    """``nothing_graded_results`` as the step output ``result``."""
    return _encoded(nothing_graded_results(reason, max_score))


def _encoded(results: dict[str, Any]) -> str:
    document = json.dumps(results, ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(document.encode()).decode("ascii")


def _status(views: Sequence[ReportView]) -> str:
    if not views or any(view.status is not SubmissionStatus.GRADED for view in views):
        return "error"
    return "pass" if all(test.passed for view in views for test in view.tests) else "fail"


def _entry(view: ReportView, test: TestView, prefix: str) -> dict[str, Any]:
    """A test as the runner lists it; a withheld one as "hidden test N", status and score."""
    message = test.output
    if message and test.hint:
        message += f"\nHint: {test.hint}"
    if test.detailed and not message and view.status is not SubmissionStatus.GRADED:
        message = view.message  # why nothing could run: a syntax error, say
    return {
        "name": f"{prefix}{test.anonymous_name}",
        "status": TEST_STATUS[test.status],
        "message": message,
        "test_code": test.program,
        "filename": "",
        "line_no": test.line or 0,
        "execution_time": "",
        "score": round(test.score, 6),
    }
