"""Writers for the files of ``--out DIR``, one pure renderer per format, all from one Report."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from grader.check import TestStatus
from grader.classroom import render_classroom
from grader.files import write_atomically
from grader.html import render_html
from grader.report import Report, render_json
from grader.spec import Visibility

FILE_NAMES = {"json": "report.json", "md": "summary.md", "junit": "junit.xml", "gradescope": "results.json",
              "classroom": "classroom.json", "html": "report.html"}
# what a student may see of a test's details in Gradescope: hidden and after-due-date tests
# show their name and status only, whatever Gradescope later reveals
DETAILED_IN_GRADESCOPE = (Visibility.VISIBLE, Visibility.AFTER_PUBLISHED)


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
    """Gradescope's results.json: its own field names and visibility values."""
    tests = []
    for number, test in enumerate(report.tests, 1):
        detailed = test.visibility in DETAILED_IN_GRADESCOPE
        output = test.details if detailed else ("" if test.status is TestStatus.PASSED else f"Test {test.status.value}.")
        if detailed and test.hint and test.status is not TestStatus.PASSED:
            output += f"\nHint: {test.hint}"
        if detailed and test.diagnosis and test.status is not TestStatus.PASSED:
            output += f"\nLikely cause: {test.diagnosis}"
        tests.append({
            "name": test.name,
            "number": str(number),
            "score": round(test.score, 6),
            "max_score": test.max_score,
            "status": "passed" if test.status is TestStatus.PASSED else "failed",
            "output": output,
            "visibility": test.visibility.value,
        })
    results = {
        "score": report.score,
        "execution_time": max(1, round(report.duration_s)),
        "output": report.message,
        "output_format": "text",
        "test_output_format": "text",
        "stdout_visibility": "hidden",
        "tests": tests,
    }
    return json.dumps(results, indent=2, ensure_ascii=False) + "\n"


def render_junit(report: Report) -> str:
    """JUnit XML as CI systems read it: one testcase per test; hidden ones say only their status."""
    suite = ET.Element(
        "testsuite",
        name=report.problem.id,
        tests=str(len(report.tests)),
        failures=str(sum(t.status is TestStatus.FAILED for t in report.tests)),
        errors=str(sum(t.status in (TestStatus.ERROR, TestStatus.TIMEOUT) for t in report.tests)),
        time=f"{report.duration_s:.3f}",
    )
    for test in report.tests:
        case = ET.SubElement(suite, "testcase", classname=report.problem.id, name=test.name)
        if test.status is TestStatus.PASSED:
            continue
        tag = "failure" if test.status is TestStatus.FAILED else "error"
        details = test.student_output
        if test.student_hint:
            details += f"\nhint: {test.student_hint}"
        element = ET.SubElement(case, tag, message=details.splitlines()[0] if details else test.status.value, type=test.status.value)
        element.text = details
    root = ET.Element("testsuites", name=f"grader {report.submission_path.name}")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def render_markdown(report: Report) -> str:
    """A summary for a pull-request comment or a CI job summary; hidden tests as counts."""
    icon = {TestStatus.PASSED: "✅", TestStatus.FAILED: "❌", TestStatus.ERROR: "⚠️", TestStatus.TIMEOUT: "⏱️"}
    lines = [
        f"## {report.problem.title}: {report.score:g} / {report.max_score:g}",
        "",
        f"`{report.submission_path.name}` · status **{report.status}** · isolation {report.isolation}",
        "",
    ]
    if report.message:
        lines += ["```", report.message, "```", ""]
    lines += ["| | Test | Points | Details |", "|---|---|---|---|"]
    hidden = [t for t in report.tests if t.visibility is Visibility.HIDDEN]
    for test in report.tests:
        if test.visibility is Visibility.HIDDEN:
            continue
        details = _cell(test.student_output)
        if test.student_hint and test.status is not TestStatus.PASSED:
            details += f"<br>*hint:* {_cell(test.student_hint)}"
        if test.student_diagnosis:
            details += f"<br>*likely cause:* {_cell(test.student_diagnosis)}"
        lines.append(f"| {icon[test.status]} | {_cell(test.name)} | {test.score:g}/{test.max_score:g} | {details} |")
    if hidden:
        passed = sum(t.status is TestStatus.PASSED for t in hidden)
        lines += ["", f"Hidden tests: {passed} of {len(hidden)} passed."]
    if report.diagnosis:
        lines += ["", f"**Likely misconception:** {report.diagnosis.misconception.hint}"]
    if report.findings:
        lines += ["", "**In your code:**", ""]
        lines += [f"- line {f.line}: {_cell(f.message)}" for f in report.findings]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")
