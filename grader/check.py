"""Judge one test: the submission's observations against the reference's, as data.

Pure functions, no I/O: a Verdict carries the status, the mismatches (node, field,
expected, got) and a hint. Turning it into words for a student is the renderers' job.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from grader.observations import (
    ProgramObservation,
    RaisedError,
    Reading,
    RunStatus,
    nodes_wire,
    readable,
    same_wire,
)
from grader.programs import Node, Step
from grader.spec import ProblemTest, Visibility

REL_TOLERANCE = 1e-9
ABS_TOLERANCE = 1e-12
FIELDS_IN_ORDER = ("data", "grad", "repr", "label")
MISMATCHES_KEPT = 10
"""A verdict keeps the first differences (every report shows at most these) and counts the rest."""

# numbers inside a repr: 2, -3.5, 1e-05, nan, inf
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|[-+]?\b(?:nan|inf)\b")


class TestStatus(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    TIMEOUT = "timeout"

    __test__ = False


class SubmissionStatus(str, Enum):
    """A submission's status in report.json: graded (whatever the score), or why it could not be."""

    GRADED = "graded"
    FAILED_TO_LOAD = "failed_to_load"
    TIMED_OUT = "timed_out"
    GRADER_ERROR = "grader_error"

    def __str__(self) -> str:
        return self.value


def percent(score: float, max_score: float) -> float:
    """A score as a percent of the points there were: 100 where there were none (nothing was
    lost). Every percent the grader shows or compares is this one, rounded by its renderer."""
    return 100.0 * score / max_score if max_score else 100.0


@dataclass(frozen=True, slots=True)
class Mismatch:
    node: str
    """How the student knows the node: its name in the program, or its expression."""
    field: str
    expected: str
    got: str


@dataclass(frozen=True, slots=True)
class Verdict:
    status: TestStatus
    fraction: float
    """Share of the test's points earned, 0..1."""
    summary: str
    """One line: what went wrong, or empty when passed."""
    mismatches: tuple[Mismatch, ...] = ()
    """The first differences (``MISMATCHES_KEPT``: all that any report shows)."""
    hint: str = ""
    nondeterministic: bool = False
    """The test's two passes (the second with the objects at other addresses) disagreed;
    this verdict is the worse of the two."""
    line: int | None = None
    """Line of the submission where the test's error was raised, when known."""
    more_mismatches: int = 0
    """Differences beyond the ones kept, counted."""

    @property
    def passed(self) -> bool:
        return self.status is TestStatus.PASSED

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "fraction": self.fraction,
            "summary": self.summary,
            "mismatches": [
                {"node": m.node, "field": m.field, "expected": m.expected, "got": m.got}
                for m in self.mismatches
            ],
            "hint": self.hint,
            "nondeterministic": self.nondeterministic,
            "line": self.line,
            "more_mismatches": self.more_mismatches,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Verdict:
        return cls(
            status=TestStatus(raw["status"]),
            fraction=float(raw["fraction"]),
            summary=raw["summary"],
            mismatches=tuple(Mismatch(**m) for m in raw["mismatches"]),
            hint=raw["hint"],
            nondeterministic=raw.get("nondeterministic", False),
            line=raw.get("line"),
            more_mismatches=raw.get("more_mismatches", 0),
        )


PASSED = Verdict(TestStatus.PASSED, 1.0, "")


def numbers_equal(expected: float, got: float) -> bool:
    """Numeric equality with tolerance; NaN equals NaN, infinities equal themselves."""
    if math.isnan(expected) or math.isnan(got):
        return math.isnan(expected) and math.isnan(got)
    return math.isclose(expected, got, rel_tol=REL_TOLERANCE, abs_tol=ABS_TOLERANCE)


def reprs_equal(expected: str, got: str, *, exact: bool) -> bool:
    """Exact text, or the same text around numbers that are equal as numbers."""
    if exact:
        return expected == got
    expected_numbers, got_numbers = _NUMBER.findall(expected), _NUMBER.findall(got)
    if _NUMBER.sub("#", expected) != _NUMBER.sub("#", got) or len(expected_numbers) != len(got_numbers):
        return False
    return all(numbers_equal(float(a), float(b)) for a, b in zip(expected_numbers, got_numbers, strict=True))


def judge(
    test: ProblemTest,
    expected: ProgramObservation,
    observed: ProgramObservation,
    missing_attributes: tuple[str, ...] = (),
) -> Verdict:
    """Compare one program's observations; the reference's are the truth."""
    if observed.status is RunStatus.TIMED_OUT:
        return _before_backward(test, expected, observed, TestStatus.TIMEOUT, observed.detail or "the test timed out")
    if observed.status is RunStatus.CRASHED:
        return _before_backward(test, expected, observed, TestStatus.ERROR, observed.detail or "the test could not run")
    if observed.status is RunStatus.NOT_RUN:
        return Verdict(TestStatus.ERROR, 0.0, observed.detail or "the test could not run")
    if observed.error is not None and expected.error is None:
        return _raised(test, observed, missing_attributes)
    if observed.error is None and expected.error is None and _identical(test, expected, observed):
        return PASSED
    kept: list[Mismatch] = []
    count, grads_only = 0, True
    for node, field, want, have in _differences(test, expected, observed):
        count += 1
        grads_only = grads_only and field == "grad"
        if len(kept) < MISMATCHES_KEPT:
            kept.append(Mismatch(node.display, field, want.describe(), have.describe() if have else "no such node"))
    if not count:
        return Verdict(TestStatus.PASSED, 1.0, "")
    fraction = test.partial if grads_only else 0.0
    first = kept[0]
    summary = f"{first.field} of {first.node}: expected {first.expected}, got {first.got}"
    if count > 1:
        summary += f" (and {count - 1} more difference{'s' if count > 2 else ''})"
    if fraction:
        summary += f" (every data value is right: {fraction:.0%} of the points)"
    return Verdict(TestStatus.FAILED, fraction, summary, tuple(kept), test.hint, more_mismatches=count - len(kept))


def _before_backward(
    test: ProblemTest, expected: ProgramObservation, observed: ProgramObservation, status: TestStatus, detail: str
) -> Verdict:
    """A program that hung or crashed: the nodes it computed before ``backward()`` (the sandbox
    runs it again without it, see ``Sandbox.run``) still earn the test's partial credit when
    every data value is right, as a test whose grads alone are wrong does: every field the test
    checks but the grads (a repr too, where it is checked) must be right, as for a test that
    finished."""
    if not observed.nodes or not test.partial or "data" not in test.checks:
        return Verdict(status, 0.0, detail)
    checked = tuple(field for field in test.checks if field != "grad")
    wrong = [(node, want, have) for node, _field, want, have in _differences(test, expected, observed, checked)]
    if wrong:
        return Verdict(status, 0.0, detail)
    return Verdict(status, test.partial,
                   f"{detail}; every data value computed before backward() is right: {test.partial:.0%} of the points")


def judge_twice(
    test: ProblemTest,
    expected: ProgramObservation,
    first: ProgramObservation,
    second: ProgramObservation | None,
    missing_attributes: tuple[str, ...] = (),
) -> Verdict:
    """Judge a test run in two passes: where both observed something and the observations
    disagree, the worse one counts and the verdict says so, so that a regrade can never flip
    the grade. A second pass that observed nothing (it timed out, say on a loaded machine) is
    no evidence of nondeterminism and changes nothing."""
    verdict = judge(test, expected, first, missing_attributes)
    observed_something = (RunStatus.COMPLETED, RunStatus.RAISED)
    if second is None or second.status not in observed_something or first.status not in observed_something:
        return verdict
    if observations_agree(test, first, second):
        return verdict
    other = judge(test, expected, second, missing_attributes)
    worse = other if other.fraction < verdict.fraction else verdict
    note = "the submission gave different results in two runs (does it depend on set order?); the worse run counts"
    summary = f"{worse.summary} ({note})" if worse.summary else note
    return replace(worse, summary=summary, nondeterministic=True)


def observations_agree(test: ProblemTest, a: ProgramObservation, b: ProgramObservation) -> bool:
    """Two runs show the same thing: same outcome, same error type, same data and grads."""
    if a is b or same_wire(a, b):
        return True
    if a.status is not b.status:
        return False
    if a.status not in (RunStatus.COMPLETED, RunStatus.RAISED):
        return True
    if (a.error and a.error.type) != (b.error and b.error.type):
        return False
    theirs = readable(b.nodes)
    for name, node in readable(a.nodes).items():  # one pass, no ordering: only "same or not" is asked
        other = theirs.get(name)
        if other is None:
            return False
        if node.data != other.data and not readings_equal(node.data, other.data, "data", False):
            return False
        if node.grad != other.grad and not readings_equal(node.grad, other.grad, "grad", False):
            return False
    return True


def _identical(test: ProblemTest, expected: ProgramObservation, observed: ProgramObservation) -> bool:
    """Every checked field the very same: the usual case for a right answer, decided in one pass,
    on the wires where both have one."""
    want = nodes_wire(expected.nodes)
    if want is not None and want == nodes_wire(observed.nodes):
        return True  # same layout, every value arrived exactly as the reference's
    wanted, had = readable(expected.nodes), readable(observed.nodes)
    if wanted.keys() != had.keys():
        return False
    with_repr, with_label = "repr" in test.checks, "label" in test.checks
    for name, want in wanted.items():
        have = had[name]
        if want.data != have.data or want.grad != have.grad or (with_repr and want.repr != have.repr) \
                or (with_label and want.label != have.label):
            return False
    return True


def _raised(test: ProblemTest, observed: ProgramObservation, missing: tuple[str, ...]) -> Verdict:
    error = observed.error
    assert error is not None
    step = test.program.steps[error.step] if error.step is not None and error.step < len(test.program.steps) else None
    at = f" at `{step.text}`" if step is not None else ""
    hint = _error_hint(error, step, missing)
    return Verdict(TestStatus.ERROR, 0.0, f"raised {error.describe()}{at}", (), hint, line=error.line)


def _error_hint(error: RaisedError, step: Step | None, missing: tuple[str, ...]) -> str:
    """Why the code raised, when the error says it plainly; the test's own hint would mislead."""
    if step is not None:
        needed = step.operation.attributes if step.operation is not None else ("__init__",)
        attribute = next((name for name in needed if name in missing), None)
        if attribute is not None:
            return f"your Value class has no `{attribute}`; the problem needs it for `{step.text}`"
    if error.type == "AttributeError" and re.search(r"'(int|float)' object has no attribute", error.message):
        return "a plain number reached code that expects a Value: wrap it first (Value(other))"
    if error.type == "NameError":
        return "a name is used before it is defined or imported (is an `import` missing?)"
    if error.type == "RecursionError":
        return "the recursion never ends, or the graph is deeper than a recursive walk can go"
    return ""


def _differences(
    test: ProblemTest, expected: ProgramObservation, observed: ProgramObservation, checks: tuple[str, ...] | None = None
) -> Iterator[tuple[Node, str, Reading, Reading | None]]:
    """(node, field, expected reading, observed reading or None) for every difference: data
    in forward order, then grads in backward order, then reprs."""
    nodes = test.program.nodes
    order = {"data": nodes, "grad": tuple(reversed(nodes)), "repr": nodes, "label": nodes}
    checks = test.checks if checks is None else checks
    wanted, had = readable(expected.nodes), readable(observed.nodes)
    for field in FIELDS_IN_ORDER:
        if field not in checks:
            continue
        for node in order[field]:
            want = wanted.get(node.name)
            if want is None:
                continue  # the reference never created it: nothing to compare
            have = had.get(node.name)
            if have is None:
                yield node, field, want.field(field), None
            elif not readings_equal(want.field(field), have.field(field), field, test.exact_repr):
                yield node, field, want.field(field), have.field(field)


def readings_equal(expected: Reading, got: Reading, field: str, exact_repr: bool) -> bool:
    """One field of one node judged alike, within tolerance (the renderers' graphs reuse it)."""
    if field == "repr":
        return expected.text is not None and got.text is not None and reprs_equal(expected.text, got.text, exact=exact_repr)
    if field == "label":
        return expected == got  # the very text label= stored (nothing where it gave none)
    if expected.is_number and got.is_number:
        return numbers_equal(expected.number, got.number)  # type: ignore[arg-type]
    # never a number against a non-number; two runs holding the same non-number agree
    # (the reference only ever holds numbers, so this never passes a wrong answer)
    return (
        not expected.is_number
        and not got.is_number
        and (expected.other_type, expected.text) == (got.other_type, got.text)
        and (expected.error and expected.error.type) == (got.error and got.error.type)
    )


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
