"""Submissions through the whole flow: programs -> sandbox -> checks -> Report.

A ``GradingSession`` holds what is the same for every submission of a problem (the problem,
the reference's expected values, the misconception library, a warm sandbox), so that a batch
worker pays for them once; ``grade_submission`` is one file through a session of its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.budgets import budgeted_programs, reference_costs
from grader.check import SubmissionStatus, TestResult
from grader.diagnose import (
    Diagnosis,
    Finding,
    MisconceptionLibrary,
    default_cache_dir,
    diagnose,
    read_source,
)
from grader.files import content_digest, read_submission
from grader.graph import failure_graphs
from grader.observations import ProgramObservation
from grader.pytest_plugin import CheckContext, results_from_json_report, run_checks, unjudged
from grader.reference import expected_observations
from grader.report import (
    Report,
    grader_error_message,
    grader_error_results,
    submission_status,
    with_diagnosis,
)
from grader.sandbox import Isolation, Sandbox, SandboxPolicy, SubmissionRun
from grader.spec import Problem, Visibility
from grader.view import Audience, shown_in_detail

VISIBILITY_GROUPS = (Visibility.VISIBLE, Visibility.AFTER_DUE_DATE, Visibility.AFTER_PUBLISHED, Visibility.HIDDEN)
"""Each visibility level's programs run in a compartment of their own, visible ones first
(see ``grader.sandbox``): what a student sees now never comes from a process that held a
program they may not see."""

LAYOUT_SHIFTS = 61
"""How many different layouts the second pass may get (see ``interpreter.shift_memory_layout``)."""


def visible_part(problem: Problem) -> Problem:
    """The problem as a student checking their work sees it: the tests whose details a student
    may see (``grader.view`` decides), the others counted in ``withheld_tests``. What
    ``grader check`` runs, and all a student kit holds."""
    tests = tuple(test for test in problem.tests if shown_in_detail(test.visibility, Audience.STUDENT))
    return dataclasses.replace(problem, tests=tests, withheld_tests=problem.withheld_tests + len(problem.tests) - len(tests))


def sandbox_policy(problem: Problem, isolation: Isolation) -> SandboxPolicy:
    return SandboxPolicy(
        limits=problem.limits,
        isolation=isolation,
        class_name=problem.api.class_name,
        required_attributes=problem.api.required_attributes,
        forbidden_imports=problem.forbidden_imports,
    )


@dataclass(frozen=True, slots=True)
class _Evidence:
    """What was observed of one submission, before it is judged."""

    path: Path
    sha256: str
    run: SubmissionRun
    findings: tuple[Finding, ...]
    signals: frozenset[str]
    """The misconceptions the source points at (``diagnose.SourceReading.signals``)."""


class GradingSession:
    """Grades any number of submissions of one problem; close it (or use ``with``) to stop its
    sandbox. Reports do not depend on what else the session graded, or in which order."""

    def __init__(
        self,
        problem: Problem,
        *,
        isolation: Isolation,
        expected: Mapping[str, ProgramObservation] | None = None,
        visible_only: bool = False,
        diagnose_failures: bool = True,
        library: MisconceptionLibrary | None = None,
        costs: Mapping[str, float] | None = None,
    ) -> None:
        if visible_only:
            problem = visible_part(problem)
        self.withheld = problem.withheld_tests
        self.problem, self.visible_only = problem, visible_only
        self.expected = expected_observations(problem) if expected is None else expected
        if diagnose_failures and (library is None or library.problem.tests != problem.tests):
            library = MisconceptionLibrary(problem, default_cache_dir())
        self.library = library if diagnose_failures else None
        self.costs = reference_costs(problem) if costs is None else costs
        self.sandbox = Sandbox(sandbox_policy(problem, isolation), budgeted_programs(problem.tests, self.costs, problem.limits.test_seconds),
                               [VISIBILITY_GROUPS.index(test.visibility) for test in problem.tests],
                               [test.shape for test in problem.tests])
        # run again where a second layout can show anything: hidden programs with a shared node
        self.again = [i for i, test in enumerate(problem.tests)
                      if problem.rerun_hidden and test.visibility is not Visibility.VISIBLE
                      and test.program.has_shared_nodes]

    def load_library(self) -> None:
        """See ``MisconceptionLibrary.load``."""
        if self.library is not None:
            self.library.load(self.problem.tests, self.expected)

    def __enter__(self) -> GradingSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.sandbox.close()

    def grade(self, submissions: Sequence[Path], on_test: Callable[[int, bool], None] | None = None) -> list[Report]:
        """Grade each file; one pytest session judges them all. Never raises for anything a
        submission does. ``on_test`` is told each test as a run starts it: its index in
        ``problem.tests``, and whether it runs once more (``Sandbox.run``'s ``on_program``)."""
        evidence = [self._observe(path, on_test) for path in submissions]
        records = run_checks([CheckContext(self.problem, self.expected, e.run, self.visible_only) for e in evidence])
        return [self._report(e, results_from_json_report(record, self.problem), record) for e, record in zip(evidence, records, strict=True)]

    def _observe(self, path: Path, on_test: Callable[[int, bool], None] | None = None) -> _Evidence:
        source = read_submission(path)  # once: what runs is what is hashed and read for findings
        sha256 = content_digest(source)
        # the second pass: hidden programs once more, the submission's objects at other
        # addresses, so that a grade does not depend on luck; the shift is drawn from the
        # content, so the same file always gets the same two passes
        run = self.sandbox.run(source, again=self.again, again_shift=1 + int(sha256[:8] or "0", 16) % LAYOUT_SHIFTS,
                               on_program=on_test)
        reading = read_source(source, self.problem) if source is not None else None
        return _Evidence(path, sha256, run, reading.findings if reading else (), reading.signals if reading else frozenset())

    def _diagnose(self, evidence: _Evidence, results: Sequence[TestResult]) -> Diagnosis | None:
        """The known misconception behind the failures of the visible tests, if the evidence
        names one clearly (see ``diagnose.diagnose``)."""
        run = evidence.run
        if self.library is None or run.load_failure is not None:
            return None
        if all(result.verdict is None or result.verdict.passed for result in results):
            return None
        observed = {test.name: run.programs[i] for i, test in enumerate(self.problem.tests)}
        return diagnose(self.expected, observed, self.library, evidence.signals)

    def _report(self, evidence: _Evidence, results: tuple[TestResult, ...], record: dict[str, Any]) -> Report:
        run = evidence.run
        load_failure = run.load_failure
        status, message = submission_status(load_failure), load_failure.detail if load_failure else ""
        broken = unjudged(record, self.problem, results)
        if broken:  # a verdict for every test, or the report says the grader failed
            results = grader_error_results(results, self.problem, broken)
            status, message = SubmissionStatus.GRADER_ERROR, grader_error_message(broken)
        diagnosis = self._diagnose(evidence, results) if not broken else None
        if diagnosis is not None:
            results = with_diagnosis(results, diagnosis.explained, diagnosis.misconception.hint)
        return Report(
            problem=self.problem,
            submission_path=evidence.path,
            submission_sha256=evidence.sha256,
            status=status,
            message=message,
            tests=results,
            isolation=run.isolation.value,
            containment=run.containment,
            limits=self.problem.limits,
            duration_s=run.duration_s,
            stdout=run.stdout,
            stderr=run.stderr,
            output_truncated=run.output_truncated,
            withheld_tests=self.withheld,
            diagnosis=diagnosis,
            findings=evidence.findings,
            graphs=failure_graphs(self.problem.tests, self.expected, run.programs,
                                  {r.name for r in results if r.verdict is not None and r.verdict.mismatches}),
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
    costs: Mapping[str, float] | None = None,
    on_test: Callable[[int, bool], None] | None = None,
) -> Report:
    """Grade one file. Never raises for anything the submission does."""
    with GradingSession(
        problem, isolation=isolation, expected=expected, visible_only=visible_only,
        diagnose_failures=diagnose_failures, library=library, costs=costs,
    ) as session:
        return session.grade([submission], on_test)[0]
