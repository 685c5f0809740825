"""The clause audit: every clause of each statement is caught by a test, and `grader validate`
says where (file, line, field) when one is not."""

import re
import shutil
from pathlib import Path

import pytest

from grader.clauses import failing_tests_problems, load_clauses, sentences, static_problems
from grader.spec import SpecError, find_course
from tests.conftest import PROBLEM_IDS, REPO


def scratch_course(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "problems", tmp_path / "problems")
    shutil.copytree(REPO / "reference", tmp_path / "reference")
    return tmp_path


@pytest.mark.parametrize("problem_id", PROBLEM_IDS)
def test_every_sentence_of_every_statement_has_an_audited_clause(problem_id):
    problem = find_course(REPO).load(problem_id)
    clauses = load_clauses(problem)
    assert static_problems(problem, clauses) == []
    assert len(clauses) >= len(sentences(problem.statement))


@pytest.mark.parametrize("problem_id", PROBLEM_IDS)
def test_backward_on_a_leaf_and_data_and_repr_before_backward_are_visible_and_catch_a_clause(problem_id):
    problem = find_course(REPO).load(problem_id)
    visible = {t.name for t in problem.tests if t.visibility.value == "visible"}
    audited = {name for clause in load_clauses(problem) for name in clause.tests}
    for name in ("backward on a leaf", "data and repr before backward"):
        assert name in visible and name in audited
    before = problem.test("data and repr before backward")
    assert "repr" in before.checks and all(step.kind.value != "backward" for step in before.program.steps)


def _edit_clauses(course: Path, problem_id: str, edit) -> Path:
    path = course / "problems" / problem_id / "clauses.yaml"
    path.write_text(edit(path.read_text()))
    return path


def test_a_clause_with_no_test_is_an_error_naming_file_line_and_field(tmp_path):
    course = scratch_course(tmp_path)
    path = _edit_clauses(course, "value-tanh", lambda text: re.sub(r"tests: \[.*\]", "tests: []", text, count=1))
    problem = find_course(course).load("value-tanh")
    with pytest.raises(SpecError) as raised:
        load_clauses(problem)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.strip().startswith("- clause:"))
    assert str(raised.value).startswith(f"{path}:{line + 2}: clauses[0].tests: ")
    assert "names no test" in str(raised.value)


def test_a_sentence_without_a_clause_and_a_clause_not_in_the_statement_are_errors(tmp_path):
    course = scratch_course(tmp_path)
    # the last clause (repr) goes, and another one's words no longer match the statement
    _edit_clauses(course, "value-tanh", lambda text: text[: text.rindex("  - clause:")].replace(
        '"an optional `label`"', '"an optional `name`"'))
    problem = find_course(course).load("value-tanh")
    found = static_problems(problem, load_clauses(problem))
    assert any("the statement's sentence '`repr(v)` is `Value(data=X)`.' has no clause" in f for f in found), found
    assert any("clauses[3].clause: 'an optional `name`' is not in the statement" in f for f in found), found


def test_a_clause_whose_variant_no_test_catches_is_an_error(tmp_path):
    """The variant that breaks only the repr clause, graded as if no test failed: the audit says
    which clause has lost its test; and tests listed that do not fail are named, with those that do."""
    problem = find_course(REPO).load("value-basic")
    clauses = load_clauses(problem)
    repr_clause = next(c for c in clauses if "repr" in c.text)
    nothing_fails = failing_tests_problems(problem, [repr_clause], lambda path: set())
    assert len(nothing_fails) == 1 and "no test fails when only '`repr(v)` is `Value(data=X, grad=Y)`' is broken" in nothing_fails[0]
    assert f"clauses.yaml:{repr_clause.line}: clauses[{repr_clause.index}].tests" in nothing_fails[0]
    other = failing_tests_problems(problem, [repr_clause], lambda path: {"a diamond"})
    assert len(other) == 1 and "pass when only" in other[0] and "the tests that fail are ['a diamond']" in other[0]


def test_validate_fails_when_a_test_that_caught_a_clause_is_removed(grader_in_process, tmp_path):
    course = scratch_course(tmp_path)
    spec = course / "problems/value-tanh/problem.yaml"
    text = spec.read_text()
    # without both repr tests, nothing catches a repr that shows the grad too
    for name in ("repr shows data", "data and repr before backward"):
        start = text.index(f"  - name: {name}\n")
        text = text[:start] + text[text.index("  - name: ", start + 1):]
    spec.write_text(text)
    result = grader_in_process("--course", str(course), "--isolation", "process", "validate", "value-tanh")
    assert result.returncode == 1, result.stdout
    assert "value-tanh: INVALID" in result.stdout
    assert "known misconception 'repr_with_grad' scores full marks" in result.stdout  # both audits report
    assert re.search(r"clauses\.yaml:\d+: clauses\[11\]\.tests: no test fails when only '`repr\(v\)` is `Value\(data=X\)`' is broken", result.stdout), result.stdout


def test_a_malformed_clause_is_an_error_naming_file_line_and_field(tmp_path):
    course = scratch_course(tmp_path)
    path = _edit_clauses(course, "value-basic", lambda text: text.replace("    broken_by: clauses/data_not_kept.py\n", "", 1))
    problem = find_course(course).load("value-basic")
    with pytest.raises(SpecError) as raised:
        load_clauses(problem)
    line = [i for i, text in enumerate(path.read_text().splitlines(), 1) if text.strip().startswith("- clause:")][1]
    assert str(raised.value).startswith(f"{path}:{line}: clauses[1]: ") and "'broken_by' is a required property" in str(raised.value)
