"""Reports as a person reads them in a terminal: colours on a TTY only (``NO_COLOR`` and
``FORCE_COLOR`` honoured), plain when piped, text wrapped to the terminal's width. Hidden tests
appear as counts, never by program or expected value.

The only escape sequences written are the colours below and the running line's redraw:
every text from a report passes through ``grader.text.clean`` once more on its way out (it
already did where it entered), so no ESC, CSI, OSC or C1 character of a submission's ever
reaches the terminal."""

from __future__ import annotations

import os
import re
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

from grader.check import SubmissionStatus, TestStatus
from grader.text import clean
from grader.view import ReportView

_LOG_COMMAND = re.compile(r"(?m)^(\s*)::")
_OLD_LOG_COMMAND = "##["
"""The runner's older form of a workflow command, which it reads anywhere in a line."""
SYMBOLS = {TestStatus.PASSED: "✓", TestStatus.FAILED: "✗", TestStatus.ERROR: "!", TestStatus.TIMEOUT: "✗"}
"""Marks every common terminal font has (no emoji, no clock: those show as a box)."""
ASCII_SYMBOLS = {TestStatus.PASSED: "+", TestStatus.FAILED: "x", TestStatus.ERROR: "!", TestStatus.TIMEOUT: "x"}
"""For a terminal whose encoding has no ✓ (``PYTHONIOENCODING=ascii``, an old code page)."""
STATUS_WORDS = {TestStatus.ERROR: "error", TestStatus.TIMEOUT: "timed out"}
"""Said beside the mark where the mark alone does not say it."""
QUIET_SECONDS = 1.0
"""Piped, a check that ends within this writes no running lines: a log gets them only from a
slow (or hanging) file."""
PROGRAM_LINES = 12
"""A failing test's program is shown up to this many lines (generated ones can be long)."""
MIN_WIDTH = 40


@dataclass(frozen=True, slots=True)
class Style:
    colour: bool
    width: int = 80
    """Columns that text is wrapped to."""
    unicode: bool = True
    """Whether the output's encoding has the marks (else ASCII ones)."""

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

    def mark(self, status: TestStatus) -> str:
        return (SYMBOLS if self.unicode else ASCII_SYMBOLS)[status]


def style_for(stream: TextIO, environ: Mapping[str, str]) -> Style:
    """How to write to ``stream``: colours on a terminal (not a dumb one), off with ``NO_COLOR``
    (https://no-color.org), on even when piped with ``FORCE_COLOR`` (https://force-color.org,
    which wins over ``NO_COLOR``, as its reference implementation does); each counts when set
    and not empty. Wrapped to the width of the terminal ``stream`` is (``COLUMNS`` first, 80
    when unknown)."""
    colour = stream.isatty() and environ.get("TERM") != "dumb"
    if environ.get("NO_COLOR"):
        colour = False
    if environ.get("FORCE_COLOR"):
        colour = True
    return Style(colour=colour, width=max(_columns(stream, environ), MIN_WIDTH),
                 unicode=_encodes(stream, "".join(SYMBOLS.values()) + "·"))


def _columns(stream: TextIO, environ: Mapping[str, str]) -> int:
    """``COLUMNS`` when it is a number, else the width of the terminal ``stream`` is, else 80."""
    if environ.get("COLUMNS", "").strip().isdigit():
        return int(environ["COLUMNS"])
    try:
        return os.get_terminal_size(stream.fileno()).columns if stream.isatty() else 80
    except (OSError, ValueError, AttributeError):
        return 80


def _encodes(stream: TextIO, text: str) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def render_check(view: ReportView, style: Style) -> str:
    """A student's view of their visible tests."""
    dot = "·" if style.unicode else "-"
    lines = [style.bold(f"{safe(view.problem_title)} ({view.problem_id}) {dot} {safe(view.submission_path)}")]
    if view.status is not SubmissionStatus.GRADED:
        lines += ["", style.bad("Your file could not be graded:"), _indent(view.message, 2), ""]
        lines.append("Fix this first: none of the tests could run.")
        return "\n".join(lines) + "\n"
    shown = view.detailed
    width = max((len(t.name) for t in shown), default=0)
    lines.append("")
    for test in shown:
        mark = style.mark(test.status)
        mark = style.good(mark) if test.passed else style.bad(mark)
        word = f"  {STATUS_WORDS[test.status]}" if test.status in STATUS_WORDS else ""
        lines.append(f"  {mark} {safe(test.name).ljust(width)}  {test.score:g}/{test.max_score:g}{word}")
        if not test.passed:
            if test.program:
                lines += [" " * 6 + style.dim("program:"), _program(test.program, 8)]
            lines.append(_indent(test.output, 6))
            if test.hint:
                lines.append(_wrapped("hint: ", test.hint, 6, style))
            if test.diagnosis:
                lines.append(_wrapped("likely cause: ", test.diagnosis, 6, style))
    if view.findings:
        lines += ["", style.bold("In your code:")]
        lines += [_wrapped(f"line {finding.line}: ", finding.message, 2, style, dim=False) for finding in view.findings]
    hidden = len(view.withheld) + view.withheld_tests
    passed = sum(t.passed for t in shown)
    total = f"{view.score:g}/{view.max_score:g} points"
    lines += ["", style.bold(f"{passed} of {len(shown)} visible tests pass ({total}).")]
    if hidden:
        lines.append(style.dim(f"{hidden} more tests are hidden; they are run when your work is graded."))
    if view.stdout.strip():
        lines += ["", style.dim("Your code printed:"), _indent(view.stdout.strip()[-1500:], 2)]
    return "\n".join(lines) + "\n"


def _program(source: str, spaces: int) -> str:
    lines = clean(source).splitlines()
    if len(lines) > PROGRAM_LINES:
        lines = [*lines[:PROGRAM_LINES], f"... ({len(lines) - PROGRAM_LINES} more lines)"]
    return _indent("\n".join(lines), spaces)


def _wrapped(label: str, text: str, spaces: int, style: Style, *, dim: bool = True) -> str:
    """``label`` and ``text`` filled to the style's width, continuation lines under the text.
    Wrapped before ``safe``: a line that wrapping starts is guarded like any other."""
    pad = " " * spaces
    filled = textwrap.fill(clean(text), width=style.width, initial_indent=pad + label,
                           subsequent_indent=pad + " " * len(label), break_on_hyphens=False)
    paint = style.dim if dim else (lambda line: line)
    return "\n".join(paint(line) for line in safe(filled).splitlines())


class RunningLine:
    """What runs now, for the person waiting on ``grader check``: on a terminal one line,
    redrawn as each test starts and erased at the end; otherwise (a log, a pipe) a plain line
    per test that starts once the check has taken ``QUIET_SECONDS``. Test names are the course's, cleaned all the same; nothing a submission says
    is shown."""

    def __init__(self, names: Sequence[str], stream: TextIO, *, tty: bool, width: int = 80,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.names, self.stream, self.tty, self.width, self.clock = list(names), stream, tty, width, clock
        self.started_at = clock()
        self.drawn = False

    def started(self, index: int, again: bool = False) -> None:
        """Test ``index`` (in ``names``) has started, or started once more (``again``: after it
        hung or crashed, what it computes before ``backward()`` is run on its own)."""
        if not 0 <= index < len(self.names):
            return
        seconds = self.clock() - self.started_at
        name = safe(self.names[index]).replace("\n", " ")
        line = f"running test {index + 1} of {len(self.names)}{' once more' if again else ''}: {name}"
        if self.tty:
            shown = f"{line} ({seconds:.0f} s)"
            if len(shown) >= self.width:
                shown = shown[: self.width - 4] + "..."
            self.stream.write("\r\033[K" + shown)
            self.drawn = True
        elif seconds >= QUIET_SECONDS:
            self.stream.write(f"{line} ({seconds:.0f} s so far)\n")
        self.stream.flush()

    def finish(self) -> None:
        """Erase the line (on a terminal), so the report starts on a clean one."""
        if self.tty and self.drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.drawn = False


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
            lines.append(f"  {style.mark(test.status)} {safe(test.name)} [{test.visibility.value}]: {test.status.value}")
    return "\n".join(lines) + "\n"


def safe(text: str) -> str:
    """Text for a terminal: nothing in it can move the cursor, retitle the window or write to
    the clipboard; and where the terminal is a CI log, no line of it is a workflow command
    (the runner reads ``::command::`` at a line's start, after spaces, and ``##[command]``
    anywhere in a line, see actions/runner's ActionCommand.TryParse): a word joiner goes
    before the first and into the second."""
    return _LOG_COMMAND.sub("\\1\u2060::", clean(text)).replace(_OLD_LOG_COMMAND, "##\u2060[")


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line for line in safe(text).splitlines())
