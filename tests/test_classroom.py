"""GitHub Classroom's runner output: what the grading reporter reads, scores that agree with
report.json, and nothing of a hidden test that a student could use."""

import base64
import json

import pytest

from grader.classroom import render_classroom, runner_output
from grader.formats import write_formats
from grader.spec import Visibility
from tests.conftest import REPO, SUBMISSION_FIXTURES, grade, with_test_visible_after_due_date

# the fields a version 3 runner writes (python-grader), as the reporter reads them
RUNNER_FIELDS = {"version", "status", "max_score", "tests"}
TEST_FIELDS = {"name", "status", "message", "test_code", "filename", "line_no", "execution_time", "score"}


@pytest.fixture(scope="module")
def report():
    # one test becomes after_due_date: Classroom has no due date, so it must stay withheld too
    return with_test_visible_after_due_date(grade("value-basic", REPO / "submissions" / "carol.py"), "relu at exactly zero")


def reporter_points(encoded: str) -> tuple[float, float]:
    """What notify-classroom.js sends Classroom: the sum of the tests' scores and max_score."""
    results = json.loads(base64.b64decode(encoded))
    return sum(test["score"] for test in results["tests"]), results["max_score"]


def test_runner_output_has_the_reporters_fields_and_the_reports_score(report):
    results = json.loads(render_classroom(report))
    assert set(results) == RUNNER_FIELDS and results["version"] == 3
    assert results["status"] == "fail"  # carol fails tests: the reporter fails the job
    assert all(set(test) == TEST_FIELDS for test in results["tests"])
    assert {test["status"] for test in results["tests"]} <= {"pass", "fail", "error"}
    assert all(isinstance(test["line_no"], int) for test in results["tests"])  # 0 = no line, as the reporter expects
    points, max_points = reporter_points(runner_output([report]))
    assert points == pytest.approx(report.score) and max_points == report.max_score
    assert 0 < points < max_points


def test_visible_failures_show_program_expected_and_hint(report):
    results = json.loads(render_classroom(report))
    by_name = {test["name"]: test for test in results["tests"]}
    failing = by_name["a node added to itself"]
    assert failing["status"] == "fail" and failing["score"] == 0
    assert "expected 2, got 1" in failing["message"] and "Hint:" in failing["message"]
    assert failing["test_code"] == "a = Value(3)\nb = a + a\nb.backward()"


def test_hidden_tests_show_no_name_program_or_expected_values(report):
    document = render_classroom(report)
    results = json.loads(document)
    texts = [value for test in results["tests"] for value in test.values() if isinstance(value, str)]
    withheld = [t for t in report.tests if t.visibility is not Visibility.VISIBLE]
    assert any(t.status.value == "failed" for t in withheld), "the scenario needs a failing withheld test"
    for test in withheld:
        assert test.name not in document
        problem_test = next((p for p in report.problem.tests if p.name == test.name), None)
        if problem_test is not None:
            assert not any(problem_test.program.source.strip() in text for text in texts)
    assert not any("expected" in text for entry in results["tests"] if entry["name"].startswith("hidden test ")
                   for text in entry.values() if isinstance(text, str))
    hidden_entries = [t for t in results["tests"] if t["name"].startswith("hidden test ")]
    assert len(hidden_entries) == len(withheld)
    for entry in hidden_entries:
        assert entry["test_code"] == "" and entry["line_no"] == 0
        assert entry["message"] in ("", "Hidden test failed.", "Hidden test error.", "Hidden test timeout.")


def test_the_line_of_a_raised_error_reaches_line_no():
    report = grade("value-basic", SUBMISSION_FIXTURES / "value-basic" / "broken_backward_raises.py")
    results = json.loads(render_classroom(report))
    raised = [t for t in results["tests"] if t["status"] == "error" and not t["name"].startswith("hidden")]
    assert raised and all(t["line_no"] == 28 for t in raised)  # `slef.data` in the fixture's __mul__
    assert all("NameError" in t["message"] for t in raised)


def test_a_file_that_does_not_load_is_an_error_that_says_why():
    report = grade("value-basic", REPO / "submissions" / "grace.py")
    results = json.loads(render_classroom(report))
    assert results["status"] == "error"
    assert all(t["score"] == 0 for t in results["tests"])
    assert any("SyntaxError" in t["message"] for t in results["tests"])


def test_several_files_add_up_and_keep_their_tests_apart(report):
    alice = grade("value-basic", REPO / "submissions" / "alice.py")
    points, max_points = reporter_points(runner_output([alice, report]))
    assert points == pytest.approx(alice.score + report.score)
    assert max_points == pytest.approx(alice.max_score + report.max_score)
    names = [t["name"] for t in json.loads(base64.b64decode(runner_output([alice, report])))["tests"]]
    assert "alice.py: a node added to itself" in names and "carol.py: a node added to itself" in names


def test_grade_out_writes_classroom_json_that_agrees_with_report_json(report, tmp_path):
    write_formats(report, tmp_path, ("json", "classroom"))
    report_json = json.loads((tmp_path / "report.json").read_text())
    classroom = json.loads((tmp_path / "classroom.json").read_text())
    assert sum(test["score"] for test in classroom["tests"]) == pytest.approx(report_json["score"])
    assert classroom["max_score"] == report_json["max_score"]
    assert len(classroom["tests"]) == len(report_json["tests"])
