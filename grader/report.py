"""Results -> report.json (its shape: the README's "report.json"), built from pytest-json-report's record.

Only what a student may see goes into a test's ``output``: for a hidden test, its name and
status and nothing of its program or expected values.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from grader import __version__
from grader.check import SubmissionStatus, TestResult, TestStatus, percent
from grader.diagnose import Diagnosis, Finding
from grader.graph import TestGraph
from grader.limits import Limits
from grader.observations import LoadFailure, LoadFailureKind
from grader.spec import Problem
from grader.text import clean_name
from grader.view import Audience, report_view

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Report:
    problem: Problem
    submission_path: Path
    submission_sha256: str
    status: SubmissionStatus
    message: str
    tests: tuple[TestResult, ...]
    isolation: str
    limits: Limits
    duration_s: float
    containment: Mapping[str, object] = field(default_factory=dict)
    """How the limits held on this machine (see ``grader.sandbox.launch.containment_of``)."""
    stdout: str = ""
    stderr: str = ""
    output_truncated: bool = False
    withheld_tests: int = 0
    """Tests not run because a student's check runs only the visible ones."""
    diagnosis: Diagnosis | None = None
    findings: tuple[Finding, ...] = ()
    graphs: Mapping[str, TestGraph] = field(default_factory=dict)
    """Computation graphs of failing visible tests, by test name (never of a hidden one)."""

    @property
    def submission_name(self) -> str:
        """The file's name as reports show it (a name is the student's text too)."""
        return clean_name(self.submission_path.name)

    @property
    def nondeterministic_tests(self) -> list[str]:
        return [t.name for t in self.tests if t.verdict is not None and t.verdict.nondeterministic]

    @property
    def score(self) -> float:
        return round(sum(test.score for test in self.tests), 6)

    @property
    def max_score(self) -> float:
        return round(sum(test.max_score for test in self.tests), 6)

    @property
    def percent(self) -> float:
        """Of the points there were (100 where there were none: nothing was lost)."""
        return percent(self.score, self.max_score)

    def to_json(self) -> dict[str, Any]:
        """report.json: the instructor's file, whose tests say what the student may see."""
        student = report_view(self, Audience.STUDENT)
        return {
            "schema_version": SCHEMA_VERSION,
            "grader_version": __version__,
            # the one thing besides the file, the problem and the seed that can change a result
            # that follows memory layout (see README "Same file, same grade")
            "python_version": platform.python_version(),
            "problem": {
                "id": self.problem.id,
                "version": self.problem.version,
                "digest": self.problem.digest,
                "seed": self.problem.seed,
                "seed_source": self.problem.seed_source,
            },
            "submission": {"path": clean_name(str(self.submission_path), 4096), "sha256": self.submission_sha256},
            "status": self.status.value,
            "output": self.message,
            "score": self.score,
            "max_score": self.max_score,
            "tests": [
                {
                    "name": test.name,
                    "score": round(test.score, 6),
                    "max_score": test.max_score,
                    "status": test.status.value,
                    "visibility": test.visibility.value,
                    "output": test.output,
                    "hint": test.hint,
                    "diagnosis": test.diagnosis,
                }
                for test in student.tests
            ],
            "captured": {"stdout": self.stdout, "stderr": self.stderr, "truncated": self.output_truncated},
            "isolation": {"level": self.isolation, "limits": asdict(self.limits),
                          **({"enforced": dict(self.containment)} if self.containment else {})},
            "withheld_tests": self.withheld_tests,
            "diagnosis": (
                {
                    "misconception": self.diagnosis.misconception.name,
                    "hint": self.diagnosis.misconception.hint,
                    "explains_tests": len(self.diagnosis.explained),
                    "confidence": self.diagnosis.confidence,
                }
                if self.diagnosis
                else None
            ),
            "findings": [{"line": f.line, "message": f.message} for f in self.findings],
            "nondeterministic_tests": self.nondeterministic_tests,
            "duration_s": round(self.duration_s, 4),
        }


def submission_status(load_failure: LoadFailure | None) -> SubmissionStatus:
    if load_failure is None:
        return SubmissionStatus.GRADED
    if load_failure.kind is LoadFailureKind.TIMED_OUT:
        return SubmissionStatus.TIMED_OUT
    return SubmissionStatus.FAILED_TO_LOAD


def grader_error_results(results: tuple[TestResult, ...], problem: Problem, names: tuple[str, ...]) -> tuple[TestResult, ...]:
    """The results, with every test of problem.yaml that got none as an error worth 0 of its
    points (so the score is never out of fewer points than the problem has)."""
    judged = {result.name for result in results}
    added = tuple(
        TestResult(test.name, 0.0, test.points, TestStatus.ERROR, test.visibility, None,
                   message="not judged: the grader failed on this test (not your fault)")
        for test in problem.tests if test.name not in judged
    )
    broken = set(names)
    kept = tuple(replace(r, score=0.0, status=TestStatus.ERROR, message="not judged: the check broke (not your fault)")
                 if r.verdict is None and r.name in broken else r for r in results)
    return kept + added


def grader_failure_report(problem: Problem, path: Path, message: str, isolation: str) -> Report:
    """The report of a file the grader itself failed on before judging it (the batch's worker
    broke, or died on it): every test an error worth 0 of its points, ``message`` saying why."""
    return Report(
        problem=problem,
        submission_path=path,
        submission_sha256="",
        status=SubmissionStatus.GRADER_ERROR,
        message=message,
        tests=grader_error_results((), problem, ()),
        isolation=isolation,
        limits=problem.limits,
        duration_s=0.0,
    )


def grader_error_message(names: tuple[str, ...]) -> str:
    shown = ", ".join(repr(name) for name in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (f"The grader could not judge {shown}. This is not a problem with your code: "
            "please tell your instructor (the grade is not final).")


def with_diagnosis(results: tuple[TestResult, ...], tests: Collection[str], diagnosis: str) -> tuple[TestResult, ...]:
    """The results, with ``diagnosis`` (a diagnosed misconception's hint) beside the own hint
    of the failed ones of ``tests``."""
    return tuple(
        replace(result, diagnosis=diagnosis)
        if result.name in tests and result.verdict is not None and not result.verdict.passed else result
        for result in results
    )


def render_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"
