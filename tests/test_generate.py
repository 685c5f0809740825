"""Generated hidden graphs: reproducible, in the reference's domain, correct by calculus, and
fair to every correct style of solution."""

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader import interpreter
from grader.check import judge
from grader.files import read_submission
from grader.generate import MAX_CHAIN_DEPTH, SHAPES, generate_program
from grader.observations import RunStatus
from grader.observations import ResultLayout, parse_program as parse_observation
from grader.programs import StepKind
from grader.reference import load_reference_class, reference_observation, run_reference
from grader.sandbox import Isolation, Sandbox, SandboxPolicy
from tests.conftest import PROBLEM_IDS, SUBMISSION_FIXTURES, _problem_and_expected

SEEDS = range(100)


def problem(problem_id):
    return _problem_and_expected(problem_id)[0]


def generate(p, shape: str, seed: int, index: int):
    """A program of ``shape`` for problem ``p``, its values computed by p's reference."""
    return generate_program(shape, p.api.whitelist, seed, index, load_reference_class(p))


@pytest.mark.parametrize("problem_id", PROBLEM_IDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_the_same_seed_gives_the_same_program_and_other_seeds_others(problem_id, shape):
    p = problem(problem_id)
    assert generate(p, shape, 7, 3).source == generate(p, shape, 7, 3).source
    sources = {generate(p, shape, seed, 0).source for seed in range(10)}
    assert len(sources) >= 5


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), shape=st.sampled_from(SHAPES), problem_id=st.sampled_from(PROBLEM_IDS))
def test_generated_programs_never_leave_the_references_domain(seed, shape, problem_id):
    p = problem(problem_id)
    program = generate(p, shape, seed, 0)  # parsing enforces the whitelist
    observation = run_reference(p, program)
    assert observation.status is RunStatus.COMPLETED, (program.source, observation.error)
    for node in observation.nodes.values():
        assert math.isfinite(node.data.number) and math.isfinite(node.grad.number), program.source


@pytest.mark.parametrize("problem_id", PROBLEM_IDS)
def test_deep_chains_stay_under_what_a_recursive_solution_survives(problem_id):
    p = problem(problem_id)
    depths = [len(generate(p, "deep_chain", seed, 0).nodes) for seed in range(20)]
    assert max(depths) <= MAX_CHAIN_DEPTH + 20 < 900 and min(depths) >= MAX_CHAIN_DEPTH // 2


def _root_value(value_class, steps, leaf: str | None, delta: float = 0.0) -> float:
    """The root's data with the leaf ``leaf`` (None: no leaf) moved by ``delta``."""
    root = steps[-1]["target"]  # programs end with root.backward()
    shifted = [
        {**step, "operands": [["const", step["operands"][0][1] + delta]]} if step["target"] == leaf else step
        for step in steps
        if step["kind"] != "backward"
    ]
    # only the root's data is compared: repr is not observed, and only the root is read back
    wire = {"steps": shifted, "repr": False}
    values, error = interpreter.run_program(value_class, wire)
    assert error is None, error
    return parse_observation(values, None, ResultLayout.of(wire)).nodes[root].data.number


@pytest.mark.parametrize("problem_id", PROBLEM_IDS)
@pytest.mark.parametrize("shape", [s for s in SHAPES if s not in ("relu_edges", "deep_chain")])
def test_the_reference_agrees_with_finite_differences_on_generated_graphs(problem_id, shape):
    p = problem(problem_id)
    value_class = load_reference_class(p)
    checked = 0
    for seed in range(8):
        program = generate(p, shape, seed, 0)
        steps = program.to_wire()
        grads = run_reference(p, program).nodes
        at_point = _root_value(value_class, steps, None)
        for step in (s for s in program.steps if s.kind is StepKind.LEAF):
            h = 1e-6 * max(1.0, abs(step.operands[0][1]))
            plus, minus = (_root_value(value_class, steps, step.target, d) for d in (h, -h))
            left = (at_point - minus) / h
            numeric = (plus - minus) / (2 * h)
            if not math.isclose(left, numeric, rel_tol=1e-5, abs_tol=1e-3):
                continue  # a relu kink at this point (every program has relu at 0): no derivative to compare
            assert math.isclose(grads[step.target].grad.number, numeric, rel_tol=1e-4, abs_tol=1e-4), (
                program.source, step.target)
            checked += 1
    assert checked >= 8


SEED_BLOCKS = [SEEDS[start:start + 10] for start in range(0, len(SEEDS), 10)]
"""The 100 seeds, ten at a time: each block is one test, so the blocks spread over the
workers and every program is generated, and run by the reference, exactly once."""


def generated_tests(problem_id: str, seeds: range):
    """Every generated test the problem declares, drawn with each seed, with the reference's observations."""
    p = problem(problem_id)
    declared = [(t.shape, t) for t in p.tests if t.generated]
    tests = [
        dataclasses.replace(template, name=f"{shape} seed {seed} #{index}",
                            program=generate(p, shape, seed, index))
        for seed in seeds
        for index, (shape, template) in enumerate(declared)
    ]
    return tests, [reference_observation(p, t.to_wire()) for t in tests]


def correct_solutions(problem_id: str) -> list:
    return sorted((SUBMISSION_FIXTURES / problem_id).glob("correct_*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("seeds", SEED_BLOCKS, ids=lambda seeds: f"seeds{seeds.start}-{seeds.stop - 1}")
@pytest.mark.parametrize("problem_id", PROBLEM_IDS)
def test_correct_solutions_in_every_style_never_lose_a_point_across_100_seeds(problem_id, seeds):
    """All generated tests of a block of seeds, run by every correct solution (each in a fresh
    process forked by one warm sandbox) and judged against the reference."""
    p = problem(problem_id)
    tests, expected = generated_tests(problem_id, seeds)
    policy = SandboxPolicy(
        dataclasses.replace(p.limits, submission_seconds=600, test_seconds=10), Isolation.PROCESS,
        p.api.class_name, p.api.required_attributes, p.forbidden_imports,
    )
    solutions = correct_solutions(problem_id)
    lost = {}
    with Sandbox(policy, [t.to_wire() for t in tests]) as sandbox:
        for solution in solutions:
            run = sandbox.run(read_submission(solution))
            lost[solution.name] = [test.name for test, want, got in zip(tests, expected, run.programs)
                                   if not judge(test, want, got).passed]
    losers = {name: names for name, names in lost.items() if names}
    assert len(lost) >= 6 and not losers, {
        name: f"lost {len(names)} of {len(tests)}: {names[:5]}" for name, names in losers.items()}


def test_every_problem_has_correct_solutions_in_at_least_six_styles():
    for problem_id in PROBLEM_IDS:
        assert len(correct_solutions(problem_id)) >= 6


EDGE_CASES_PER_SEED = range(30)


def _edge_cases(program, whitelist) -> set[str]:
    """Which edge cases a program holds, read from its steps and the reference's values."""
    found = set()
    leaves = {s.target: s.operands[0][1] for s in program.steps if s.kind is StepKind.LEAF}
    for step in program.steps:
        refs = [value for kind, value in step.operands if kind == "ref"]
        consts = [value for kind, value in step.operands if kind == "const"]
        if step.kind is StepKind.BINARY and step.op in ("mul", "rmul") and (0 in consts or any(leaves.get(r) == 0 for r in refs)):
            found.add("zero operand")
        if step.kind is StepKind.BINARY and len(refs) == 2 and refs[0] == refs[1]:
            found.add("a node used on both sides")
        if step.op == "pow" and leaves.get(refs[0]) == 0:
            found.add("zero base")
    return found


@pytest.mark.parametrize("problem_id", PROBLEM_IDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_every_generated_program_holds_its_edge_cases_whatever_the_seed(problem_id, shape):
    """A zero operand, a node on both sides, relu at exactly 0 and a zero base (where the problem
    has relu and **), in every program of every seed: a bug on an edge is caught by every seed."""
    p = problem(problem_id)
    wanted = {"zero operand", "a node used on both sides"} | ({"zero base"} if "pow" in p.api.names else set())
    for seed in EDGE_CASES_PER_SEED:
        program = generate(p, shape, seed, seed % 3)
        assert wanted <= _edge_cases(program, p.api.whitelist), (seed, program.source)
        if "relu" in p.api.names:
            observed = run_reference(p, program).nodes
            relu_inputs = [s.operands[0][1] for s in program.steps if s.op == "relu"]
            assert any(observed[name].data.number == 0 for name in relu_inputs), (seed, program.source)
