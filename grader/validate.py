"""``grader validate``: is a problem fit to grade students with?

A problem is valid when its spec loads (schema, every program parses against the
whitelist), the reference runs every program without raising, the reference gets full
marks through the real sandbox, the example's printed output is what the reference
really prints, every known misconception loses points, and every clause of the statement
has a test that fails when only that clause is broken (``clauses.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.check import SubmissionStatus
from grader.reference import (
    expected_observations,
    load_reference_class,
    run_reference,
)
from grader.sandbox import Isolation
from grader.spec import Course, Problem, ReferenceError, SpecError


@dataclass(frozen=True, slots=True)
class ValidationResult:
    problem_id: str
    problems: tuple[str, ...] = field(default=())
    """What is wrong, one sentence each; empty when valid."""
    notes: tuple[str, ...] = field(default=())
    """What was checked and found right."""

    @property
    def valid(self) -> bool:
        return not self.problems


def validate_problem(course: Course, problem_id: str, isolation: Isolation) -> ValidationResult:
    try:
        problem = course.load(problem_id)
    except SpecError as error:
        return ValidationResult(problem_id, (str(error),))
    try:
        load_reference_class(problem)
    except ReferenceError as error:
        return ValidationResult(problem_id, (str(error),))
    problems, notes = [], [f"spec: {len(problem.tests)} tests, {problem.max_score:g} points"]
    problems += _reference_runs_cleanly(problem)
    example_problem = _example_disagreement(problem)
    if example_problem:
        problems.append(example_problem)
    elif problem.example is not None:
        notes.append("example: its output is what the reference prints")
    if not problems:
        problems += _reference_full_marks(problem, isolation, notes)
    if not problems:  # the reference is right: what the variants show means something
        problems += _misconceptions_killed(problem, isolation, notes)
        problems += _clauses_audited(problem, isolation, notes)
    return ValidationResult(problem_id, tuple(problems), tuple(notes))


def _misconceptions_killed(problem: Problem, isolation: Isolation, notes: list[str]) -> list[str]:
    """Every known-buggy variant must lose points; report the kill rate and what the
    visible tests alone would catch."""
    from grader.diagnose import load_misconceptions
    from grader.grading import GradingSession
    from grader.spec import Visibility

    misconceptions = load_misconceptions(problem)
    if not misconceptions:
        notes.append("misconceptions: none in the problem's misconceptions/ folder")
        return []
    with GradingSession(problem, isolation=isolation, diagnose_failures=False) as session:
        reports = session.grade([m.path for m in misconceptions if m.path is not None])  # all from files
    survivors, caught_by_visible = [], 0
    for misconception, report in zip(misconceptions, reports, strict=True):
        lost = [t for t in report.tests if t.score < t.max_score]
        if not lost:
            survivors.append(misconception.name)
        caught_by_visible += any(t.visibility is Visibility.VISIBLE for t in lost)
    killed = len(misconceptions) - len(survivors)
    notes.append(
        f"misconceptions: {killed}/{len(misconceptions)} killed ({100 * killed / len(misconceptions):.0f}%); "
        f"the visible tests alone catch {caught_by_visible}/{len(misconceptions)}; seed {problem.seed} ({problem.seed_source})"
    )
    return [f"known misconception {name!r} scores full marks: add a test that catches it" for name in survivors]


def _clauses_audited(problem: Problem, isolation: Isolation, notes: list[str]) -> list[str]:
    """Every clause of the statement has a test that fails when only that clause is broken
    (``clauses.py``)."""
    from grader.clauses import clauses_path, failing_tests_problems, load_clauses, static_problems
    from grader.grading import GradingSession

    if not clauses_path(problem).is_file():
        # an instructor's own problem may have none yet: said, not refused
        notes.append(f"clauses: no {clauses_path(problem).name} beside problem.yaml, so the statement's clauses "
                     "are not audited (see README, the clause audit)")
        return []
    try:
        clauses = load_clauses(problem)
    except SpecError as error:
        return [str(error)]
    found = static_problems(problem, clauses)
    variants = sorted({clause.broken_by for clause in clauses if clause.broken_by.is_file()})
    with GradingSession(problem, isolation=isolation, diagnose_failures=False) as session:
        reports = dict(zip(variants, session.grade(variants), strict=True))
    found += failing_tests_problems(
        problem, clauses, lambda path: {t.name for t in reports[path].tests if t.score < t.max_score})
    if not found:
        notes.append(f"clauses: the statement's {len(clauses)} clauses are caught by a test each")
    return found


def _reference_runs_cleanly(problem: Problem) -> list[str]:
    found = []
    for name, observation in expected_observations(problem).items():
        test = problem.test(name)
        if observation.error is not None:
            found.append(f"{problem.spec_path}:{test.line}: test {name!r}: the reference raised {observation.error.describe()}")
    return found


def example_output(problem: Problem) -> str:
    """What ``print(*nodes)`` shows after running the example on the reference."""
    assert problem.example is not None
    observation = run_reference(problem, problem.example.program)
    return " ".join(observation.nodes[name].repr.text or "" for name in problem.example.printed)


def _example_disagreement(problem: Problem) -> str | None:
    if problem.example is None:
        return None
    printed = example_output(problem)
    if printed == problem.example.output:
        return None
    return (
        f"{problem.spec_path}:{problem.example.line}: example.output is not what the reference prints.\n"
        f"    the spec says:       {problem.example.output}\n"
        f"    the reference prints: {printed}"
    )


def _reference_full_marks(problem: Problem, isolation: Isolation, notes: list[str]) -> list[str]:
    from grader.grading import grade_submission

    report = grade_submission(problem, problem.reference_path, isolation=isolation)
    if report.score == report.max_score and report.status is SubmissionStatus.GRADED:
        notes.append(f"reference: {report.score:g}/{report.max_score:g} through the sandbox ({report.isolation})")
        return []
    from grader.view import Audience, report_view

    instructor = report_view(report, Audience.INSTRUCTOR)
    failing = [f"{t.name} ({t.status.value}: {t.output})" for t in instructor.tests if t.score < t.max_score]
    return [f"the reference scores {report.score:g}/{report.max_score:g}; failing: {'; '.join(failing)}"]
