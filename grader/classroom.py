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

from grader.check import TestStatus
from grader.report import Report, TestResult
from grader.spec import Visibility

RUNNER_VERSION = 3
"""The version python-grader writes, the richest of the runner formats."""
TEST_STATUS = {TestStatus.PASSED: "pass", TestStatus.FAILED: "fail", TestStatus.ERROR: "error", TestStatus.TIMEOUT: "error"}


def classroom_results(reports: Sequence[Report]) -> dict:
    """One runner's results for one or more graded files: tests listed one after another,
    max_score summed, so the points Classroom adds up equal the reports' own."""
    tests = []
    for report in reports:
        prefix = f"{report.submission_path.name}: " if len(reports) > 1 else ""
        hidden = 0
        for test in report.tests:
            if test.visibility is Visibility.VISIBLE:
                tests.append(_visible_test(report, test, prefix))
            else:
                hidden += 1
                tests.append(_withheld_test(test, f"{prefix}hidden test {hidden}"))
    return {
        "version": RUNNER_VERSION,
        "status": _status(reports),
        "max_score": round(sum(report.max_score for report in reports), 6),
        "tests": tests,
    }


def render_classroom(report: Report) -> str:
    """The runner's JSON document for one report (``classroom.json`` in ``--out DIR``)."""
    return json.dumps(classroom_results([report]), indent=2, ensure_ascii=False) + "\n"


def runner_output(reports: Sequence[Report]) -> str:
    """The step output ``result`` as a runner sets it: base64 of the compact JSON."""
    document = json.dumps(classroom_results(reports), ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(document.encode()).decode("ascii")


def _status(reports: Sequence[Report]) -> str:
    if any(report.status != "graded" for report in reports):
        return "error"
    passed = all(test.status is TestStatus.PASSED for report in reports for test in report.tests)
    return "pass" if passed else "fail"


def _visible_test(report: Report, test: TestResult, prefix: str) -> dict:
    message = test.student_output if test.status is not TestStatus.PASSED else ""
    if message and test.student_hint:
        message += f"\nHint: {test.student_hint}"
    if not message and report.status != "graded":
        message = report.message  # why nothing could run: a syntax error, say
    line = test.verdict.line if test.verdict is not None and test.verdict.line else 0
    return _entry(f"{prefix}{test.name}", test, message, _program_source(report, test.name), line)


def _withheld_test(test: TestResult, name: str) -> dict:
    message = "" if test.status is TestStatus.PASSED else f"Hidden test {test.status.value}."
    return _entry(name, test, message, "", 0)


def _entry(name: str, test: TestResult, message: str, test_code: str, line: int) -> dict:
    return {
        "name": name,
        "status": TEST_STATUS[test.status],
        "message": message,
        "test_code": test_code,
        "filename": "",
        "line_no": line,
        "execution_time": "",
        "score": round(test.score, 6),
    }


def _program_source(report: Report, name: str) -> str:
    """The test program a visible test ran (instructor pytest checks have none)."""
    for test in report.problem.tests:
        if test.name == name:
            return test.program.source.strip()
    return ""
