"""What each audience may see of a report: the one place that decides it.

Every renderer (terminal, HTML, Markdown, JUnit, Gradescope, Classroom, CI annotations,
report.json's tests) takes a ``ReportView`` and nothing else, so the rule is written once:

- a **student** sees the details of a visible test (what went wrong, the hint, the program,
  its graph); of every other test (hidden, after the due date, after grades are published)
  only its name or number, its status and its points. What the code printed is shown only
  when no withheld program ran, since a print in ``__add__`` would spell one out;
- **Gradescope** enforces visibility itself (it hides an ``after_published`` test until the
  grades are published), so it also gets those tests' details; hidden and after-due-date
  tests say only their status even there (after the due date, students with an extension
  are still submitting);
- an **instructor** sees everything.

The seed of the hidden graphs is decided here too: a secret one reaches a student only as
its source and a fingerprint.

A ``ReportView`` carries the report's facts (scores, statuses, the load failure, findings),
never the Report or the Problem: no renderer can reach a withheld program by accident.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from grader.check import SubmissionStatus, TestResult, TestStatus, percent
from grader.graph import TestGraph
from grader.limits import Limits
from grader.spec import Problem, Visibility
from grader.text import clean_name

if TYPE_CHECKING:  # report.py builds its JSON from views: only the type is needed here
    from grader.report import Report


class Audience(str, Enum):
    STUDENT = "student"
    GRADESCOPE = "gradescope"
    INSTRUCTOR = "instructor"


SEED_FINGERPRINT_ROUNDS = 200_000
"""A slow hash, so a fingerprint does not hand out a guessable seed for free."""
DETAILED: Mapping[Audience, frozenset[Visibility]] = {
    Audience.STUDENT: frozenset({Visibility.VISIBLE}),
    Audience.GRADESCOPE: frozenset({Visibility.VISIBLE, Visibility.AFTER_PUBLISHED}),
    Audience.INSTRUCTOR: frozenset(Visibility),
}
"""The visibilities whose details each audience may see."""


def shown_in_detail(visibility: Visibility, audience: Audience) -> bool:
    """Whether ``audience`` may see the details (program, values, hint) of a test of this
    visibility: the rule every renderer, ``grader check`` and the student kit follow."""
    return visibility in DETAILED[audience]


@dataclass(frozen=True, slots=True)
class TestView:
    """One test as its audience may see it."""

    number: int
    """Its place in the report, from 1."""
    name: str
    status: TestStatus
    score: float
    max_score: float
    visibility: Visibility
    detailed: bool
    """False: everything below is empty but ``output``, which then says only the status."""
    output: str
    """What went wrong (empty when it passed), or for a withheld test its status in words."""
    summary: str
    """What went wrong in one line (the graph's table gives the rest), or empty."""
    hint: str
    diagnosis: str
    """The likely misconception behind the failure, shown beside the hint (never instead of it)."""
    program: str
    """The test program's source (instructor checks have none)."""
    graph: TestGraph | None
    line: int | None
    """The submission's line that raised, when known."""
    withheld_number: int
    """For a withheld test, its place among the withheld ones ("hidden test 3"); else 0."""

    __test__ = False

    @property
    def passed(self) -> bool:
        return self.status is TestStatus.PASSED

    @property
    def anonymous_name(self) -> str:
        """The name where even a withheld test's name is not shown: "hidden test N"."""
        return self.name if self.detailed else f"hidden test {self.withheld_number}"


@dataclass(frozen=True, slots=True)
class Misconception:
    name: str
    hint: str
    explains: int


@dataclass(frozen=True, slots=True)
class FindingView:
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class ReportView:
    """A report as one audience may see it."""

    audience: Audience
    problem_id: str
    problem_title: str
    problem_version: str
    submission_name: str
    """The file's name (not its folders), cleaned."""
    submission_path: str
    """The path it was graded at, cleaned."""
    status: SubmissionStatus
    message: str
    """Why the file could not be graded, else empty."""
    score: float
    max_score: float
    tests: tuple[TestView, ...]
    withheld_tests: int
    """Tests not even run (a student's check runs only the visible ones)."""
    stdout: str
    stderr: str
    output_truncated: bool
    """What the code printed while it ran the visible tests: the sandbox never captures the
    output of a process that held any other test's program (see ``grader.sandbox``)."""
    misconception: Misconception | None
    findings: tuple[FindingView, ...]
    nondeterministic: int
    seed: str
    """The hidden graphs' seed as the audience may see it."""
    isolation: str
    limits: Limits
    sha256: str
    duration_s: float

    @property
    def detailed(self) -> tuple[TestView, ...]:
        return tuple(t for t in self.tests if t.detailed)

    @property
    def withheld(self) -> tuple[TestView, ...]:
        return tuple(t for t in self.tests if not t.detailed)

    @property
    def percent(self) -> float:
        return percent(self.score, self.max_score)


def withheld_output(status: TestStatus) -> str:
    """All a withheld test says about itself beyond its name and points."""
    return "" if status is TestStatus.PASSED else f"Hidden test {status.value}."


def view_of(test: TestResult, audience: Audience, *, program: str = "", graph: TestGraph | None = None,
            number: int = 0, withheld_number: int = 0) -> TestView:
    """One test as ``audience`` may see it, given its program's source and its graph."""
    detailed = shown_in_detail(test.visibility, audience)
    return TestView(
        number=number,
        name=test.name,
        status=test.status,
        score=test.score,
        max_score=test.max_score,
        visibility=test.visibility,
        detailed=detailed,
        output=test.details if detailed else withheld_output(test.status),
        summary=test.verdict.summary if detailed and test.verdict is not None else "",
        hint=test.hint if detailed and test.status is not TestStatus.PASSED else "",
        diagnosis=test.diagnosis if detailed and test.status is not TestStatus.PASSED else "",
        program=program if detailed else "",
        graph=graph if detailed else None,
        line=test.verdict.line if detailed and test.verdict is not None else None,
        withheld_number=0 if detailed else withheld_number,
    )


def report_view(report: Report, audience: Audience) -> ReportView:
    """``report`` as ``audience`` may see it: the input of every renderer."""
    programs = {test.name: test.program.source.strip() for test in report.problem.tests}
    tests, withheld = [], 0
    for number, test in enumerate(report.tests, 1):
        withheld += not shown_in_detail(test.visibility, audience)
        tests.append(view_of(test, audience, program=programs.get(test.name, ""), graph=report.graphs.get(test.name),
                             number=number, withheld_number=withheld))
    diagnosis = report.diagnosis
    return ReportView(
        audience=audience,
        problem_id=report.problem.id,
        problem_title=report.problem.title,
        problem_version=report.problem.version,
        submission_name=report.submission_name,
        submission_path=clean_name(str(report.submission_path), 4096),
        status=report.status,
        message=report.message,
        score=report.score,
        max_score=report.max_score,
        tests=tuple(tests),
        withheld_tests=report.withheld_tests,
        stdout=report.stdout,
        stderr=report.stderr,
        output_truncated=report.output_truncated,
        misconception=Misconception(diagnosis.misconception.name, diagnosis.misconception.hint,
                                    len(diagnosis.explained)) if diagnosis else None,
        findings=tuple(FindingView(f.line, f.message) for f in report.findings),
        nondeterministic=len(report.nondeterministic_tests),
        seed=seed_text(report.problem, audience),
        isolation=report.isolation,
        limits=report.limits,
        sha256=report.submission_sha256,
        duration_s=report.duration_s,
    )


def seed_text(problem: Problem, audience: Audience) -> str:
    """The seed of the generated tests as ``audience`` may see it: in full only when it is
    the spec's public one, or for an instructor; a secret seed by its source and a
    fingerprint, so two reports can be compared without revealing it."""
    if problem.seed is None:
        return "none (no generated tests)"
    if problem.seed_source == "spec":
        return f"{problem.seed} (the problem's public seed)"
    if audience is Audience.INSTRUCTOR:
        return f"{problem.seed} (secret, from {problem.seed_source})"
    return f"secret, from {problem.seed_source}; fingerprint {seed_fingerprint(problem.seed)}"


@functools.lru_cache(maxsize=8)
def seed_fingerprint(seed: int) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", str(seed).encode(), b"grader seed fingerprint", SEED_FINGERPRINT_ROUNDS)
    return digest.hex()[:8]
