"""Every scenario submission, graded through the real sandbox: correct styles get full
marks, each classic bug loses points, broken files are graded with a clear message."""

from pathlib import Path

import pytest

from tests.conftest import PROBLEM_IDS, SUBMISSION_FIXTURES, grade


def scenario_files(prefix: str) -> list:
    return [
        pytest.param(problem_id, path, id=f"{problem_id}/{path.stem}")
        for problem_id in PROBLEM_IDS
        for path in sorted((SUBMISSION_FIXTURES / problem_id).glob(f"{prefix}_*.py"))
    ]


def docstring_first_line(path: Path) -> str:
    import ast

    return (ast.get_docstring(ast.parse(path.read_bytes())) or "").splitlines()[0]


@pytest.mark.parametrize(("problem_id", "path"), scenario_files("correct"))
def test_correct_submissions_in_any_style_get_full_marks_on_data_and_grad(problem_id, path):
    report = grade(problem_id, path)
    assert report.status == "graded"
    lost = [(t.name, t.student_output) for t in report.tests if t.score < t.max_score]
    if "repr" in path.stem:
        # a differently formatted or missing repr costs the repr checks, never data or grad
        assert lost and all("repr" in name for name, _ in lost), lost
    else:
        assert not lost, lost


@pytest.mark.parametrize(("problem_id", "path"), scenario_files("bug"))
def test_each_classic_bug_loses_points_on_a_test_that_targets_it(problem_id, path):
    report = grade(problem_id, path)
    assert report.status == "graded"
    failed = [t for t in report.tests if t.score < t.max_score]
    assert failed, f"{path.name} ({docstring_first_line(path)}) scored full marks"
    assert report.score < report.max_score


@pytest.mark.parametrize("problem_id", PROBLEM_IDS)
def test_there_are_at_least_ten_classic_bugs_per_problem(problem_id):
    assert len(list((SUBMISSION_FIXTURES / problem_id).glob("bug_*.py"))) >= (10 if problem_id != "value-tanh" else 8)


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
    assert errors and all("raised" in t.student_output or t.visibility.value == "hidden" for t in errors)
    visible = [t for t in errors if t.visibility.value == "visible"]
    assert any("backward" in t.student_output for t in visible)


def test_a_repr_that_raises_costs_only_the_repr_test():
    report = grade("value-basic", SUBMISSION_FIXTURES / "value-basic" / "broken_repr_raises.py")
    lost = [t.name for t in report.tests if t.score < t.max_score]
    assert lost == ["repr shows data and grad"]


def test_missing_method_is_named_in_the_hint():
    report = grade("value-basic", SUBMISSION_FIXTURES / "value-basic" / "broken_relu_missing.py")
    hints = [t.student_hint for t in report.tests if t.status.value == "error" and t.visibility.value == "visible"]
    assert any("no `relu`" in hint for hint in hints), hints


def test_a_failing_visible_test_names_node_field_expected_and_got_and_a_hidden_one_only_its_status():
    report = grade("value-basic", SUBMISSION_FIXTURES / "value-basic" / "bug_grad_overwritten.py")
    by_name = {t.name: t for t in report.tests}
    visible = by_name["a node added to itself"]
    assert visible.student_output.startswith("grad of a") and "expected 6, got 3" not in visible.student_output
    assert "expected 2, got 1" in visible.student_output
    hidden = by_name["shared intermediate node"]
    assert hidden.score < hidden.max_score
    assert hidden.student_output == "Hidden test failed." and hidden.student_hint == ""
