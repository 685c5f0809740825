"""Writers for the files of ``--out DIR``, one pure renderer per format, all from one Report."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from grader.check import SubmissionStatus, TestStatus
from grader.classroom import render_classroom
from grader.files import write_atomically
from grader.html import render_html
from grader.report import Report, render_json
from grader.spec import Visibility
from grader.view import Audience, ReportView, report_view

FILE_NAMES = {"json": "report.json", "md": "summary.md", "junit": "junit.xml", "gradescope": "results.json",
              "classroom": "classroom.json", "html": "report.html"}
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters XML 1.0 cannot hold, even as references (text is cleaned before it gets here;
this is what keeps junit.xml parseable whatever reaches it)."""
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#!|~&:$])")
"""What can start Markdown syntax in the middle of a line (CommonMark lets any ASCII
punctuation be backslash-escaped): emphasis, code, links and images, raw HTML, entities,
table pipes, strikethrough, emoji shortcodes, GitHub's math. Nothing a submission writes
ever starts a line (lines are joined with <br>), so list and heading markers are harmless."""
_BACKTICKS = re.compile("`+")


def render_formats(report: Report, formats: tuple[str, ...]) -> dict[str, str]:
    """The text of each format asked for, by file name."""
    renderers = {
        "json": render_json,
        "md": render_markdown,
        "junit": render_junit,
        "gradescope": render_gradescope,
        "classroom": render_classroom,
        "html": render_html,
    }
    return {FILE_NAMES[name]: renderers[name](report) for name in formats}


def write_formats(report: Report, out: Path, formats: tuple[str, ...]) -> list[Path]:
    written = []
    for file_name, text in render_formats(report, formats).items():
        write_atomically(out / file_name, text)
        written.append(out / file_name)
    return written


def render_gradescope(report: Report) -> str:
    """Gradescope's results.json: its own field names and visibility values. Gradescope
    enforces visibility itself, so it gets after-published tests' details too. The top-level
    ``output`` (Markdown) says why the file could not be graded, the likely misconception and
    what the source reading found; each test's own (plain text, which Gradescope shows as
    written) its failure, hint and likely cause. A grader error also goes to ``extra_data``,
    which Gradescope stores for the staff and shows no student."""
    view = report_view(report, Audience.GRADESCOPE)
    tests = []
    for test in view.tests:
        output = test.output
        if test.hint:
            output += f"\nHint: {test.hint}"
        if test.diagnosis:
            output += f"\nLikely cause: {test.diagnosis}"
        tests.append({
            "name": test.name,
            "number": str(test.number),
            "score": round(test.score, 6),
            "max_score": test.max_score,
            "status": "passed" if test.passed else "failed",
            "output": output,
            "visibility": test.visibility.value,
        })
    results = {
        "score": view.score,
        "execution_time": max(1, round(view.duration_s)),
        "output": gradescope_output(view),
        "output_format": "md",
        "test_output_format": "text",
        "stdout_visibility": "hidden",
        "tests": tests,
    }
    if view.status is SubmissionStatus.GRADER_ERROR:
        results["extra_data"] = {"grader_error": view.message}
    return json.dumps(results, indent=2, ensure_ascii=False) + "\n"


def gradescope_output(view: ReportView) -> str:
    """The whole submission's feedback on Gradescope, in Markdown: the score, why the file
    could not be graded, then ``markdown_feedback``."""
    lines = [f"**{markdown_text(view.problem_title)}: {view.score:g} / {view.max_score:g}**"]
    if view.message:
        lines += ["", *markdown_code_block(view.message)]
    lines += markdown_feedback(view)
    return "\n".join(lines) + "\n"


def markdown_feedback(view: ReportView) -> list[str]:
    """The likely misconception and what the source reading found, as Markdown lines (each
    block after an empty line), escaped: what a student should read besides the tests."""
    lines = []
    if view.misconception:
        lines += ["", f"**Likely misconception:** {markdown_text(view.misconception.hint)}"]
    if view.findings:
        lines += ["", "**In your code:**", ""]
        lines += [f"- line {f.line}: {markdown_text(f.message)}" for f in view.findings]
    return lines


def render_junit(report: Report) -> str:
    """JUnit XML as CI systems read it: one testcase per test; hidden ones say only their status."""
    view = report_view(report, Audience.STUDENT)
    suite = ET.Element(
        "testsuite",
        name=xml_text(view.problem_id),
        tests=str(len(view.tests)),
        failures=str(sum(t.status is TestStatus.FAILED for t in view.tests)),
        errors=str(sum(t.status in (TestStatus.ERROR, TestStatus.TIMEOUT) for t in view.tests)),
        time=f"{view.duration_s:.3f}",
    )
    for test in view.tests:
        case = ET.SubElement(suite, "testcase", classname=xml_text(view.problem_id), name=xml_text(test.name))
        if test.passed:
            continue
        tag = "failure" if test.status is TestStatus.FAILED else "error"
        details = test.output
        if test.hint:
            details += f"\nhint: {test.hint}"
        first_line = details.splitlines()[0] if details else test.status.value
        element = ET.SubElement(case, tag, message=xml_text(first_line), type=test.status.value)
        element.text = xml_text(details)
    root = ET.Element("testsuites", name=xml_text(f"grader {view.submission_name}"))
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def xml_text(text: str) -> str:
    """Text XML 1.0 can hold; ElementTree escapes markup, but writes any character it is given."""
    return _NOT_XML.sub("\ufffd", text)


def render_markdown(report: Report) -> str:
    """A summary for a pull-request comment or a CI job summary; hidden tests as counts."""
    view = report_view(report, Audience.STUDENT)
    icon = {TestStatus.PASSED: "✅", TestStatus.FAILED: "❌", TestStatus.ERROR: "⚠️", TestStatus.TIMEOUT: "⏱️"}
    lines = [
        f"## {markdown_text(view.problem_title)}: {view.score:g} / {view.max_score:g}",
        "",
        f"{markdown_code(view.submission_name)} · status **{markdown_text(view.status)}** · isolation {markdown_text(view.isolation)}",
        "",
    ]
    if view.message:
        lines += [*markdown_code_block(view.message), ""]
    lines += ["| | Test | Points | Details |", "|---|---|---|---|"]
    hidden = [t for t in view.tests if t.visibility is Visibility.HIDDEN]
    for test in view.tests:
        if test.visibility is Visibility.HIDDEN:
            continue
        details = markdown_text(test.output)
        if test.hint:
            details += f"<br>*hint:* {markdown_text(test.hint)}"
        if test.diagnosis:
            details += f"<br>*likely cause:* {markdown_text(test.diagnosis)}"
        lines.append(f"| {icon[test.status]} | {markdown_text(test.name)} | {test.score:g}/{test.max_score:g} | {details} |")
    if hidden:
        passed = sum(t.passed for t in hidden)
        lines += ["", f"Hidden tests: {passed} of {len(hidden)} passed."]
    lines += markdown_feedback(view)
    return "\n".join(lines) + "\n"


def markdown_text(text: str) -> str:
    """Text that Markdown (CommonMark, GitHub's too) shows as written, in a paragraph or a
    table cell: special characters escaped, "@" kept from mentioning anyone (a word joiner after
    it), lines joined with <br>, the only HTML in it."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("@", "@\u2060")
    return "<br>".join(escaped.splitlines())


def markdown_code(text: str) -> str:
    """One line as a code span, whatever backticks it holds: delimited by a longer run."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    ticks = "`" * (longest + 1)
    line = " ".join(text.splitlines())
    pad = " " if line[:1] in ("`", " ") or line[-1:] in ("`", " ") else ""  # one is stripped from each side
    return f"{ticks}{pad}{line}{pad}{ticks}"


def markdown_code_block(text: str) -> list[str]:
    """Text as a fenced code block that nothing in it can close: the fence is longer than
    any run of backticks inside."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, text, fence]
