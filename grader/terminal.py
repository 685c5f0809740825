"""Reports as a person reads them in a terminal: colours on a TTY only, plain when piped.
Hidden tests appear as counts, never by program or expected value.

The only escape sequences written are the colours below: every text from a report passes
through ``grader.text.clean`` once more on its way out (it already did where it entered), so
no ESC, CSI, OSC or C1 character of a submission's ever reaches the terminal."""

from __future__ import annotations

import re
from dataclasses import dataclass

from grader.check import TestStatus
from grader.text import clean
from grader.view import ReportView

_LOG_COMMAND = re.compile(r"(?m)^(\s*)(::|##\[)")
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


def render_check(view: ReportView, style: Style) -> str:
    """A student's view of their visible tests."""
    lines = [style.bold(f"{safe(view.problem_title)} ({view.problem_id}) · {safe(view.submission_path)}")]
    if view.status != "graded":
        lines += ["", style.bad("Your file could not be graded:"), _indent(view.message, 2), ""]
        lines.append("Fix this first: none of the tests could run.")
        return "\n".join(lines) + "\n"
    shown = view.detailed
    width = max((len(t.name) for t in shown), default=0)
    lines.append("")
    for test in shown:
        mark = SYMBOLS[test.status]
        mark = style.good(mark) if test.passed else style.bad(mark)
        lines.append(f"  {mark} {safe(test.name).ljust(width)}  {test.score:g}/{test.max_score:g}")
        if not test.passed:
            lines.append(_indent(test.output, 6))
            if test.hint:
                lines.append(_indent(style.dim(f"hint: {safe(test.hint)}"), 6))
            if test.diagnosis:
                lines.append(_indent(style.dim(f"likely cause: {safe(test.diagnosis)}"), 6))
    if view.findings:
        lines += ["", style.bold("In your code:")]
        lines += [f"  line {finding.line}: {safe(finding.message)}" for finding in view.findings]
    hidden = len(view.withheld) + view.withheld_tests
    passed = sum(t.passed for t in shown)
    total = f"{view.score:g}/{view.max_score:g} points"
    lines += ["", style.bold(f"{passed} of {len(shown)} visible tests pass ({total}).")]
    if hidden:
        lines.append(style.dim(f"{hidden} more tests are hidden; they are run when your work is graded."))
    if view.stdout.strip():
        lines += ["", style.dim("Your code printed:"), _indent(view.stdout.strip()[-1500:], 2)]
    return "\n".join(lines) + "\n"


def render_grade(view: ReportView, style: Style) -> str:
    """An instructor's one-screen summary of a graded submission."""
    head = f"{safe(view.submission_path)}: {view.score:g}/{view.max_score:g} ({view.status})"
    lines = [style.bold(head)]
    if view.message:
        lines.append(_indent(view.message, 2))
    if view.misconception:
        m = view.misconception
        lines.append(f"  likely misconception: {safe(m.name)} (explains {m.explains} failing tests)")
    for finding in view.findings:
        lines.append(f"  line {finding.line}: {safe(finding.message)}")
    if view.nondeterministic:
        lines.append(f"  nondeterministic: {view.nondeterministic} tests differed between two runs")
    for test in view.tests:
        if not test.passed:
            lines.append(f"  {SYMBOLS[test.status]} {safe(test.name)} [{test.visibility.value}]: {test.status.value}")
    return "\n".join(lines) + "\n"


def safe(text: str) -> str:
    """Text for a terminal: nothing in it can move the cursor, retitle the window or write to
    the clipboard; and where the terminal is a CI log, no line of it is a workflow command
    (the runner reads ``::command::`` and ``##[command]`` at a line's start, after spaces):
    a word joiner goes before them."""
    return _LOG_COMMAND.sub("\\1\u2060\\2", clean(text))


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line for line in safe(text).splitlines())
