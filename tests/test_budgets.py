"""Time budgets from the reference (issue 18): a buggy file costs about what a correct one does.

The files are the independent blow-up set in ``benchmarks/blowups`` (written without the
misconception library) and the batch benchmark's correct-but-quadratic class."""

import shutil
import sys
from pathlib import Path

import pytest

from grader.budgets import FLOOR_SECONDS, TIMES_PER_NODE, budget_for, reference_costs
from grader.grading import grade_submission
from grader.sandbox.session import SKIPPED
from grader.spec import Course
from grader.view import Audience, view_of
from tests.conftest import REPO, grade, namespace_isolation_or_skip, student

BLOWUPS = REPO / "benchmarks" / "blowups" / "value-basic"
LADDER = """
  - name: a ladder of diamonds
    points: 1
    visibility: visible
    check: [data, grad]
    program: |
      a = Value(1)
{rungs}
      x30.backward()
"""


def _quadratic_file(tmp_path: Path) -> Path:
    """The batch benchmark's correct class whose backward() rebuilds the order for every node."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import batch
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    path = tmp_path / "quadratic.py"
    path.write_text(batch.sources("value-basic")["slow"][0])
    return path


def _by_name(report):
    return {test.name: test for test in report.tests}


def _said(test) -> str:
    """What the instructor's report says of a test (hidden ones included)."""
    return view_of(test, Audience.INSTRUCTOR).output


@pytest.mark.slow
def test_a_correct_but_quadratic_backward_passes_every_test_the_largest_graphs_included(tmp_path):
    for path in [_quadratic_file(tmp_path), *sorted(BLOWUPS.glob("quad_*.py"))]:
        report = grade("value-basic", path)
        assert report.score == report.max_score, (path.name, [t.name for t in report.tests if t.score < t.max_score])


def test_a_budget_allows_a_floor_and_a_share_of_the_reference_per_node(course):
    problem = course.load("value-basic")
    costs = reference_costs(problem)
    largest = max(problem.tests, key=lambda test: len(test.program.nodes))
    budget = budget_for(largest, costs[largest.name], problem.limits.test_seconds)
    assert budget.seconds >= FLOOR_SECONDS + TIMES_PER_NODE * len(largest.program.nodes) * costs[largest.name] - 1e-4
    assert budget.seconds > 10 * costs[largest.name]  # a slower but linear style has room
    assert budget.seconds <= problem.limits.test_seconds


@pytest.fixture
def ladder_course(tmp_path: Path) -> Course:
    """value-basic with one more visible test: a ladder of thirty diamonds. A walk without a
    visited set takes 2^30 steps on it."""
    shutil.copytree(REPO / "problems", tmp_path / "problems")
    shutil.copytree(REPO / "reference", tmp_path / "reference")
    rungs = "\n".join(
        f"      p{k} = {below} * 1\n      q{k} = {below} * 1\n      x{k} = p{k} + q{k}"
        for k, below in ((k, "a" if k == 1 else f"x{k - 1}") for k in range(1, 31))
    )
    spec = tmp_path / "problems/value-basic/problem.yaml"
    spec.write_text(spec.read_text().replace("\ntests:\n", "\ntests:\n" + LADDER.format(rungs=rungs).lstrip("\n"), 1))
    return Course(tmp_path)


def test_an_exponential_walk_is_stopped_within_its_budget_and_told_so(ladder_course):
    problem = ladder_course.load("value-basic")
    report = grade_submission(problem, BLOWUPS / "exp_topo_no_visited_t1.py", isolation=_isolation(),
                              diagnose_failures=False)
    ladder = _by_name(report)["a ladder of diamonds"]
    assert ladder.status.value == "timeout"
    assert student(ladder).output.startswith("too slow: stopped after")
    assert "times what the reference needs" in student(ladder).output
    assert report.duration_s < problem.limits.test_seconds  # the budget, not the wall limit, stopped it
    # its data was right before backward() hung: the partial credit of a test whose grads alone are wrong
    assert _by_name(report)["a node added to itself"].score == _by_name(report)["a node added to itself"].max_score


def test_a_number_that_grows_without_bound_ends_its_test_at_once_with_its_size():
    report = grade("value-basic", BLOWUPS / "grow_mul_uses_grad_t1.py")
    exploded = [t for t in report.tests if "grows without bound" in _said(t)]
    assert exploded, [_said(t) for t in report.tests]
    assert all(t.status.value == "error" for t in exploded)
    assert all("about 10^" in _said(t) and "(stopped at once)" in _said(t) for t in exploded)
    assert report.duration_s < 10


@pytest.mark.slow
def test_after_two_tests_of_a_shape_ran_over_budget_the_rest_of_it_is_not_run():
    report = grade("value-basic", BLOWUPS / "loop_while_prev_t5.py")
    by_shape: dict[str, list] = {}
    for test in report.tests:
        if test.name.startswith("generated "):
            by_shape.setdefault(test.name.rsplit(" #", 1)[0], []).append(test)
    assert by_shape
    for shape, tests in by_shape.items():
        ran = [t for t in tests if _said(t) != SKIPPED]
        skipped = [t for t in tests if _said(t) == SKIPPED]
        assert len(ran) == min(2, len(tests)), (shape, [_said(t) for t in tests])
        assert all(_said(t).startswith("too slow") for t in ran)
        assert all(t.status.value == "timeout" and t.score == 0 for t in skipped)
    # a whole class of hanging tests costs seconds, not the minute of the submission's limit
    assert report.duration_s < 20


def test_a_program_stopped_by_its_budget_is_not_run_a_second_time(course):
    """The second pass (objects at other addresses) skips what the first pass had to stop."""
    problem = course.load("value-basic")
    report = grade("value-basic", BLOWUPS / "loop_while_prev_t5.py")
    stopped = [t for t in report.tests if _said(t).startswith("too slow")]
    assert stopped and not any("different results in two runs" in _said(t) for t in stopped)
    assert problem.tests  # the problem loaded


def _isolation():
    try:
        return namespace_isolation_or_skip()
    except pytest.skip.Exception:
        from grader.sandbox import Isolation

        return Isolation.PROCESS

