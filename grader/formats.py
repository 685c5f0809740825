"""Writers for the files of ``--out DIR``, one pure renderer per format, all from one Report."""

from __future__ import annotations

from pathlib import Path

from grader.check import TestStatus
from grader.files import write_atomically
from grader.report import Report, write_json
from grader.spec import Visibility

FILE_NAMES = {"json": "report.json", "md": "summary.md"}


def write_formats(report: Report, out: Path, formats: tuple[str, ...]) -> list[Path]:
    written = []
    for name in formats:
        path = out / FILE_NAMES[name]
        if name == "json":
            write_json(report, path)
        else:
            write_atomically(path, render_markdown(report))
        written.append(path)
    return written


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
