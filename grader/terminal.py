"""Reports as a person reads them in a terminal: colours on a TTY only, plain when piped.
Hidden tests appear as counts, never by program or expected value."""

from __future__ import annotations

from dataclasses import dataclass

from grader.check import TestStatus
from grader.report import Report
from grader.spec import Visibility

SYMBOLS = {TestStatus.PASSED: "✓", TestStatus.FAILED: "✗", TestStatus.ERROR: "!", TestStatus.TIMEOUT: "⏱"}


@dataclass(frozen=True, slots=True)
class Style:
    colour: bool

    def paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text

    def good(self, text: str) -> str:
        return self.paint(text, "32")

    def bad(self, text: str) -> str:
        return self.paint(text, "31")

    def dim(self, text: str) -> str:
        return self.paint(text, "2")

    def bold(self, text: str) -> str:
        return self.paint(text, "1")


def render_check(report: Report, style: Style) -> str:
    """A student's view of their visible tests."""
    lines = [style.bold(f"{report.problem.title} ({report.problem.id}) · {report.submission_path}")]
    if report.status != "graded":
        lines += ["", style.bad("Your file could not be graded:"), _indent(report.message, 2), ""]
        lines.append("Fix this first: none of the tests could run.")
        return "\n".join(lines) + "\n"
    shown = [t for t in report.tests if t.visibility is Visibility.VISIBLE]
    width = max((len(t.name) for t in shown), default=0)
    lines.append("")
    for test in shown:
        mark = SYMBOLS[test.status]
        mark = style.good(mark) if test.status is TestStatus.PASSED else style.bad(mark)
        lines.append(f"  {mark} {test.name.ljust(width)}  {test.score:g}/{test.max_score:g}")
        if test.status is not TestStatus.PASSED:
            lines.append(_indent(test.student_output, 6))
            if test.student_hint:
                lines.append(_indent(style.dim(f"hint: {test.student_hint}"), 6))
            if test.student_diagnosis:
                lines.append(_indent(style.dim(f"likely cause: {test.student_diagnosis}"), 6))
    if report.findings:
        lines += ["", style.bold("In your code:")]
        lines += [f"  line {finding.line}: {finding.message}" for finding in report.findings]
    hidden = len(report.tests) - len(shown) + report.withheld_tests
    passed = sum(t.status is TestStatus.PASSED for t in shown)
    total = f"{report.score:g}/{report.max_score:g} points"
    lines += ["", style.bold(f"{passed} of {len(shown)} visible tests pass ({total}).")]
    if hidden:
        lines.append(style.dim(f"{hidden} more tests are hidden; they are run when your work is graded."))
    if report.stdout.strip() and len(shown) == len(report.tests):  # prints during hidden runs would spell them out
        lines += ["", style.dim("Your code printed:"), _indent(report.stdout.strip()[-1500:], 2)]
    return "\n".join(lines) + "\n"


def render_grade(report: Report, style: Style) -> str:
    """An instructor's one-screen summary of a graded submission."""
    head = f"{report.submission_path}: {report.score:g}/{report.max_score:g} ({report.status})"
    lines = [style.bold(head)]
    if report.message:
        lines.append(_indent(report.message, 2))
    if report.diagnosis:
        d = report.diagnosis
        lines.append(f"  likely misconception: {d.misconception.name} (explains {len(d.explained)} failing tests)")
    for finding in report.findings:
        lines.append(f"  line {finding.line}: {finding.message}")
    if report.nondeterministic_tests:
        lines.append(f"  nondeterministic: {len(report.nondeterministic_tests)} tests differed between two runs")
    for test in report.tests:
        if test.status is not TestStatus.PASSED:
            lines.append(f"  {SYMBOLS[test.status]} {test.name} [{test.visibility.value}]: {test.status.value}")
    return "\n".join(lines) + "\n"


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line for line in text.splitlines())
