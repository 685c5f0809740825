"""The three problems graded exactly as before their operations were declared in problem.yaml.

``tests/fixtures/before_declarations.json`` was captured on main (d491f7c), before operations
were declared by the problem instead of fixed in the grader: for several seeds, every test's
program (source, nodes, operations) and the reference's observations of it; and every format
of the reports of the sample files, the fixture submissions and the misconception variants
(of those whose results follow memory layout, that they do).
The problems have gained tests since (reading labels back, say): they are graded here as they
were, the tests they had and no others. Each item is kept as a sha256 of its canonical JSON or
text. The reports were captured again on main (1361761), with main's own code, when main was
merged into this branch: main had changed them on purpose meanwhile (time budgets, Gradescope's
results.json with the diagnosis, new misconception variants and fixtures, the one report
builder), and the merge must grade as main does; the programs and expected values are still
d491f7c's; the reference's numbers as two sums, compared within rounding (its grads are summed in set order, which follows memory
addresses, so their last bits differ from process to process). Rewriting how operations are
declared must change none of them. (Capture again only on purpose:
``python -m tests.test_same_grades_as_before``.)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import sys

import pytest

from grader.diagnose import MisconceptionLibrary, default_cache_dir
from grader.formats import FILE_NAMES, render_formats
from grader.grading import GradingSession
from grader.observations import to_wire
from grader.reference import expected_observations, reference_observation
from grader.sandbox import Isolation
from grader.spec import Problem, find_course
from tests.conftest import FIXTURES, REPO, SEED_PROBLEM_IDS, SUBMISSION_FIXTURES

SNAPSHOT = FIXTURES / "before_declarations.json"
SEEDS = (None, 1, 99, 123456789)
"""None: the spec's own seed."""


def _digest(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?|nan|-?inf")


def _numbers_apart(wire: dict) -> tuple[dict, list[float]]:
    """An observation's wire with every number (repr text included) replaced by ``#``, and the
    numbers in order."""
    numbers: list[float] = []

    def take(value: object) -> object:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            numbers.append(float(value))
            return "#"
        if isinstance(value, str):
            numbers.extend(float(n) for n in _NUMBER.findall(value))
            return _NUMBER.sub("#", value)
        return value

    return {**wire, "values": [take(v) for v in wire["values"]]}, numbers


def _sums(numbers: list[float]) -> list[float]:
    """Two sums that move when any number moves: of magnitudes, and weighted by position."""
    finite = [n for n in numbers if math.isfinite(n)]
    return [math.fsum(abs(n) for n in finite), math.fsum(n * (1 + i % 7) for i, n in enumerate(finite))]


def as_it_was(problem: Problem, names: frozenset[str] | None) -> Problem:
    """The problem with the tests it had when the snapshot was taken (all, when None)."""
    if names is None:
        return problem
    return dataclasses.replace(problem, tests=tuple(test for test in problem.tests if test.name in names))


def programs_snapshot(problem_id: str, names: frozenset[str] | None = None) -> dict[str, object]:
    """Every test's program and the reference's observations of it, for each seed."""
    found = {}
    for seed in SEEDS:
        problem = as_it_was(find_course(REPO).load(problem_id, seed), names)
        for test in problem.tests:
            nodes = [[node.name, node.display, node.op, list(node.parents)] for node in test.program.nodes]
            expected, numbers = _numbers_apart(to_wire(reference_observation(problem, test.to_wire())))
            found[f"seed {seed}: {test.name}"] = [_digest(
                {"source": test.program.source, "nodes": nodes, "points": test.points, "checks": list(test.checks),
                 "visibility": test.visibility.value, "partial": test.partial, "expected": expected}), *_sums(numbers)]
    return found


def graded_files(problem: Problem) -> list:
    problem_id = problem.id
    files = sorted((SUBMISSION_FIXTURES / problem_id).glob("*.py")) + sorted(problem.misconceptions_dir.glob("*.py"))
    if problem_id == "value-basic":
        files += sorted((REPO / "submissions").glob("*.py"))
    return files


def reports_snapshot(problem_id: str, names: frozenset[str] | None = None) -> dict[str, object]:
    """Every format of each file's report, with what changes by itself (the time it took, the
    digest of the spec's text, the checkout's path) held fixed; for a file whose results follow memory layout (its
    report lists nondeterministic tests), its tests' names and points, and that it is one."""
    found: dict[str, object] = {}
    problem = as_it_was(find_course(REPO).load(problem_id), names)
    library = MisconceptionLibrary(problem, default_cache_dir())
    with GradingSession(problem, isolation=Isolation.PROCESS, expected=expected_observations(problem),
                        library=library) as session:
        reports = session.grade(graded_files(problem))
    for path, report in zip(graded_files(problem), reports, strict=True):
        name = str(path.relative_to(REPO))
        if report.nondeterministic_tests:
            found[f"{name}: follows memory layout"] = _digest([[t.name, t.max_score] for t in report.tests])
            continue
        report = dataclasses.replace(report, duration_s=1.0, submission_path=path.relative_to(REPO),
                                     problem=dataclasses.replace(report.problem, digest="fixed"))
        for file_name, text in render_formats(report, tuple(FILE_NAMES)).items():
            found[f"{name}: {file_name}"] = _digest(text)
    return found


@pytest.fixture(scope="module")
def before() -> dict:
    return json.loads(SNAPSHOT.read_text())


def names_then(before: dict, problem_id: str) -> frozenset[str]:
    """The tests the problem had when the snapshot was taken."""
    return frozenset(key.split(": ", 1)[1] for key in before["programs"][problem_id] if key.startswith("seed None: "))


def _same(now: object, then: object) -> bool:
    if isinstance(now, list) and isinstance(then, list):
        return len(now) == len(then) and now[0] == then[0] and all(
            math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) for a, b in zip(now[1:], then[1:], strict=True))
    return now == then


def _differing(now: dict, then: dict) -> list[str]:
    return sorted(key for key in now.keys() | then.keys() if not _same(now.get(key), then.get(key)))


@pytest.mark.parametrize("problem_id", SEED_PROBLEM_IDS)
def test_every_program_and_expected_value_is_as_before(problem_id, before):
    assert _differing(programs_snapshot(problem_id, names_then(before, problem_id)), before["programs"][problem_id]) == []


@pytest.mark.slow
@pytest.mark.parametrize("problem_id", SEED_PROBLEM_IDS)
def test_every_report_of_every_file_is_as_before(problem_id, before):
    """Byte for byte, but for the files whose results follow memory layout: their results move
    with any change to the code the sandbox holds (where the heap they start from lies), so
    of them, only that they still do (the same files) and their tests."""
    assert _differing(reports_snapshot(problem_id, names_then(before, problem_id)), before["reports"][problem_id]) == []


if __name__ == "__main__":
    snapshot = {"programs": {p: programs_snapshot(p) for p in SEED_PROBLEM_IDS},
                "reports": {p: reports_snapshot(p) for p in SEED_PROBLEM_IDS}}
    SNAPSHOT.write_text(json.dumps(snapshot, indent=1, sort_keys=True) + "\n")
    print(f"wrote {SNAPSHOT}", file=sys.stderr)
