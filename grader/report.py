"""Results -> report.json (the contract in DESIGN.md), built from pytest-json-report's record.

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
from grader.check import TestStatus, Verdict
from grader.diagnose import Diagnosis, Finding
from grader.graph import TestGraph
from grader.pytest_plugin import GRADER_PROPERTY
from grader.sandbox import LoadFailure, LoadFailureKind
from grader.spec import Limits, Problem, Visibility
from grader.text import clean_name
from grader.view import Audience, report_view

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class TestResult:
    name: str
    score: float
    max_score: float
    status: TestStatus
    visibility: Visibility
    verdict: Verdict | None
    """The structured judgement (None for instructor pytest checks)."""
    message: str = ""
    """For instructor pytest checks: the assertion message."""
    diagnosis: str = ""
    """The likely misconception behind this failure, in words (beside the test's own hint,
    never instead of it), when the diagnosis explains this test."""

    __test__ = False

    @property
    def details(self) -> str:
        """What went wrong, whatever the visibility: who may see it is ``grader.view``'s to say."""
        if self.verdict is None:
            return self.message
        return render_verdict(self.verdict)

    @property
    def hint(self) -> str:
        return self.verdict.hint if self.verdict is not None else ""


@dataclass(frozen=True, slots=True)
class Report:
    problem: Problem
    submission_path: Path
    submission_sha256: str
    status: str
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
        return 100.0 * self.score / self.max_score if self.max_score else 100.0

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
            "status": self.status,
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


def render_verdict(verdict: Verdict) -> str:
    """A verdict in plain words: what went wrong, then expected vs got per node."""
    if verdict.passed:
        return ""
    if not verdict.mismatches:
        return verdict.summary
    shown = verdict.mismatches
    width = max(len(f"{m.field} of {m.node}") for m in shown)
    lines = [f"{m.field} of {m.node}".ljust(width) + f"  expected {m.expected}, got {m.got}" for m in shown]
    if verdict.more_mismatches:
        lines.append(f"... and {verdict.more_mismatches} more")
    return "\n".join(lines)


def submission_status(load_failure: LoadFailure | None) -> str:
    if load_failure is None:
        return "graded"
    return "timed_out" if load_failure.kind is LoadFailureKind.TIMED_OUT else "failed_to_load"


def results_from_json_report(json_report: dict[str, Any], problem: Problem) -> tuple[TestResult, ...]:
    """pytest-json-report's record -> one TestResult per test (a check may judge several)."""
    results = []
    for entry in json_report.get("tests", []):
        for properties in _grader_properties(entry):
            verdict = Verdict.from_dict(properties["verdict"]) if "verdict" in properties else None
            status = verdict.status if verdict else _status_of_outcome(entry["outcome"])
            fraction = verdict.fraction if verdict else float(status is TestStatus.PASSED)
            results.append(
                TestResult(
                    name=properties["name"],
                    score=properties["points"] * fraction,
                    max_score=properties["points"],
                    status=status,
                    visibility=Visibility(properties["visibility"]),
                    verdict=verdict,
                    message="" if verdict else _failure_message(entry),
                )
            )
    return tuple(results)


def unjudged(json_report: dict[str, Any], problem: Problem, results: tuple[TestResult, ...]) -> tuple[str, ...]:
    """What got no verdict because the grader (or an instructor's check) broke, not the
    submission: a test of problem.yaml missing from the results, an instructor check whose
    setup or teardown raised, a check file that could not be collected."""
    judged = {result.name for result in results}
    missing = [test.name for test in problem.tests if test.name not in judged]
    broken = [prop["name"] for entry in json_report.get("tests", []) if entry.get("outcome") == "error"
              for prop in _grader_properties(entry) if "verdict" not in prop]
    uncollected = [str(c.get("nodeid") or "a check file") for c in json_report.get("collectors", [])]
    return tuple(dict.fromkeys(uncollected + broken + missing))  # the cause first: a file that broke stops every test


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


def _grader_properties(entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [prop[GRADER_PROPERTY] for prop in entry.get("user_properties", []) if GRADER_PROPERTY in prop]


def _status_of_outcome(outcome: str) -> TestStatus:
    return {"passed": TestStatus.PASSED, "failed": TestStatus.FAILED}.get(outcome, TestStatus.ERROR)


def _failure_message(entry: dict[str, Any]) -> str:
    for stage in ("setup", "call", "teardown"):
        crash = entry.get(stage, {}).get("crash")
        if crash and entry.get(stage, {}).get("outcome") != "passed":
            return str(crash.get("message", ""))[:2000]
    return ""


def render_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"
