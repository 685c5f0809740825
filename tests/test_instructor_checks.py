"""Instructors add ordinary pytest files next to a problem; they are graded with the YAML tests."""

import shutil
from pathlib import Path

import pytest

from grader.grading import grade_submission
from grader.sandbox import Isolation
from grader.spec import Course
from tests.conftest import REPO, student

EXTRA_CHECKS = '''
import pytest

@pytest.mark.points(2)
def test_leaf_grad_matches_reference(observed, expected):
    got = observed["a node added to itself"].nodes["a"].grad.number
    want = expected["a node added to itself"].nodes["a"].grad.number
    assert got == want, f"a.grad is {got}, the reference says {want}"

@pytest.mark.points(3)
@pytest.mark.visibility("hidden")
def test_every_grad_is_a_number(observed):
    assert all(node.grad.is_number for obs in observed.values() for node in obs.nodes.values())
'''


@pytest.fixture
def course_with_extra_checks(tmp_path: Path) -> Course:
    shutil.copytree(REPO / "problems", tmp_path / "problems")
    shutil.copytree(REPO / "reference", tmp_path / "reference")
    (tmp_path / "problems/value-basic/test_extra.py").write_text(EXTRA_CHECKS)
    return Course(tmp_path)


def test_instructor_checks_count_with_their_points_and_visibility(course_with_extra_checks):
    problem = course_with_extra_checks.load("value-basic")
    bug = REPO / "problems/value-basic/misconceptions/grad_overwritten.py"
    report = grade_submission(problem, bug, isolation=Isolation.PROCESS)
    by_name = {test.name: test for test in report.tests}
    extra = by_name["test_leaf_grad_matches_reference"]
    assert (extra.score, extra.max_score, extra.status.value) == (0, 2, "failed")
    assert "a.grad is 1, the reference says 2" in student(extra).output
    hidden = by_name["test_every_grad_is_a_number"]
    assert (hidden.score, hidden.max_score, hidden.visibility.value) == (3, 3, "hidden")
    assert report.max_score == problem.max_score + 5


def test_a_students_check_leaves_out_hidden_instructor_checks(course_with_extra_checks):
    problem = course_with_extra_checks.load("value-basic")
    correct = REPO / "tests/fixtures/submissions/value-basic/correct_seed.py"
    report = grade_submission(problem, correct, isolation=Isolation.PROCESS, visible_only=True)
    names = {test.name for test in report.tests}
    assert "test_leaf_grad_matches_reference" in names and "test_every_grad_is_a_number" not in names
    assert report.score == report.max_score
