"""Every scenario submission, graded through the real sandbox: correct styles get full
marks, each classic bug loses points, broken files are graded with a clear message.

``grade`` (tests/conftest.py) grades each file in a fresh process forked by one warm sandbox
per problem, as ``grader batch`` does."""

from pathlib import Path

import pytest

from grader.diagnose import load_misconceptions
from grader.spec import find_course
from tests.conftest import PROBLEM_IDS, REPO, SUBMISSION_FIXTURES, grade, student


def scenario_files(prefix: str) -> list:
    return [
        pytest.param(problem_id, path, id=f"{problem_id}/{path.stem}")
        for problem_id in PROBLEM_IDS
        for path in sorted((SUBMISSION_FIXTURES / problem_id).glob(f"{prefix}_*.py"))
    ]


def misconception_files() -> list:
    return [
        pytest.param(problem_id, path, id=f"{problem_id}/{path.stem}")
        for problem_id in PROBLEM_IDS
        for path in sorted((REPO / "problems" / problem_id / "misconceptions").glob("*.py"))
    ]


def docstring_first_line(path: Path) -> str:
    import ast

    return (ast.get_docstring(ast.parse(path.read_bytes())) or "").splitlines()[0]


@pytest.mark.parametrize(("problem_id", "path"), scenario_files("correct"))
def test_correct_submissions_in_any_style_get_full_marks_on_data_and_grad(problem_id, path):
    report = grade(problem_id, path)
    assert report.status == "graded"
    lost = [(t.name, student(t).output) for t in report.tests if t.score < t.max_score]
    if "repr" in path.stem:
        # a differently formatted or missing repr costs the repr checks, never data or grad
        assert lost and all("repr" in name for name, _ in lost), lost
    else:
        assert not lost, lost


@pytest.mark.parametrize(("problem_id", "path"), misconception_files())
def test_each_known_misconception_loses_points_and_is_named_rightly_or_not_at_all(problem_id, path):
    report = grade(problem_id, path)
    assert report.status == "graded"
    failed = [t for t in report.tests if t.score < t.max_score]
    assert failed, f"{path.name} ({docstring_first_line(path)}) scored full marks"
    if report.diagnosis is None:
        return  # it fails like another cause on the visible tests: silence, not a guess
    own = next(m for m in load_misconceptions(find_course(REPO).load(problem_id)) if m.path == path)
    assert report.diagnosis.misconception.cause == own.cause
    explained = [t for t in failed if t.visibility.value == "visible" and t.name in report.diagnosis.explained]
    assert explained
    problem = find_course(REPO).load(problem_id)
    for test in explained:  # beside the test's own hint (or the error's), never instead of it
        assert student(test).diagnosis == report.diagnosis.misconception.hint
        own_hint = problem.test(test.name).hint
        assert student(test).hint == own_hint or (test.status.value == "error" and student(test).hint != student(test).diagnosis)


@pytest.mark.parametrize(
    ("problem_id", "name"),
    [
        ("value-basic", "grad_overwritten"),
        ("value-basic", "relu_gate_ge_zero"),
        ("value-basic", "mul_backward_own_data"),
        ("value-full", "pow_missing_exponent_factor"),
        ("value-full", "rsub_sign"),
        ("value-full", "neg_no_graph"),
        ("value-tanh", "tanh_backward_one_minus_t"),
        ("value-tanh", "tanh_backward_uses_input"),
        ("value-lecture", "exp_backward_uses_input"),
        ("value-lecture", "truediv_no_graph"),
        ("value-softmax", "log_backward_uses_output"),
        ("value-softmax", "exp_backward_uses_input"),
    ],
)
def test_distinctive_misconceptions_are_named_exactly(problem_id, name):
    path = REPO / "problems" / problem_id / "misconceptions" / f"{name}.py"
    own = next(m for m in load_misconceptions(find_course(REPO).load(problem_id)) if m.path == path)
    report = grade(problem_id, path)
    assert report.diagnosis is not None and report.diagnosis.misconception.cause == own.cause


@pytest.mark.parametrize(("problem_id", "least"),
                         [("value-basic", 15), ("value-full", 10), ("value-tanh", 6), ("value-lecture", 15),
                          ("value-softmax", 15)])
def test_each_problem_has_its_library_of_known_misconceptions(problem_id, least):
    assert len(list((REPO / "problems" / problem_id / "misconceptions").glob("*.py"))) >= least


def test_syntax_error_is_graded_with_its_line_and_zero_points():
    report = grade("value-basic", SUBMISSION_FIXTURES / "value-basic" / "broken_syntax_error.py")
    assert (report.status, report.score) == ("failed_to_load", 0)
    assert "SyntaxError on line" in report.message
    assert all(t.status.value == "error" for t in report.tests)


def test_a_file_without_class_value_says_so_and_names_what_it_found():
    report = grade("value-basic", SUBMISSION_FIXTURES / "value-basic" / "broken_no_value_class.py")
    assert report.status == "failed_to_load"
    assert "defines no class named Value" in report.message


def test_an_exception_inside_backward_costs_only_the_tests_that_call_backward():
    report = grade("value-basic", SUBMISSION_FIXTURES / "value-basic" / "broken_backward_raises.py")
    assert report.status == "graded"
    errors = [t for t in report.tests if t.status.value == "error"]
    assert errors and all("raised" in student(t).output or t.visibility.value == "hidden" for t in errors)
    visible = [t for t in errors if t.visibility.value == "visible"]
    assert any("backward" in student(t).output for t in visible)


def test_a_repr_that_raises_costs_only_the_repr_test():
    report = grade("value-basic", SUBMISSION_FIXTURES / "value-basic" / "broken_repr_raises.py")
    lost = [t.name for t in report.tests if t.score < t.max_score]
    assert lost == [t.name for t in report.problem.tests if "repr" in t.checks] and lost


def test_missing_method_is_named_in_the_hint():
    report = grade("value-basic", SUBMISSION_FIXTURES / "value-basic" / "broken_relu_missing.py")
    hints = [student(t).hint for t in report.tests if t.status.value == "error" and t.visibility.value == "visible"]
    assert any("no `relu`" in hint for hint in hints), hints


def test_a_failing_visible_test_names_node_field_expected_and_got_and_a_hidden_one_only_its_status():
    report = grade("value-basic", REPO / "submissions" / "carol.py")
    by_name = {t.name: t for t in report.tests}
    visible = by_name["a node added to itself"]
    assert student(visible).output.startswith("grad of a") and "expected 6, got 3" not in student(visible).output
    assert "expected 2, got 1" in student(visible).output
    hidden = by_name["shared intermediate node"]
    assert hidden.score < hidden.max_score
    assert student(hidden).output == "Hidden test failed." and student(hidden).hint == ""


def test_a_submission_that_links_to_the_reference_gets_nothing_from_it(tmp_path):
    link = tmp_path / "mallory.py"
    link.symlink_to(REPO / "reference" / "value_basic.py")
    report = grade("value-basic", link)
    assert (report.status, report.score) == ("failed_to_load", 0)
    assert "symbolic link" in report.message
    # nor is the target hashed or read for findings in the grader: nothing of it is in the report
    import hashlib

    target = hashlib.sha256((REPO / "reference" / "value_basic.py").read_bytes()).hexdigest()
    assert report.submission_sha256 != target and report.findings == ()
