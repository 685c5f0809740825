"""A verdict for every test, or a grader error: when the grader's own judging (or an
instructor's check) breaks, the report says so and that it is not the student's fault,
and never scores the submission out of fewer points than the problem has."""

import json
import shutil
from pathlib import Path

import pytest

import grader.pytest_plugin
from grader.formats import render_gradescope, render_markdown
from grader.grading import grade_submission
from grader.sandbox import Isolation
from grader.spec import Course
from tests.conftest import REPO, _problem_and_expected, grade

CORRECT = REPO / "submissions" / "alice.py"
BROKEN_TEST = "shared intermediate node"


def test_a_check_that_raises_inside_the_judging_makes_a_grader_error_naming_the_test(monkeypatch):
    judge = grader.pytest_plugin.judge_twice

    def breaks_on_one_test(test, *args):
        if test.name == BROKEN_TEST:
            raise ZeroDivisionError("a bug in the grader")
        return judge(test, *args)

    monkeypatch.setattr(grader.pytest_plugin, "judge_twice", breaks_on_one_test)
    problem, _ = _problem_and_expected("value-basic")
    report = grade("value-basic", CORRECT)

    assert report.status == "grader_error"
    assert repr(BROKEN_TEST) in report.message and "not a problem with your code" in report.message
    assert report.max_score == problem.max_score  # never a score out of fewer points
    assert [t.name for t in report.tests if t.status.value == "error"] == [BROKEN_TEST] + [
        t.name for t in problem.tests[problem.tests.index(problem.test(BROKEN_TEST)) + 1:]]
    # every format says it
    results = json.loads(render_gradescope(report))
    assert report.message in results["output"] and results["extra_data"] == {"grader_error": report.message}
    assert "grader\\_error" in render_markdown(report) or "grader_error" in render_markdown(report)


BROKEN_FIXTURE = '''
import pytest

@pytest.fixture
def broken():
    raise KeyError("the instructor's fixture has a bug")

def test_uses_a_broken_fixture(observed, broken):
    assert True
'''


@pytest.mark.parametrize(("name", "text", "says"), [
    ("test_fixture.py", BROKEN_FIXTURE, "test_uses_a_broken_fixture"),
    ("test_syntax.py", "def test_(:\n", "test_syntax.py"),
])
def test_an_instructor_check_that_cannot_run_makes_a_grader_error(tmp_path: Path, name, text, says):
    shutil.copytree(REPO / "problems", tmp_path / "problems")
    shutil.copytree(REPO / "reference", tmp_path / "reference")
    (tmp_path / "problems/value-basic" / name).write_text(text)
    problem = Course(tmp_path).load("value-basic")
    report = grade_submission(problem, CORRECT, isolation=Isolation.PROCESS, diagnose_failures=False)
    assert report.status == "grader_error"
    assert says in report.message and "not a problem with your code" in report.message
    assert report.max_score >= problem.max_score
