"""The student kit: what a course hands to students, so that ``grader check`` runs without the
solution.

A kit is a folder holding ``grader-kit.json`` and ``statement.md``. The JSON holds the problem
as a student's check sees it (``grading.visible_part``: the tests whose details a student may
see, the others only counted), the reference's observations of those tests, and what each
known misconception showed on them (so that ``check`` still diagnoses). Nothing else: no
reference code, no variant's code, no test a student may not see, no seed. Its ``digest``
changes with the problem's spec, reference and misconceptions, so a kit made from another
version of the problem is recognised.

``grader check`` from a course goes through a kit too, built in memory and read back by the
same function (``kit_from_data``), so the two give the same verdicts, diagnosis and hints.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import __version__
from grader.budgets import reference_costs
from grader.diagnose import Misconception, MisconceptionLibrary, diagnostic_tests
from grader.files import write_atomically
from grader.grading import visible_part
from grader.limits import Limits
from grader.observations import ProgramObservation, from_wire, to_wire
from grader.programs import ProgramError, parse_program
from grader.reference import expected_observations
from grader.spec import (
    Api,
    Course,
    Problem,
    ProblemTest,
    SpecError,
    Visibility,
    api_declaration,
    api_from_declaration,
)
from grader.text import clean_name
from grader.view import Audience, shown_in_detail

KIT_FILE = "grader-kit.json"
STATEMENT_FILE = "statement.md"
FORMAT = "grader-kit"
FORMAT_VERSION = 2
"""The layout of ``grader-kit.json``; a grader reads only its own. 2: the API's operations as
problem.yaml declares them (1 had their names and whether numbers are operands)."""
KIT_ENVIRONMENT = "GRADER_KIT"


class KitError(Exception):
    """A kit that cannot be used; the message is the one line the user sees."""


@dataclass(frozen=True, slots=True)
class Kit:
    """What ``grader check`` needs: the problem (visible tests only), the expected observations
    of its tests, and the misconception library's observations of them."""

    problem: Problem
    expected: Mapping[str, ProgramObservation]
    library: MisconceptionLibrary
    costs: Mapping[str, float]
    """What each test costs the reference (``budgets.reference_costs``): its time budget."""


# ------------------------------------------------------------------ making one (a course's side)

def kit_data(problem: Problem, cache_dir: Path | None) -> dict[str, Any]:
    """The kit of ``problem`` (loaded from a course, with its reference and misconceptions) as
    JSON data. Runs the reference, and the misconception variants that are not cached."""
    shown = visible_part(problem)
    expected = expected_observations(shown)
    costs = reference_costs(shown)
    library = MisconceptionLibrary(shown, cache_dir)
    diagnostic = diagnostic_tests(shown.tests)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "grader_version": __version__,
        "problem": {
            "id": shown.id,
            "version": shown.version,
            "title": shown.title,
            "statement": shown.statement,
            "digest": kit_digest(shown),
            "api": api_declaration(shown.api),
            "forbidden_imports": list(shown.forbidden_imports),
            "limits": dataclasses.asdict(shown.limits),
            "withheld_tests": shown.withheld_tests,
        },
        "tests": [
            {
                "name": test.name,
                "points": test.points,
                "visibility": test.visibility.value,
                "program": test.program.source,
                "check": list(test.checks),
                "exact_repr": test.exact_repr,
                "hint": test.hint,
                "partial": test.partial,
                "shape": test.shape,
                "expected": to_wire(expected[test.name]),
                "reference_cpu": costs[test.name],
            }
            for test in shown.tests
        ],
        "misconceptions": [
            {
                "name": misconception.name,
                "hint": misconception.hint,
                "cause": misconception.cause,
                "faces": {name: [to_wire(face) for face in faces]
                          for name, faces in library.faces(misconception, diagnostic).items()},
            }
            for misconception in library.misconceptions
        ],
    }


def kit_digest(problem: Problem) -> str:
    """What a kit of ``problem`` (a course's, visible part) was made from: its spec, reference,
    misconceptions and visible programs. Not the seed: only the programs it drew for the kit."""
    parts = [FORMAT.encode(), str(FORMAT_VERSION).encode(), problem.spec_path.read_bytes(),
             problem.reference_path.read_bytes()]
    folder = problem.misconceptions_dir
    for path in sorted(folder.glob("*.py")) if folder is not None and folder.is_dir() else ():
        parts += [path.name.encode(), path.read_bytes()]
    parts.append(json.dumps([test.to_wire() for test in problem.tests], sort_keys=True).encode())
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def write_kit(data: dict[str, Any], out: Path) -> tuple[Path, ...]:
    """The kit's files in ``out`` (created if need be)."""
    if out.exists() and not out.is_dir():
        raise KitError(f"--out {clean_name(str(out))} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = (out / KIT_FILE, out / STATEMENT_FILE)
        write_atomically(written[0], json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        write_atomically(written[1], statement_markdown(data, out.resolve().name))
        for path in written:
            path.chmod(0o644)  # made to be handed out
    except OSError as error:
        raise KitError(f"cannot write the kit to {clean_name(str(out))}: {error.strerror or error}") from None
    return written


def statement_markdown(data: dict[str, Any], folder: str) -> str:
    """The student's page: the task, how to check, and the visible tests' programs."""
    problem = data["problem"]
    lines = [f"# {problem['title']}", "", f"Problem `{problem['id']}`, version {problem['version']}.", "",
             problem["statement"].strip(), "", "## Checking your work", "",
             f"    grader check YOUR_FILE.py --kit {folder}", "",
             f"or keep `YOUR_FILE.py` in this folder (or below it) and run `grader check YOUR_FILE.py`. "
             f"`check` runs the {len(data['tests'])} visible tests below in a sandbox and explains what fails; "
             f"{problem['withheld_tests']} more tests are hidden and run when your work is graded.", "",
             "## Visible tests", ""]
    for test in data["tests"]:
        lines += [f"### {test['name']} ({test['points']:g} points)", "", "```python", test["program"].strip(), "```", ""]
    return "\n".join(lines)


def instructor_check_files(problem: Problem) -> tuple[Path, ...]:
    """Instructors' pytest files beside the spec: a kit leaves them out (their code may hold
    tests a student may not see), so ``check`` from a kit runs only problem.yaml's tests."""
    folder = problem.directory
    found = {*folder.rglob("test_*.py"), *folder.rglob("*_test.py"), *folder.rglob("conftest.py")}
    return tuple(sorted(found))


# ------------------------------------------------------------------ using one (a student's side)

def course_kit(course: Course, problem_id: str, *, seed: int | None, cache_dir: Path | None) -> Kit:
    """The kit of a course's problem, built in memory and read back as a kit on disk is; the
    course's instructor checks still run (they are there)."""
    problem = course.load(problem_id, seed=seed, visible_only=True)
    data = json.loads(json.dumps(kit_data(problem, cache_dir)))  # exactly what a kit's file holds
    return kit_from_data(data, spec_path=problem.spec_path, instructor_checks=True)


def find_kit(submission: Path, explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    """Where the kit is: ``--kit``, else the submission's folder or one above it holding
    ``grader-kit.json``, else ``$GRADER_KIT``; None when there is none."""
    if explicit is not None:
        return explicit
    here = submission.resolve().parent
    for folder in (here, *here.parents):
        if (folder / KIT_FILE).is_file():
            return folder
    return Path(environ[KIT_ENVIRONMENT]) if environ.get(KIT_ENVIRONMENT) else None


def read_kit(path: Path) -> Kit:
    """The kit in folder ``path`` (or the kit file itself)."""
    file = path / KIT_FILE if path.is_dir() else path
    shown = clean_name(str(file))
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KitError(f"no student kit at {clean_name(str(path))} (no {KIT_FILE}): make one with "
                       "`grader kit --problem ID`") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise KitError(f"{shown}: not a readable student kit ({error})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise KitError(f"{shown}: not a student kit (no \"format\": \"{FORMAT}\")")
    if data.get("format_version") != FORMAT_VERSION:
        raise KitError(f"{shown}: a kit of format {clean_name(str(data.get('format_version')))} (grader "
                       f"{clean_name(str(data.get('grader_version')))}); this grader ({__version__}) reads format "
                       f"{FORMAT_VERSION}: ask for a kit made with this version")
    return kit_from_data(data, spec_path=file, instructor_checks=False, where=shown)


def kit_from_data(data: dict[str, Any], *, spec_path: Path, instructor_checks: bool, where: str = "the kit") -> Kit:
    """A kit's JSON data -> Kit. The one reader of kits, from a file or built from a course."""
    try:
        return _kit(data, spec_path, instructor_checks)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise KitError(f"{where}: a damaged student kit ({type(error).__name__}: {clean_name(str(error))}): "
                       "ask for a new one") from None
    except SpecError as error:
        raise KitError(f"{where}: a damaged student kit ({error.field}: {clean_name(error.message)}): "
                       "ask for a new one") from None
    except ProgramError as error:
        raise KitError(f"{where}: a test program is not valid ({clean_name(error.message)}): ask for a new kit") from None


def _kit(data: dict[str, Any], spec_path: Path, instructor_checks: bool) -> Kit:
    raw = data["problem"]
    api = api_from_declaration(raw["api"], spec_path)
    tests = tuple(_test(entry, api) for entry in data["tests"])
    problem = Problem(
        id=str(raw["id"]),
        version=str(raw["version"]),
        title=str(raw["title"]),
        statement=str(raw["statement"]),
        spec_path=spec_path,
        reference_path=spec_path,  # the kit is where the expected values come from
        api=api,
        forbidden_imports=tuple(raw["forbidden_imports"]),
        example=None,
        limits=Limits(**raw["limits"]),
        tests=tests,
        digest=str(raw["digest"]),
        rerun_hidden=False,
        misconceptions_dir=None,
        withheld_tests=int(raw["withheld_tests"]),
        instructor_checks=instructor_checks,
    )
    expected = {entry["name"]: from_wire(entry["expected"]) for entry in data["tests"]}
    misconceptions = tuple(Misconception(str(m["name"]), "", str(m["hint"]), None, str(m["cause"]))
                           for m in data["misconceptions"])
    diagnostic = [test.name for test in diagnostic_tests(tests)]
    faces = {m["name"]: {name: [from_wire(face) for face in m["faces"][name]] for name in diagnostic}
             for m in data["misconceptions"]}
    costs = {entry["name"]: float(entry["reference_cpu"]) for entry in data["tests"]
             if isinstance(entry.get("reference_cpu"), (int, float))}
    return Kit(problem, expected, MisconceptionLibrary.recorded(problem, misconceptions, faces), costs)


def _test(entry: dict[str, Any], api: Api) -> ProblemTest:
    visibility = Visibility(entry["visibility"])
    if not shown_in_detail(visibility, Audience.STUDENT):
        raise ValueError(f"test {entry['name']!r} is {visibility.value}: a kit holds only tests a student may see")
    return ProblemTest(
        name=str(entry["name"]),
        points=float(entry["points"]),
        visibility=visibility,
        program=parse_program(str(entry["program"]), api.whitelist),
        checks=tuple(entry["check"]),
        exact_repr=bool(entry["exact_repr"]),
        hint=str(entry["hint"]),
        line=None,  # where a test stands in problem.yaml would hint at what lies between
        partial=float(entry["partial"]),
        shape=str(entry["shape"]),
    )


def ensure_current(kit: Kit, course: Course | None, *, seed: int | None) -> None:
    """Refuse a kit made from another version of its problem than the course at hand has
    (when there is a course at hand holding that problem)."""
    if course is None or kit.problem.id not in course.problem_ids():
        return
    try:
        current = course.load(kit.problem.id, seed=seed, visible_only=True)
        digest = kit_digest(visible_part(current))
    except (SpecError, OSError):
        return  # a course that cannot say what is current cannot call the kit stale
    if digest != kit.problem.digest:
        raise KitError(
            f"the kit is stale: made from {kit.problem.id} version {clean_name(kit.problem.version)} "
            f"(digest {clean_name(kit.problem.digest[:12])}), but the course at {clean_name(str(course.root))} has "
            f"version {current.version} (digest {digest[:12]}): make a new one with `grader kit --problem {kit.problem.id}`"
        )
