import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader import interpreter
from grader.check import TestStatus, judge, numbers_equal, reprs_equal
from grader.observations import (
    NodeObservation,
    ProgramObservation,
    Reading,
    ResultLayout,
    RunStatus,
)
from grader.observations import parse_program as parse_result
from grader.programs import parse_program
from grader.reference import load_reference_class
from grader.spec import ProblemTest, Visibility, find_course
from tests.conftest import REPO, _problem_and_expected

WHITELIST = find_course(REPO).load("value-basic", visible_only=True).api.whitelist


@pytest.mark.parametrize(
    ("expected", "got", "equal"),
    [
        (2, 2.0, True),
        (0.1 + 0.2, 0.3, True),
        (1e-13, 0.0, True),
        (1.0, 1.0 + 1e-6, False),
        (math.nan, math.nan, True),
        (math.nan, 0.0, False),
        (math.inf, math.inf, True),
        (math.inf, -math.inf, False),
        (-3, 3, False),
    ],
)
def test_numbers_compare_with_tolerance_and_nan_and_inf_handled(expected, got, equal):
    assert numbers_equal(expected, got) is equal


@pytest.mark.parametrize(
    ("expected", "got", "equal"),
    [
        ("Value(data=2, grad=0)", "Value(data=2.0, grad=0.0)", True),
        ("Value(data=2, grad=0)", "Value(data=2, grad=1)", False),
        ("Value(data=2, grad=0)", "Value(2, 0)", False),
        ("Value(data=-0.5)", "Value(data=-0.50000000000001)", True),
    ],
)
def test_repr_compares_numbers_numerically_and_the_rest_exactly(expected, got, equal):
    assert reprs_equal(expected, got, exact=False) is equal


def test_exact_repr_mode_compares_text():
    assert not reprs_equal("Value(data=2, grad=0)", "Value(data=2.0, grad=0.0)", exact=True)


def _test(program: str, checks=("data", "grad")) -> ProblemTest:
    return ProblemTest("t", 1.0, Visibility.VISIBLE, parse_program(program, WHITELIST), checks, False, "hint!", 1)


def _observation(**nodes) -> ProgramObservation:
    return ProgramObservation(
        RunStatus.COMPLETED,
        {name: NodeObservation(Reading(number=d), Reading(number=g), Reading(text="")) for name, (d, g) in nodes.items()},
    )


def test_wrong_grads_are_reported_in_backward_order_with_expected_and_got():
    test = _test("a = Value(2)\nb = Value(3)\nc = a * b\nd = c + a\nd.backward()")
    expected = _observation(a=(2, 4), b=(3, 2), c=(6, 1), d=(8, 1))
    got = _observation(a=(2, 3), b=(3, 2), c=(6, 0), d=(8, 1))
    verdict = judge(test, expected, got)
    assert verdict.status is TestStatus.FAILED
    assert [(m.node, m.field, m.expected, m.got) for m in verdict.mismatches] == [
        ("c", "grad", "1", "0"),
        ("a", "grad", "4", "3"),
    ]
    assert verdict.hint == "hint!"


def test_a_non_number_never_equals_a_number():
    test = _test("a = Value(2)\nb = a + a")
    expected = _observation(a=(2, 0), b=(4, 0))
    got = ProgramObservation(
        RunStatus.COMPLETED,
        {
            "a": NodeObservation(Reading(other_type="AlwaysEqual", text="<x>"), Reading(number=0), Reading(text="")),
            "b": NodeObservation(Reading(number=4), Reading(number=0), Reading(text="")),
        },
    )
    verdict = judge(test, expected, got)
    assert not verdict.passed and verdict.mismatches[0].got == "a AlwaysEqual (<x>)"


def test_timeouts_and_crashes_are_not_failures_of_values():
    test = _test("a = Value(2)\nb = a + a")
    expected = _observation(a=(2, 0), b=(4, 0))
    timed_out = judge(test, expected, ProgramObservation(RunStatus.TIMED_OUT, detail="did not finish within 5 s"))
    crashed = judge(test, expected, ProgramObservation(RunStatus.CRASHED, detail="exited with code 3"))
    assert (timed_out.status, timed_out.summary) == (TestStatus.TIMEOUT, "did not finish within 5 s")
    assert (crashed.status, crashed.summary) == (TestStatus.ERROR, "exited with code 3")


def test_the_same_non_number_in_two_runs_agrees_but_never_passes_against_a_number():
    from grader.check import observations_agree

    test = _test("a = Value(2)\nb = a + a")
    none_grad = ProgramObservation(
        RunStatus.COMPLETED,
        {n: NodeObservation(Reading(number=2), Reading(other_type="NoneType", text="None"), Reading(text="")) for n in "ab"},
    )
    assert observations_agree(test, none_grad, none_grad)
    assert not judge(test, _observation(a=(2, 2), b=(4, 1)), none_grad).passed


def test_a_second_run_that_observed_nothing_does_not_count_as_nondeterminism():
    from grader.check import judge_twice

    test = _test("a = Value(2)\nb = a + a")
    right = _observation(a=(2, 0), b=(4, 0))
    wrong = _observation(a=(2, 0), b=(5, 0))
    starved = ProgramObservation(RunStatus.NOT_RUN, detail="importing did not finish within 2 s")
    assert judge_twice(test, right, right, starved).passed
    flagged = judge_twice(test, right, right, wrong)
    assert not flagged.passed and flagged.nondeterministic and "worse run counts" in flagged.summary


# ---------------------------------------------------------------- the wire fast path

_WIRE_VALUES = st.one_of(
    st.integers(-3, 3), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.sampled_from(["nan", "inf", "-inf", "junk"]), st.just({"other": "str", "text": "'x'"}),
    st.just({"error": {"type": "ValueError", "message": "no"}}), st.none(), st.lists(st.integers(), max_size=2),
)


def _reference_wires(problem_id: str):
    """Each test with the reference's result exactly as the sandbox would send it."""
    problem, _expected = _problem_and_expected(problem_id)
    value_class = load_reference_class(problem)
    return [(test, interpreter.run_program(value_class, test.to_wire())) for test in problem.tests[:12]]


@pytest.mark.parametrize("problem_id", ["value-basic", "value-full"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_judging_from_the_wire_gives_the_verdict_reading_every_node_gives(problem_id, data):
    """Most right answers are recognised by comparing results as they arrived; whatever a
    submission sends, the verdict is the one reading each node gives."""
    test, (values, error) = data.draw(st.sampled_from(_reference_wires(problem_id)))
    layout = ResultLayout.of(test.to_wire())
    expected = parse_result(values, error, layout)
    sent = list(values)
    for at in data.draw(st.lists(st.integers(0, len(sent) - 1), max_size=3)):
        is_repr = layout.with_repr and at % layout.stride == 2
        sent[at] = data.draw(_WIRE_VALUES if not is_repr else st.sampled_from(
            [sent[at], "Value(data=1, grad=0)", "<Value object at 0x7f00deadbeef>", 3]))
    for at in data.draw(st.lists(st.integers(0, len(sent) - 1), max_size=3)):
        sent[at] = data.draw(st.sampled_from(_twins(sent[at])))  # equal in Python, not on the wire
    cut = data.draw(st.sampled_from([len(sent), len(sent) - 1, len(sent) + 1, 0]))
    sent = [*sent, 1.0][:cut]
    observed = parse_result(sent, None, layout)
    read_everywhere = [ProgramObservation(o.status, dict(o.nodes), o.error) for o in (expected, observed)]
    assert judge(test, expected, observed) == judge(test, *read_everywhere)


def _twins(value):
    """Values == to ``value`` that a reader may still take differently."""
    twins = [value]
    if type(value) in (int, float) and value in (0, 1):
        twins.append(bool(value))
    if type(value) is float and value.is_integer():
        twins.append(int(value))
    if type(value) is int:
        twins.append(float(value))
    return twins


def test_a_graph_wrong_everywhere_keeps_the_first_differences_and_counts_the_rest():
    from dataclasses import replace as replaced

    from grader.check import MISMATCHES_KEPT, render_verdict

    problem, expected = _problem_and_expected("value-basic")
    test = next(t for t in problem.tests if "deep_chain" in t.name)
    right = expected[test.name]
    doubled = {name: replaced(node, grad=Reading(number=node.grad.number * 2 + 1)) for name, node in right.nodes.items()}
    verdict = judge(test, right, ProgramObservation(right.status, doubled, None))
    total = len(doubled)
    assert len(verdict.mismatches) == MISMATCHES_KEPT and verdict.more_mismatches == total - MISMATCHES_KEPT
    assert f"(and {total - 1} more differences)" in verdict.summary
    assert verdict.fraction == test.partial  # every data value right: the count still decides partial credit
    rendered = render_verdict(verdict).splitlines()
    assert len(rendered) == MISMATCHES_KEPT + 1 and rendered[-1] == f"... and {total - MISMATCHES_KEPT} more"
