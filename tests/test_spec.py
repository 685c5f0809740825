import shutil
from pathlib import Path

import pytest

from grader.spec import Course, SpecError, Visibility
from tests.conftest import PROBLEM_IDS, REPO


@pytest.fixture
def scratch_course(tmp_path: Path) -> Course:
    """A copy of this repository's course that a test may break."""
    shutil.copytree(REPO / "problems", tmp_path / "problems")
    shutil.copytree(REPO / "reference", tmp_path / "reference")
    return Course(tmp_path)


def edit(course: Course, problem_id: str, old: str, new: str) -> None:
    path = course.spec_path(problem_id)
    text = path.read_text()
    assert old in text, f"the scenario's text is not in the spec: {old!r}"
    path.write_text(text.replace(old, new, 1))


def line_of(course: Course, problem_id: str, text: str) -> int:
    lines = course.spec_path(problem_id).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


@pytest.mark.parametrize("problem_id", PROBLEM_IDS)
def test_every_problem_loads_with_visible_and_hidden_tests(course, problem_id):
    problem = course.load(problem_id)
    visibilities = {test.visibility for test in problem.tests}
    assert {Visibility.VISIBLE, Visibility.HIDDEN} <= visibilities
    assert problem.max_score > 0 and problem.example is not None


def test_a_schema_error_names_file_line_and_field(scratch_course):
    edit(scratch_course, "value-basic", "    points: 1\n    visibility: visible\n    check: [data, grad]\n    hint: a node used",
         "    points: lots\n    visibility: visible\n    check: [data, grad]\n    hint: a node used")
    with pytest.raises(SpecError) as caught:
        scratch_course.load("value-basic")
    error = caught.value
    assert error.path == scratch_course.spec_path("value-basic")
    assert error.field == "tests[2].points"
    assert error.line == line_of(scratch_course, "value-basic", "points: lots")
    assert "'lots' is not of type 'number'" in str(error)


def test_a_program_using_an_operation_the_problem_lacks_is_a_spec_error_on_its_line(scratch_course):
    edit(scratch_course, "value-basic", "      b = a + a\n", "      b = 2 * a\n")
    with pytest.raises(SpecError) as caught:
        scratch_course.load("value-basic")
    assert caught.value.field == "tests[2].program"
    assert caught.value.line == line_of(scratch_course, "value-basic", "b = 2 * a")
    assert "has `*` only as Value * (Value or number) (mul)" in caught.value.message


def test_values_only_problem_rejects_plain_numbers_in_programs(scratch_course):
    edit(scratch_course, "value-tanh", "      t = x.tanh()\n", "      t = (x + 1).tanh()\n")
    with pytest.raises(SpecError, match=r"has `\+` only as Value \+ Value \(add\)"):
        scratch_course.load("value-tanh")


def test_invalid_yaml_reports_its_line(scratch_course):
    edit(scratch_course, "value-full", "title: Autograd", "title: [Autograd")
    with pytest.raises(SpecError) as caught:
        scratch_course.load("value-full")
    assert "not valid YAML" in str(caught.value) and caught.value.line is not None


def test_an_unknown_field_is_rejected(scratch_course):
    edit(scratch_course, "value-tanh", "title: Backprop", "titel: oops\ntitle: Backprop")
    with pytest.raises(SpecError, match="titel"):
        scratch_course.load("value-tanh")


def test_a_duplicate_test_name_is_rejected_where_it_repeats(scratch_course):
    repeated = line_of(scratch_course, "value-tanh", "- name: tanh of one value")
    edit(scratch_course, "value-tanh", "- name: tanh of one value", "- name: the task's example")
    with pytest.raises(SpecError, match="duplicate test name \"the task's example\"") as raised:
        scratch_course.load("value-tanh")
    assert raised.value.line == repeated and raised.value.field.endswith(".name")


def test_unknown_problem_lists_the_known_ones(course):
    with pytest.raises(SpecError, match=f"known: {', '.join(sorted(PROBLEM_IDS))}"):
        course.load("value-nope")


def test_no_expected_number_is_typed_into_a_test(course):
    """Expected values come only from the reference: tests carry programs, never results."""
    import yaml

    for problem_id in PROBLEM_IDS:
        raw = yaml.safe_load(course.spec_path(problem_id).read_text())
        for test in raw["tests"]:
            assert set(test) <= {"name", "points", "visibility", "program", "check", "repr", "hint"}


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        ('{name: mul, kind: binary, operator: "*", operands: [value, value_or_number]}',
         '{name: mul, kind: binary, operator: "<<", operands: [value, value_or_number]}',
         "api.operations[1].operator", "'<<' is not one of"),
        ('{name: mul, kind: binary, operator: "*", operands: [value, value_or_number]}',
         '{name: mul, kind: binary, operator: "*", operands: [number, number]}',
         "api.operations[1].operands", "one side at least must take a Value"),
        ('{name: mul, kind: binary, operator: "*", operands: [value, value_or_number]}',
         '{name: plus, kind: binary, operator: "+", operands: [value, value]}',
         "api.operations[1].operands", "'plus' and 'add' (api.operations[0]) would both run the same code"),
        ("{name: relu, kind: method, kinks: [0]}", "{name: relu, kind: method, operands: [value, value]}",
         "api.operations[2].operands", "a method operation takes no 'operands'"),
        ("{name: relu, kind: method, kinks: [0]}", "{name: relu, kind: method, draws: [{numbers: [2]}]}",
         "api.operations[2].draws", "no such place"),
        ("{name: relu, kind: method, kinks: [0]}", "{name: relu, kind: sideways}",
         "api.operations[2].kind", "'sideways' is not one of"),
        ("{name: relu, kind: method, kinks: [0]}", "{name: __class__, kind: method}",
         "api.operations[2].name", "does not match"),
        ("{name: relu, kind: method, kinks: [0]}", "{name: add, kind: method}",
         "api.operations[2].name", "would both run the same code"),
        ("{name: relu, kind: method, kinks: [0]}", "{name: relu, kind: method, arguments: 1, kinks: [0]}",
         "api.operations[2].kinks", "inputs of a method that takes no arguments"),
        ("{name: relu, kind: method, kinks: [0]}", "{name: relu, kind: method, arguments: 2, draws: [{numbers: [2]}]}",
         "api.operations[2].draws", "takes at most one argument"),
    ],
)
def test_an_operation_the_language_cannot_run_is_refused_with_file_line_and_field(scratch_course, old, new, field, words):
    edit(scratch_course, "value-basic", old, new)
    with pytest.raises(SpecError) as caught:
        scratch_course.load("value-basic")
    assert caught.value.field == field
    assert caught.value.line == line_of(scratch_course, "value-basic", new)
    assert words in caught.value.message
