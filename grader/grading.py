"""One submission through the whole flow: programs -> sandbox -> checks -> Report."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Mapping

from grader.observations import ProgramObservation
from grader.pytest_plugin import CheckContext, run_checks
from grader.reference import expected_observations
from grader.report import Report, file_sha256, results_from_json_report, submission_status
from grader.sandbox import Isolation, SandboxPolicy, run_submission
from grader.spec import Problem, Visibility


def visible_part(problem: Problem) -> Problem:
    """The problem as a student checking their work sees it: visible tests only."""
    tests = tuple(test for test in problem.tests if test.visibility is Visibility.VISIBLE)
    return dataclasses.replace(problem, tests=tests)


def sandbox_policy(problem: Problem, isolation: Isolation) -> SandboxPolicy:
    return SandboxPolicy(
        limits=problem.limits,
        isolation=isolation,
        class_name=problem.api.class_name,
        required_attributes=problem.api.required_attributes,
        forbidden_imports=problem.forbidden_imports,
    )


def grade_submission(
    problem: Problem,
    submission: Path,
    *,
    isolation: Isolation,
    expected: Mapping[str, ProgramObservation] | None = None,
    visible_only: bool = False,
) -> Report:
    """Grade one file. Never raises for anything the submission does."""
    withheld = 0
    if visible_only:
        visible = visible_part(problem)
        withheld, problem = len(problem.tests) - len(visible.tests), visible
    if expected is None:
        expected = expected_observations(problem)
    programs = [test.program.to_wire() for test in problem.tests]
    run = run_submission(submission, programs, sandbox_policy(problem, isolation))
    json_report = run_checks(CheckContext(problem, expected, run, visible_only))
    load_failure = run.load_failure
    return Report(
        problem=problem,
        submission_path=submission,
        submission_sha256=file_sha256(submission),
        status=submission_status(load_failure),
        message=load_failure.detail if load_failure else "",
        tests=results_from_json_report(json_report, problem),
        isolation=run.isolation.value,
        limits=problem.limits,
        duration_s=run.duration_s,
        stdout=run.stdout,
        stderr=run.stderr,
        output_truncated=run.output_truncated,
        withheld_tests=withheld,
    )
