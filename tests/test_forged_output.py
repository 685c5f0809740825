"""Text a submission controls can neither forge nor break any output, as each reader reads it.

The channels: what the code raises (a visible test's error, a load failure), returns as its
repr, prints (stdout and stderr, with bytes that are not UTF-8), and what its file is named.
The payload holds a lone surrogate, terminal escapes (OSC title and clipboard, CSI cursor
moves, C1), a Markdown fence breaker with a fake heading, @everyone, a remote image and an
HTML comment, HTML, workflow commands and a spreadsheet formula. Each output is checked the
way its reader reads it: junit.xml with an XML parser, summary.md through a CommonMark
renderer, grades.csv with ``csv``, the terminal for escape characters, the workflow log line
by line, report.html in Chromium. One file never stops the class: every report, grades.csv
and index.html are written.

A hypothesis test then throws random text and bytes at the same outputs through the real
boundary (``observations.parse_program``), with withheld tests whose messages spell out
their programs.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from grader.check import TestResult, judge
from grader.ci import CiError, CiRequest, GitHubFiles, annotation_commands, run_ci
from grader.classroom import render_classroom
from grader.files import safe_file_name
from grader.formats import render_gradescope, render_junit, render_markdown
from grader.gradebook import FORMULA_STARTS, SKIPPED_BEFORE_A_FORMULA, write_class_files
from grader.html import render_html
from grader.observations import ResultLayout, parse_program
from grader.spec import Visibility, find_course
from grader.summary import row_from_report
from grader.terminal import Style, render_check, render_grade
from grader.text import clean
from grader.view import Audience, report_view
from tests.conftest import REPO, _problem_and_expected, grade, namespace_isolation_or_skip
from tests.test_html import browser, opened  # noqa: F401 - the fixture and helper of the Chromium tests

FORGED = REPO / "tests" / "fixtures" / "forged"
PAYLOAD = (
    "lone surrogate \ud800 "
    # terminals: retitle the window, write the clipboard (OSC 52), clear the screen, move up
    # and rewrite a line, a C1 CSI, a C1 next-line, NUL, a vertical tab
    "\x1b]0;pwned title\x07 \x1b]52;c;cHduZWQ=\x07 \x1b[2J\x1b[1A\r overwritten \x9b31m \x85 \x00 \x0b "
    "\ufffe not XML \u202e10 / 0\u202c "
    # Markdown: close the fence, a fake score, a mention, a remote image, a comment hiding the rest
    "\n```\n## 21 / 21\n@everyone ![tracker](https://evil.example/t.png) <!-- the real table is below\n"
    "| forged | cell |\n"
    # HTML
    "<script>alert(1)</script><img src=x onerror=alert(2)> [link](javascript:alert(3)) &amp; "
    # GitHub workflow commands
    "\n::error file=forged.py,line=1::forged annotation\n::add-mask::secret\n::stop-commands::pause\n"
    "in the middle of a line ##[error]forged annotation ##[add-mask]secret\n"
    # a spreadsheet formula
    '=HYPERLINK("https://evil.example","click")'
)
HOSTILE_NAMES = {
    "formula =": "=1+1",
    "formula +": "+SUM(A1)",
    "formula -": "-2",
    "formula @": "@cmd",
    "formula after a space": " =1+1",
    "formula in full width": "\uff1d1+1",
    "workflow command mid-line": "a##[error]forged",
    "OSC title": "\x1b]0;pwned\x07",
    "newline": "a\n::add-mask::x",
    "backticks and mention": "`````` @everyone",
    "HTML": "<img src=x onerror=alert(1)>",
    "not UTF-8": os.fsdecode(b"\xff\xfe"),
}
TERMINAL_ESCAPES = re.compile("[\x1b\x9b\x9d\x90\x9e\x9f\x07\r]")
ALLOWED_MARKDOWN_ELEMENTS = {"h2", "p", "code", "pre", "table", "thead", "tbody", "tr", "th", "td", "br", "strong",
                             "em", "ul", "li"}
FORMATS = "json,html,md,junit,gradescope,classroom"


def forged_submission(folder: Path, fixture: str, name: str | None = None) -> Path:
    """A fixture with the payload filled in, as ``folder/name.py``."""
    text = (FORGED / f"{fixture}.py").read_text().replace('"__PAYLOAD__"', repr(PAYLOAD))
    path = folder / f"{name or fixture}.py"
    path.write_text(text)
    return path


# ------------------------------------------------------------------ how each reader reads


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.comments: list[str] = []
        self.text: list[str] = []
        self.prose: list[str] = []
        """Text outside code, where GitHub turns @name into a mention."""
        self.in_code = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += attrs
        self.in_code += tag in ("code", "pre")

    def handle_endtag(self, tag):
        self.in_code -= tag in ("code", "pre")

    def handle_comment(self, data):
        self.comments.append(data)

    def handle_data(self, data):
        self.text.append(data)
        if not self.in_code:
            self.prose.append(data)


def html_elements(document: str) -> _Elements:
    parser = _Elements()
    parser.feed(document)
    parser.close()
    return parser


def assert_clean_text(text: str, *, newline: str = "\n") -> None:
    """Valid Unicode, no control character but newline and tab (and CR in CSV line ends)."""
    text.encode("utf-8")  # no lone surrogate
    body = text.replace(newline, "\n")
    bad = sorted({f"U+{ord(c):04X}" for c in body if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F})
    assert not bad, f"control characters {bad}"
    assert not re.search("[\u202a-\u202e\u2066-\u2069]", text), "a bidirectional override"


def assert_safe_html(document: str) -> None:
    """Only the grader's own markup: no script, image, event handler, javascript: link or
    foreign comment, whatever the submission wrote."""
    assert_clean_text(document)
    parsed = html_elements(document)
    assert not {"script", "img", "iframe", "object", "embed"} & set(parsed.tags), parsed.tags
    assert not [name for name, _ in parsed.attributes if name.startswith("on")]
    assert not [value for _, value in parsed.attributes if value and "javascript:" in value]
    assert not parsed.comments


def assert_safe_markdown(document: str) -> None:
    """Rendered as CommonMark (with GFM tables): only the summary's own elements, one heading
    per report, no comment or raw HTML, no live @mention."""
    assert_clean_text(document)
    rendered = MarkdownIt("commonmark").enable("table").render(document)
    parsed = html_elements(rendered)
    assert set(parsed.tags) <= ALLOWED_MARKDOWN_ELEMENTS, set(parsed.tags) - ALLOWED_MARKDOWN_ELEMENTS
    assert parsed.tags.count("h2") == 1, "a forged heading"
    assert not parsed.comments
    assert "@everyone" not in "".join(parsed.prose), "a live @mention"


def assert_safe_xml(document: str) -> ET.Element:
    assert_clean_text(document)
    return ET.fromstring(document.encode("utf-8"))


def assert_safe_terminal(text: str) -> None:
    """No escape sequence for a terminal, no workflow command for a CI log (whose runner
    reads one at a line's start, after spaces)."""
    assert_clean_text(text)
    assert not TERMINAL_ESCAPES.search(text), repr(TERMINAL_ESCAPES.search(text).group())
    assert not [line for line in text.splitlines() if line.lstrip().startswith("::") or "##[" in line]


def assert_safe_workflow_log(text: str) -> None:
    """Every line that GitHub reads as a command is one of the grader's annotations."""
    assert_clean_text(text)
    assert "##[" not in text, "the runner reads ##[command] anywhere in a line"
    for line in text.splitlines():
        if line.startswith("::"):
            assert re.fullmatch(r"::(error|warning) file=[^:,]*,line=\d+,title=[^:,]*::[^\r\n]*", line), line


def assert_safe_csv(text: str) -> list[list[str]]:
    assert_clean_text(text, newline="\r\n")
    rows = list(csv.reader(io.StringIO(text)))
    for row in rows:
        for cell in row:
            assert not cell.lstrip(SKIPPED_BEFORE_A_FORMULA).startswith(FORMULA_STARTS), f"a formula: {cell!r}"
    return rows


# ------------------------------------------------------------------ a class with hostile files


@pytest.fixture(scope="module", params=["process", "strict"])
def hostile_class(request, tmp_path_factory):
    """A class folder of hostile files, graded by the real `grader batch` at each isolation
    level; its output as run."""
    if request.param == "strict":  # namespaces, or refuse
        namespace_isolation_or_skip()
    root = tmp_path_factory.mktemp("hostile-class")
    folder = root / "class"
    folder.mkdir()
    forged_submission(folder, "forged_messages")
    forged_submission(folder, "forged_load_failure")
    alice = (REPO / "submissions" / "alice.py").read_bytes()
    for name in HOSTILE_NAMES.values():
        (folder / f"{name}.py").write_bytes(alice)
    out = root / "out"
    command = [sys.executable, "-m", "grader", "--isolation", request.param, "batch", str(folder), "--problem", "value-basic",
               "--out", str(out), "--jobs", "1", "--format", FORMATS]
    result = subprocess.run(command, cwd=REPO, capture_output=True, timeout=600, check=False)
    return out, result


def test_a_class_of_hostile_files_is_graded_whole(hostile_class):
    out, result = hostile_class
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    students = sorted(path.name for path in out.iterdir() if path.is_dir())
    assert len(students) == len(HOSTILE_NAMES) + 2
    for student in students:
        for name in ("report.json", "report.html", "summary.md", "junit.xml", "results.json", "classroom.json"):
            assert (out / student / name).is_file(), f"{student}/{name}"
    assert (out / "grades.csv").is_file() and (out / "index.html").is_file() and (out / "summary.json").is_file()
    statuses = {json.loads((out / s / "report.json").read_text())["status"] for s in students}
    assert statuses == {"graded", "failed_to_load"}


def test_the_terminal_gets_no_escape_sequence(hostile_class):
    _, result = hostile_class
    assert_safe_terminal(result.stdout.decode("utf-8"))
    assert_safe_terminal(result.stderr.decode("utf-8"))


def test_grades_csv_reads_as_text_in_a_spreadsheet(hostile_class):
    out, _ = hostile_class
    rows = assert_safe_csv((out / "grades.csv").read_bytes().decode("utf-8-sig"))
    assert len(rows) == len(HOSTILE_NAMES) + 3  # a header and every student
    assert "'=1+1" in [row[0] for row in rows]  # shown as the text it is


def test_the_class_page_and_summary_are_well_formed(hostile_class):
    out, _ = hostile_class
    assert_safe_html((out / "index.html").read_text(encoding="utf-8"))
    json.loads((out / "summary.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("student", ["forged_messages", "forged_load_failure", *HOSTILE_NAMES])
def test_every_file_of_every_student_stays_well_formed(hostile_class, student):
    out, _ = hostile_class
    name = HOSTILE_NAMES.get(student, student)
    folder = out / safe_file_name(name)
    assert folder.parent == out
    texts = {path.name: path.read_bytes().decode("utf-8") for path in folder.iterdir()}
    assert_safe_html(texts["report.html"])
    assert_safe_markdown(texts["summary.md"])
    assert_safe_xml(texts["junit.xml"])
    for document in ("report.json", "results.json", "classroom.json"):
        assert_clean_text(texts[document])
        json.loads(texts[document])


def test_gradescope_s_markdown_output_is_only_the_grader_s_own_markup(hostile_class):
    """results.json's top-level output is Markdown (output_format md): what a submission
    raised or printed is escaped there like in summary.md, by the same renderer."""
    out, _ = hostile_class
    for student in ("forged_load_failure", "forged_messages"):
        results = json.loads((out / student / "results.json").read_text(encoding="utf-8"))
        assert results["output_format"] == "md"
        assert_clean_text(results["output"])
        parsed = html_elements(MarkdownIt("commonmark").render(results["output"]))
        assert set(parsed.tags) <= ALLOWED_MARKDOWN_ELEMENTS - {"h2", "table"}, set(parsed.tags)
        assert not parsed.comments and "@everyone" not in "".join(parsed.prose)
    shown = "".join(html_elements(MarkdownIt("commonmark").render(
        json.loads((out / "forged_load_failure" / "results.json").read_text(encoding="utf-8"))["output"])).text)
    assert "<script>alert(1)</script>" in shown  # shown as the text it is


def test_the_payload_is_still_shown_as_text(hostile_class):
    """Nothing passes by showing nothing: the student sees what their code raised."""
    out, _ = hostile_class
    page = html_elements((out / "forged_load_failure" / "report.html").read_text(encoding="utf-8"))
    shown = "".join(page.text)
    assert "<script>alert(1)</script>" in shown and "## 21 / 21" in shown and "=HYPERLINK(" in shown
    markdown = MarkdownIt("commonmark").enable("table").render((out / "forged_messages" / "summary.md").read_text())
    assert "ValueError" in markdown and "&lt;script&gt;" in markdown


def test_report_html_in_chromium_runs_nothing_and_fetches_nothing(browser, hostile_class):  # noqa: F811
    out, _ = hostile_class
    for student in ("forged_messages", "forged_load_failure"):
        with opened(browser, out / student / "report.html", javascript=True) as (page, requests):
            assert page.locator("script, img, iframe").count() == 0
            assert "pwned" not in page.title()
            dialogs: list[str] = []
            page.on("dialog", lambda dialog, dialogs=dialogs: dialogs.append(dialog.message))
            page.wait_for_timeout(100)
            assert dialogs == []
            assert "<script>alert(1)</script>" in page.inner_text("body")
        assert [url for url in requests if not url.startswith("file:")] == []


@pytest.mark.parametrize("command", ["check", "grade"])
def test_grader_check_and_grade_show_what_the_code_printed_and_raised_without_its_escapes(grader_in_process, tmp_path,
                                                                                         command):
    path = forged_submission(tmp_path, "forged_messages")
    extra = ["--out", str(tmp_path / "out")] if command == "grade" else []
    result = grader_in_process("--isolation", "process", command, str(path), "--problem", "value-basic", *extra)
    assert result.returncode == 0, result.stderr
    assert_safe_terminal(result.stdout)
    assert_safe_terminal(result.stderr)
    if command == "check":  # only visible programs ran: the student sees their prints, made harmless
        assert "Your code printed" in result.stdout and "\u241b]0;pwned title\u2407" in result.stdout
        assert "ValueError" in result.stdout


def test_grade_writes_every_format_for_a_file_whose_name_is_not_utf8(grader_in_process, tmp_path):
    path = tmp_path / os.fsdecode(b"caf\xe9 \x1b[2J.py")
    path.write_bytes((REPO / "submissions" / "carol.py").read_bytes())
    printed = grader_in_process("--isolation", "process", "grade", str(path), "--problem", "value-basic")
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout)["status"] == "graded"
    out = tmp_path / "out"
    written = grader_in_process("--isolation", "process", "grade", str(path), "--problem", "value-basic",
                                "--out", str(out), "--format", FORMATS)
    assert written.returncode == 0, written.stderr
    assert_safe_terminal(written.stdout)
    assert sorted(p.name for p in out.iterdir()) == sorted(["report.json", "report.html", "summary.md", "junit.xml",
                                                           "results.json", "classroom.json"])
    assert_safe_markdown((out / "summary.md").read_text(encoding="utf-8"))
    assert_safe_xml((out / "junit.xml").read_text(encoding="utf-8"))
    assert_safe_html((out / "report.html").read_text(encoding="utf-8"))


# ------------------------------------------------------------------ grader ci and GitHub


def _run_ci(tmp_path: Path, paths: list[Path]) -> tuple[str, Path]:
    github = GitHubFiles(None, tmp_path / "step_summary.md", tmp_path / "github_output")
    stdout = io.StringIO()
    request = CiRequest(paths=tuple(paths), problem_id="value-basic", base=None, head=None,
                        submissions_dir="submissions", out=tmp_path / "ci" / "out", formats=("html", "md"))
    run_ci(request, course=find_course(REPO), load_problem=lambda pid: _problem_and_expected(pid)[0],
           grade=lambda problem, path: grade(problem.id, path), github=github, stdout=stdout)
    return stdout.getvalue(), github.step_summary  # type: ignore[return-value]


def test_ci_annotations_summary_and_outputs_cannot_be_forged(tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    paths = [forged_submission(folder, "forged_messages"), forged_submission(folder, "forged_load_failure")]
    log, summary = _run_ci(tmp_path, paths)
    assert_safe_workflow_log(log)
    assert log.count("::error file=") >= 2  # the grader's own annotations are all there
    assert_clean_text(summary.read_text())
    rendered = MarkdownIt("commonmark").enable("table").render(summary.read_text())
    parsed = html_elements(rendered)
    assert set(parsed.tags) <= ALLOWED_MARKDOWN_ELEMENTS | {"h1"} and parsed.tags.count("h2") == 2
    outputs = (tmp_path / "github_output").read_text().splitlines()
    assert [line.split("=", 1)[0] for line in outputs] == ["score", "max_score", "percent", "submissions", "result"]
    json.loads(base64.b64decode(outputs[-1].split("=", 1)[1]))


def test_ci_refuses_a_file_name_with_control_characters_in_one_line(tmp_path):
    path = tmp_path / "a\n::add-mask::x\n::stop-commands::y.py"
    path.write_bytes((REPO / "submissions" / "alice.py").read_bytes())
    with pytest.raises(CiError) as refused:
        _run_ci(tmp_path, [path])
    message = str(refused.value)
    assert "\n" not in message and "rename" in message
    assert_safe_workflow_log(message)


def test_a_submission_whose_stem_is_dot_dot_stays_inside_out(tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    path = folder / "...py"  # its stem is ".."
    path.write_bytes((REPO / "submissions" / "alice.py").read_bytes())
    _run_ci(tmp_path, [path])
    out = tmp_path / "ci" / "out"
    assert sorted(p.name for p in (tmp_path / "ci").iterdir()) == ["out"]  # nothing in the parent of --out
    written = [p for p in out.iterdir() if p.is_dir()]
    assert len(written) == 1 and written[0].name not in (".", "..") and (written[0] / "summary.md").is_file()


# ------------------------------------------------------------------ any text, any name


@pytest.fixture(scope="module")
def carol():
    return grade("value-basic", REPO / "submissions" / "carol.py")


def _raised(test: TestResult, message: str) -> TestResult:
    """The test as if the submission raised ``message`` in it, through the real channel parser."""
    problem, expected = _problem_and_expected("value-basic")
    spec_test = problem.test(test.name)
    layout = ResultLayout.of(spec_test.to_wire())
    observed = parse_program([], {"type": "ValueError", "message": message, "line": 3, "step": 0}, layout)
    verdict = judge(spec_test, expected[test.name], observed)
    return dataclasses.replace(test, verdict=verdict, status=verdict.status, score=0.0)


TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=200),  # surrogates and controls included
    st.binary(max_size=200).map(lambda raw: raw.decode("utf-8", "surrogateescape")),
)
NAMES = st.binary(min_size=1, max_size=30).filter(lambda raw: b"/" not in raw and b"\0" not in raw)


# the carol fixture is a whole Report: hypothesis warns that its repr is large when it shows the arguments
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=TEXT, raw_name=NAMES)
def test_any_message_and_file_name_leave_every_output_well_formed(carol, tmp_path, message, raw_name):
    problem, _ = _problem_and_expected("value-basic")
    name = os.fsdecode(raw_name)
    tests = []
    for test in carol.tests:
        if test.visibility is Visibility.VISIBLE and test.name == "a node added to itself":
            test = _raised(test, message)
        elif test.visibility is not Visibility.VISIBLE:  # a withheld test's message spells its program
            test = _raised(test, f"{message}\n{problem.test(test.name).program.source}")
        tests.append(test)
    # what it printed (on the visible tests: no other run's output is ever captured), as the
    # channel hands it on
    printed = clean(message.encode("utf-8", "surrogatepass"), 4096)
    report = dataclasses.replace(carol, tests=tuple(tests), submission_path=Path("/class") / f"{name}.py",
                                 stdout=printed, stderr=printed)
    hidden_lines = {line.strip() for t in problem.tests if t.visibility is not Visibility.VISIBLE
                    for line in t.program.source.splitlines() if "+" in line or "*" in line}
    visible_lines = {line.strip() for t in problem.tests if t.visibility is Visibility.VISIBLE
                     for line in t.program.source.splitlines()}
    secrets = hidden_lines - visible_lines
    outputs = {
        "report.html": render_html(report),
        "summary.md": render_markdown(report),
        "junit.xml": render_junit(report),
        "classroom.json": render_classroom(report),
        "results.json": render_gradescope(report),
        "terminal": render_check(report_view(report, Audience.STUDENT), Style(colour=False)),
        "annotations": "\n".join(annotation_commands(report, "submissions/x.py")),
        "report.json tests": json.dumps(report.to_json()["tests"], ensure_ascii=False),
    }
    assert_safe_html(outputs["report.html"])
    assert_safe_markdown(outputs["summary.md"])
    assert_safe_xml(outputs["junit.xml"])
    json.loads(outputs["classroom.json"])
    json.loads(outputs["results.json"])
    assert_safe_terminal(outputs["terminal"])
    assert_safe_workflow_log(outputs["annotations"])
    assert_safe_terminal(render_grade(report_view(report, Audience.INSTRUCTOR), Style(colour=False)))
    for output_name, text in outputs.items():
        leaked = [secret for secret in secrets if secret in text]
        assert not leaked, f"{output_name}: {leaked}"
    # the files of a class: the student's folder inside --out, grades.csv and index.html
    out = tmp_path / "out"
    student = safe_file_name(name)
    assert (out / student).resolve().parent == out.resolve()
    assert not set(student) & set('"\\:<>|*?'), "a folder name actions/upload-artifact or Windows refuses"
    row = row_from_report(student, json.loads(json.dumps(report.to_json())))
    write_class_files([row], out, problem)
    assert_safe_csv((out / "grades.csv").read_bytes().decode("utf-8-sig"))
    assert_safe_html((out / "index.html").read_text(encoding="utf-8"))


# ------------------------------------------------------------------ hidden programs


def _step_fragments(program) -> set[str]:
    """How a step of a program looks on the wire (what a submission would carry out), for
    steps that name an operation: a leaf alone says nothing."""
    return {json.dumps(step, separators=(",", ":")) for step in program.to_wire() if step["kind"] != "leaf"}


def test_a_visible_tests_message_cannot_carry_hidden_programs_out(tmp_path):
    problem, _ = _problem_and_expected("value-basic")
    path = tmp_path / "exfiltrate.py"
    path.write_bytes((FORGED / "exfiltrate_hidden_programs.py").read_bytes())
    report = grade("value-basic", path)
    visible = set().union(*(_step_fragments(t.program) for t in problem.tests if t.visibility is Visibility.VISIBLE))
    hidden = set().union(*(_step_fragments(t.program) for t in problem.tests if t.visibility is not Visibility.VISIBLE))
    secrets = hidden - visible
    assert secrets
    outputs = [render_html(report), render_markdown(report), render_junit(report), render_classroom(report),
               render_gradescope(report), json.dumps(report.to_json()["tests"]),
               "\n".join(annotation_commands(report, "x.py"))]
    leaked = {secret for secret in secrets for text in outputs if secret in unescape(text).replace("\\", "")}
    assert not leaked, f"{len(leaked)} steps of hidden programs reached student-facing files"
