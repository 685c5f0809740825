"""Expected observations: the trusted reference, run by the same interpreter in the
grader's own process. The only source of expected values."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping
from typing import Any

from grader import interpreter
from grader.observations import ProgramObservation, ResultLayout, parse_program
from grader.programs import TestProgram
from grader.spec import Problem


class ReferenceError(RuntimeError):
    """The reference itself is broken: an instructor's problem, never a student's."""


def load_reference_class(problem: Problem) -> type:
    name = f"_grader_reference_{problem.id.replace('-', '_')}_{problem.digest[:12]}"
    if name in sys.modules:
        module = sys.modules[name]
    else:
        spec = importlib.util.spec_from_file_location(name, problem.reference_path)
        if spec is None or spec.loader is None:
            raise ReferenceError(f"{problem.reference_path}: cannot be loaded")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            raise ReferenceError(f"{problem.reference_path}: raised {error!r} on import") from error
        sys.modules[name] = module
    value_class = getattr(module, problem.api.class_name, None)
    if not isinstance(value_class, type):
        raise ReferenceError(f"{problem.reference_path}: defines no class {problem.api.class_name}")
    return value_class


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
