"""One submission through the whole flow: programs -> sandbox -> checks -> Report."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Mapping

from grader.diagnose import MisconceptionLibrary, default_cache_dir, diagnose, static_findings
from grader.graph import failure_graphs
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
    diagnose_failures: bool = True,
    library: MisconceptionLibrary | None = None,
) -> Report:
    """Grade one file. Never raises for anything the submission does."""
    withheld = 0
    if visible_only:
        visible = visible_part(problem)
        withheld, problem = len(problem.tests) - len(visible.tests), visible
    if expected is None:
        expected = expected_observations(problem)
    programs = [test.program.to_wire() for test in problem.tests]
    policy = sandbox_policy(problem, isolation)
    run = run_submission(submission, programs, policy)
    second_run = _second_run_of_hidden(problem, submission, programs, policy, run)
    diagnosis = None
    if diagnose_failures and run.load_failure is None:
        observed = {test.name: run.programs[i] for i, test in enumerate(problem.tests)}
        if library is None or library.problem.tests != problem.tests:
            library = MisconceptionLibrary(problem, default_cache_dir())
        diagnosis = diagnose(problem, expected, observed, library)
    hints = {name: diagnosis.misconception.hint for name in diagnosis.explained} if diagnosis else {}
    json_report = run_checks(CheckContext(problem, expected, run, visible_only, second_run, hints))
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
        diagnosis=diagnosis,
        findings=static_findings(submission.read_bytes(), problem),
        graphs=failure_graphs(problem.tests, expected, run.programs),
    )


def _second_run_of_hidden(problem, submission, programs, policy, run) -> dict[int, ProgramObservation]:
    """Hidden programs once more, in a fresh process: a grade must not depend on luck."""
    hidden = [i for i, test in enumerate(problem.tests) if test.visibility is not Visibility.VISIBLE]
    if not problem.rerun_hidden or not hidden or run.load_failure is not None:
        return {}
    again = run_submission(submission, [programs[i] for i in hidden], policy)
    return dict(zip(hidden, again.programs))
