"""Expected observations: the trusted reference, run by the same interpreter in the
grader's own process. The only source of expected values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grader import interpreter
from grader.observations import ProgramObservation, ResultLayout, parse_program
from grader.programs import TestProgram
from grader.spec import Problem, load_value_class


def load_reference_class(problem: Problem) -> type:
    return load_value_class(problem.reference_path, problem.api.class_name, problem.id, problem.digest)


def run_reference(problem: Problem, program: TestProgram) -> ProgramObservation:
    """The reference on a program, repr and all."""
    return reference_observation(problem, {"steps": program.to_wire(), "repr": True})


def reference_observation(problem: Problem, wire: dict[str, Any]) -> ProgramObservation:
    """The reference on a program as the sandbox gets it (``ProblemTest.to_wire()``), observed
    as a submission is: the same fields, the same layout."""
    values, error = interpreter.run_program(load_reference_class(problem), wire)
    return parse_program(values, error, ResultLayout.of(wire))


def expected_observations(problem: Problem) -> Mapping[str, ProgramObservation]:
    """The reference's observations for every test of the problem, by test name."""
    return {test.name: reference_observation(problem, test.to_wire()) for test in problem.tests}
