"""How often the likely-misconception diagnosis is right, wrong or silent.

    python benchmarks/diagnosis.py [--problem ID ...] [--set tests/diagnosis_set] [--json]

Two evaluations, per problem, each file graded as `grader grade` grades it (full suite,
public seed, the diagnosis drawn from the visible tests and the source):

(a) leave-one-out: every variant of the problem's misconception library, graded with the
    library minus itself. Its own misconception is then unknown, so the right answer is
    silence unless another variant of the library has the same cause (``SAME_CAUSE``):
    naming any other misconception is wrong.
(b) the independent set: buggy files written without looking at the library
    (``tests/diagnosis_set/<problem>/*.py``), each labelled with its true cause in
    ``labels.yaml``; ``CAUSES`` maps each cause category to the library's misconception ids
    that name it. A cause the library does not know maps to nothing: only silence is right.

Also, for reference, (a0) "whole library": every variant graded with the whole library (a
known misconception should be named, or met with silence where it fails like another cause).

Rates are over the files that lose points (a file with full marks gets no diagnosis);
"right" = names a misconception of the true cause, "wrong" = names another one,
"silent" = names none. Targets (issue 14) on (b): wrong <= 3%, right >= 80%.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader.diagnose import Misconception, MisconceptionLibrary, default_cache_dir  # noqa: E402
from grader.grading import GradingSession  # noqa: E402
from grader.reference import expected_observations  # noqa: E402
from grader.sandbox import Isolation  # noqa: E402
from grader.spec import find_course  # noqa: E402

PROBLEM_IDS = ("value-basic", "value-full", "value-tanh")
INDEPENDENT_SET = REPO / "tests" / "diagnosis_set"

CAUSES: dict[str, frozenset[str]] = {}
"""The independent set's cause categories -> the library's misconception ids for that cause.
A category that is missing here is a cause the library does not know."""


class Outcome(str, Enum):
    RIGHT = "right"
    WRONG = "wrong"
    SILENT = "silent"
    FULL_MARKS = "full marks"
    """Not killed: no diagnosis is asked for."""


@dataclass(frozen=True, slots=True)
class Graded:
    problem: str
    file: str
    cause: str
    named: str
    outcome: Outcome


def judge(named: Misconception | None, right_causes: frozenset[str], killed: bool) -> Outcome:
    if not killed:
        return Outcome.FULL_MARKS
    if named is None:
        return Outcome.SILENT
    return Outcome.RIGHT if named.cause in right_causes else Outcome.WRONG


def _session(problem_id: str) -> tuple[GradingSession, MisconceptionLibrary]:
    problem = find_course(REPO).load(problem_id)
    expected = expected_observations(problem)
    library = MisconceptionLibrary(problem, default_cache_dir())
    library.load(problem.tests, expected)
    session = GradingSession(problem, isolation=Isolation.PROCESS, expected=expected, library=library)
    return session, library


def _grade(session: GradingSession, library: MisconceptionLibrary, path: Path) -> tuple[Misconception | None, bool]:
    """(the misconception named or None, whether the file lost points), graded with ``library``."""
    session.library = library
    report = session.grade([path])[0]
    named = report.diagnosis.misconception if report.diagnosis else None
    return named, report.score < report.max_score


def _name(named: Misconception | None) -> str:
    return named.name if named else ""


def leave_one_out(problem_id: str, *, whole: bool = False) -> list[Graded]:
    """Each library variant graded with the library minus itself (or, ``whole``, with all of
    it: what a known misconception gets)."""
    session, library = _session(problem_id)
    graded = []
    with session:
        for misconception in library.misconceptions:
            used = library if whole else library.without(misconception.name)
            named, killed = _grade(session, used, misconception.path)
            graded.append(Graded(problem_id, misconception.path.name, misconception.cause, _name(named),
                                 judge(named, frozenset({misconception.cause}), killed)))
    return graded


def labels(folder: Path) -> dict[str, dict]:
    """labels.yaml: ``<problem>/<file>.py`` (or ``<file>.py`` under each problem) -> its labels."""
    path = folder / "labels.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {} if path.is_file() else {}


def cause_of(entry: object) -> str:
    if isinstance(entry, dict):
        return str(entry.get("cause") or entry.get("category") or "")
    return str(entry or "")


def independent(problem_id: str, folder: Path = INDEPENDENT_SET) -> list[Graded]:
    """Each labelled buggy file of the independent set, graded with the whole library."""
    files = sorted((folder / problem_id).glob("*.py"))
    if not files:
        return []
    known = labels(folder)
    session, library = _session(problem_id)
    graded = []
    with session:
        for path in files:
            entry = known.get(f"{problem_id}/{path.name}", known.get(path.name))
            cause = cause_of(entry)
            named, killed = _grade(session, library, path)
            graded.append(Graded(problem_id, path.name, cause, _name(named),
                                 judge(named, CAUSES.get(cause, frozenset()), killed)))
    return graded


def rates(graded: list[Graded]) -> dict[str, float | int]:
    """Right, wrong and silent as shares of the files that lost points."""
    counts = Counter(g.outcome for g in graded)
    killed = sum(counts[o] for o in (Outcome.RIGHT, Outcome.WRONG, Outcome.SILENT))
    share = {o.value: (counts[o] / killed if killed else 0.0) for o in (Outcome.RIGHT, Outcome.WRONG, Outcome.SILENT)}
    return {"files": len(graded), "killed": killed, **share}


def _line(label: str, graded: list[Graded]) -> str:
    r = rates(graded)
    return (f"{label:<28} {r['files']:>5} {r['killed']:>6}  right {r['right']:6.1%}  wrong {r['wrong']:6.1%}"
            f"  silent {r['silent']:6.1%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", action="append", choices=PROBLEM_IDS)
    parser.add_argument("--set", type=Path, default=INDEPENDENT_SET, help="the independent labelled set")
    parser.add_argument("--json", action="store_true", help="every file's outcome as JSON")
    parser.add_argument("--verbose", action="store_true", help="list every wrong diagnosis")
    args = parser.parse_args(argv)
    results: dict[str, list[Graded]] = {}
    for problem_id in args.problem or PROBLEM_IDS:
        results[f"{problem_id} whole library"] = leave_one_out(problem_id, whole=True)
        results[f"{problem_id} leave-one-out"] = leave_one_out(problem_id)
        results[f"{problem_id} independent"] = independent(problem_id, args.set)
    if args.json:
        print(json.dumps({k: [asdict(g) for g in v] for k, v in results.items()}, indent=1, default=str))
        return 0
    print(f"{'':<28} {'files':>5} {'killed':>6}")
    for label, graded in results.items():
        print(_line(label, graded))
        if args.verbose:
            for g in graded:
                if g.outcome is Outcome.WRONG or (g.outcome is Outcome.SILENT and "leave-one-out" not in label):
                    print(f"    {g.outcome.value:<6} {g.file}: cause {g.cause}, named {g.named or '-'}")
    for kind in ("whole library", "leave-one-out", "independent"):
        every = [g for label, graded in results.items() if label.endswith(kind) for g in graded]
        print(_line(f"all {kind}", every))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
