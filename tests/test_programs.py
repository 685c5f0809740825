import pytest

from grader.programs import ProgramError, StepKind, parse_program
from grader.spec import find_course
from tests.conftest import REPO


def whitelist_of(problem_id: str):
    """What a problem of this repository declares its programs may use."""
    return find_course(REPO).load(problem_id, visible_only=True).api.whitelist


BASIC, VALUES_ONLY, FULL = (whitelist_of(p) for p in ("value-basic", "value-tanh", "value-full"))


def test_nested_expressions_are_flattened_into_named_intermediate_nodes():
    program = parse_program("a = Value(2)\nb = Value(-3)\nc = Value(10)\nd = a + b * c\nd.backward()", BASIC)
    assert [node.display for node in program.nodes] == ["a", "b", "c", "b * c", "d"]
    assert [step.kind for step in program.steps] == [StepKind.LEAF] * 3 + [StepKind.BINARY] * 2 + [StepKind.BACKWARD]
    assert program.nodes[-1].parents == ("a", "_1")


def test_constants_keep_their_side_so_reflected_operators_are_exercised():
    program = parse_program("a = Value(2)\nb = 2 - a\nc = a ** -1\nd = -a", FULL)
    assert [step.op for step in program.steps] == ["value", "rsub", "pow", "neg"]
    assert program.steps[1].operands == (("const", 2), ("ref", "a"))
    assert program.steps[2].operands == (("ref", "a"), ("const", -1))


@pytest.mark.parametrize(
    ("source", "whitelist", "line", "words"),
    [
        ("a = Value(2)\nb = 2 * a", BASIC, 2, "has `*` only as Value * (Value or number) (mul)"),
        ("a = Value(2)\nb = a ** 2", BASIC, 2, "`**` is not part of this problem (allowed: add, backward, mul, relu)"),
        ("a = Value(2)\nb = a.tanh()", BASIC, 2, "the method `tanh` is not part of this problem"),
        ("a = Value(2)\nb = a + 1", VALUES_ONLY, 2, "has `+` only as Value + Value (add)"),
        ("a = Value(2)\nb = -a", BASIC, 2, "unary `-` is not part of this problem"),
        ("a = Value(2)\nb = a.relu(2)", BASIC, 2, "`relu()` takes no arguments"),
        ("a = Value(2)\nb = sum([a, a])", BASIC, 2, "only `Value(...)` may be called"),
        ("a = Value(2)\nb = a.backward()", BASIC, 2, "returns nothing: call it as a statement"),
        ("a = Value(2)\nb = a + c", BASIC, 2, "`c` is used before it is assigned"),
        ("a = Value(2)\na = a + a", BASIC, 2, "assigned twice"),
        ("import os", BASIC, 1, "not a statement of the test language"),
        ("a = Value(2)\nprint(a)", BASIC, 2, "not a statement"),
        ("a = Value(2)\nb = a.__class__", BASIC, 2, "not an expression"),
        ("a = Value(2, label='a')", BASIC, 1, "keyword `label` is not part"),
        ("a = Value(2)\nb = a", BASIC, 2, "creates no new node"),
        ("a = Value(2)\nb = (", BASIC, 2, "not valid Python"),
        ("a = Value(2)\nb = a ** a", FULL, 2, "has `**` only as Value ** number (pow)"),
    ],
)
def test_programs_outside_the_language_or_whitelist_are_rejected_with_their_line(source, whitelist, line, words):
    with pytest.raises(ProgramError) as caught:
        parse_program(source, whitelist)
    assert caught.value.line == line
    assert words in caught.value.message


def test_wire_form_carries_only_what_the_interpreter_executes():
    program = parse_program("a = Value(2, label='a')\nb = a.tanh()\nb.backward()", VALUES_ONLY)
    wire = program.to_wire()
    assert wire[0] == {"kind": "leaf", "target": "a", "op": "value", "operands": [["const", 2]], "label": "a", "line": 1}
    assert wire[1]["op"] == "tanh" and wire[2] == {**wire[2], "kind": "backward", "op": "backward"}
    assert {key for step in wire for key in step} == {"kind", "target", "op", "operands", "label", "line"}
