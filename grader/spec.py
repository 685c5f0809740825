"""problem.yaml -> Problem: read with ``yaml.safe_load``, validated with JSON Schema, and
every program parsed against the problem's whitelist. Every error names the file, the line
and the field.

A course is a folder holding ``problems/<id>/problem.yaml`` and ``reference/``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from grader.limits import Limits
from grader.programs import (
    OPERATION_ATTRIBUTES,
    ProgramError,
    TestProgram,
    Whitelist,
    parse_program,
)

DEFAULT_FORBIDDEN_IMPORTS = ("torch", "jax", "tensorflow", "micrograd", "autograd", "tinygrad")


class SpecError(Exception):
    """A problem spec that cannot be used; says where and what."""

    def __init__(self, path: Path, line: int | None, field: str, message: str) -> None:
        self.path, self.line, self.field, self.message = path, line, field, message
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class Visibility(str, Enum):
    VISIBLE = "visible"
    HIDDEN = "hidden"
    AFTER_DUE_DATE = "after_due_date"
    AFTER_PUBLISHED = "after_published"


@dataclass(frozen=True, slots=True)
class Api:
    class_name: str
    operations: frozenset[str]
    numbers_as_operands: bool
    constructor_keywords: frozenset[str]
    repr_format: str

    @property
    def whitelist(self) -> Whitelist:
        return Whitelist(
            self.operations, self.numbers_as_operands, self.constructor_keywords, self.class_name
        )

    @property
    def required_attributes(self) -> tuple[str, ...]:
        return tuple(sorted({OPERATION_ATTRIBUTES[op] for op in self.operations}))


@dataclass(frozen=True, slots=True)
class Example:
    program: TestProgram
    printed: tuple[str, ...]
    output: str
    line: int | None


@dataclass(frozen=True, slots=True)
class ProblemTest:
    name: str
    points: float
    visibility: Visibility
    program: TestProgram
    checks: tuple[str, ...]
    """Fields compared: any of data, grad, repr."""
    exact_repr: bool
    hint: str
    line: int | None
    partial: float = 0.0
    """Share of the points earned when all data is right but some grad is wrong."""
    shape: str = ""
    """For a generated test, the shape it was drawn from (``deep_chain``); empty for a
    hand-written one."""

    @property
    def generated(self) -> bool:
        return bool(self.shape)

    @property
    def group(self) -> str:
        """How a class summary shows it: generated tests of a shape together."""
        return f"generated {self.shape}" if self.shape else self.name

    def to_wire(self) -> dict:
        """What the submission's process gets of this test: the program's steps, and whether
        to observe repr (only where it is checked: observing costs time on every node)."""
        return {"steps": self.program.to_wire(), "repr": "repr" in self.checks}


@dataclass(frozen=True, slots=True)
class Problem:
    id: str
    version: str
    title: str
    statement: str
    spec_path: Path
    reference_path: Path
    api: Api
    forbidden_imports: tuple[str, ...]
    example: Example | None
    limits: Limits
    tests: tuple[ProblemTest, ...]
    digest: str
    """sha256 of the spec, the reference and the seed: changes whenever a grade could change."""
    seed: int | None = None
    """Seed of the generated tests (None when the problem has none)."""
    seed_source: str = ""
    """Where the seed came from: --seed, GRADER_SEED, GRADER_SEED_FILE or the spec."""
    rerun_hidden: bool = True
    misconceptions_dir: Path | None = None
    withheld_tests: int = 0
    """Tests a student's check does not run (``grading.visible_part``): hidden generated tests
    not drawn at all, and the tests whose details a student may not see."""
    instructor_checks: bool = True
    """Whether pytest files beside the spec are collected as instructors' checks: False for a
    student kit, which holds none (and whose folder is the student's)."""

    @property
    def directory(self) -> Path:
        return self.spec_path.parent

    @property
    def max_score(self) -> float:
        return sum(test.points for test in self.tests)

    def test(self, name: str) -> ProblemTest:
        return next(test for test in self.tests if test.name == name)


@dataclass(frozen=True, slots=True)
class Course:
    """Where problems and references live."""

    root: Path

    @property
    def problems_dir(self) -> Path:
        return self.root / "problems"

    @property
    def reference_dir(self) -> Path:
        return self.root / "reference"

    def problem_ids(self) -> list[str]:
        return sorted(p.parent.name for p in self.problems_dir.glob("*/problem.yaml"))

    def spec_path(self, problem_id: str) -> Path:
        return self.problems_dir / problem_id / "problem.yaml"

    def load(self, problem_id: str, seed: int | None = None, *, visible_only: bool = False) -> Problem:
        """The problem, its generated tests drawn with ``seed`` (default: resolve_seed()).
        ``visible_only``: a student's check, which never draws the hidden generated tests (it
        only counts them, in ``Problem.withheld_tests``)."""
        path = self.spec_path(problem_id)
        if not path.is_file():
            known = ", ".join(self.problem_ids()) or "none"
            raise SpecError(path, None, "", f"no such problem {problem_id!r} (known: {known})")
        return load_problem(path, self.reference_dir, seed, visible_only=visible_only)

    def apis(self) -> dict[str, Api]:
        """Every problem's declared API, by id: what a file's problem is guessed from."""
        return {problem_id: load_api(self.spec_path(problem_id)) for problem_id in self.problem_ids()}


class NoCourseError(Exception):
    """No course was named and none is found from the working directory; the message says how
    to name one."""


def find_course(explicit: str | os.PathLike | None = None) -> Course:
    """The course folder, ``course_in_use``; never the checkout the grader happens to be
    installed from (an editable install would otherwise grade with its own checkout's problems
    and reference from any folder, and a wheel install would not: the course a command uses
    must not depend on how the grader was installed)."""
    course = course_in_use(explicit)
    if course is None:
        raise NoCourseError("no course here (no folder holding problems/ and reference/ here or above): "
                            "give it with --course DIR or $GRADER_COURSE")
    return course


def course_in_use(explicit: str | os.PathLike | None = None) -> Course | None:
    """The course someone named or works in: explicit, $GRADER_COURSE, or the nearest folder
    above the working directory holding problems/ and reference/; None if there is none."""
    if explicit is not None:
        return Course(Path(explicit).resolve())
    if os.environ.get("GRADER_COURSE"):
        return Course(Path(os.environ["GRADER_COURSE"]).resolve())
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "problems").is_dir() and (folder / "reference").is_dir():
            return Course(folder)
    return None


def load_schema() -> dict:
    return json.loads(resources.files("grader").joinpath("schema/problem.schema.json").read_text())


def resolve_seed(explicit: int | None = None) -> tuple[int | None, str]:
    """The secret seed, if any: --seed, then $GRADER_SEED, then the file $GRADER_SEED_FILE."""
    if explicit is not None:
        return explicit, "--seed"
    if os.environ.get("GRADER_SEED"):
        return _seed_value(os.environ["GRADER_SEED"]), "GRADER_SEED"
    if os.environ.get("GRADER_SEED_FILE"):
        path = Path(os.environ["GRADER_SEED_FILE"])
        try:
            return _seed_value(path.read_text().strip()), "GRADER_SEED_FILE"
        except OSError as error:
            raise SpecError(path, None, "", f"GRADER_SEED_FILE cannot be read: {error.strerror}") from None
    return None, ""


def _seed_value(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        # any secret text works as a seed: it is hashed to a number
        return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16)


def _read_spec(path: Path) -> tuple[dict, "_LineFinder", str]:
    """A problem.yaml read and validated against the schema: its fields, their lines, its text."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(path, None, "", f"cannot read: {error}") from None
    try:
        raw = yaml.safe_load(text)
        root_node = yaml.compose(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise SpecError(path, line, "", f"not valid YAML: {getattr(error, 'problem', error)}") from None
    lines = _LineFinder(path, root_node)
    _validate(raw, lines)
    return raw, lines, text


def load_api(path: Path) -> Api:
    """Only the API a problem.yaml declares (the whole spec validated, no program parsed):
    what guessing a file's problem reads."""
    return _api(_read_spec(path)[0]["api"])


def load_problem(path: Path, reference_dir: Path, seed: int | None = None, *, visible_only: bool = False) -> Problem:
    """Read, validate and parse one problem.yaml."""
    raw, lines, text = _read_spec(path)
    reference_path = (reference_dir / raw["reference"]).resolve()
    if not reference_path.is_file():
        raise SpecError(path, lines(("reference",)), "reference", f"no such file {reference_path}")
    if raw["id"] != path.parent.name:
        raise SpecError(path, lines(("id",)), "id", f"{raw['id']!r} differs from the folder name {path.parent.name!r}")
    api = _api(raw["api"])
    tests = tuple(_test(raw_test, i, api, lines) for i, raw_test in enumerate(raw["tests"]))
    seed_source, withheld = "", 0
    if "generated" not in raw:
        seed = None
    else:
        seed, seed_source = resolve_seed(seed)
        if seed is None:
            seed, seed_source = raw["generated"]["seed"], "spec"
        groups = raw["generated"]["tests"]
        drawn = [g for g in groups if not visible_only or g.get("visibility", "hidden") == "visible"]
        withheld = sum(g["count"] for g in groups if g not in drawn)
        tests += _generated_tests(drawn, api, seed)
    names = [test.name for test in tests]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise SpecError(path, lines(("tests", i, "name")), f"tests[{i}].name", f"duplicate test name {name!r}")
    digest = hashlib.sha256(
        text.encode() + b"\0" + reference_path.read_bytes() + b"\0" + str(seed).encode()
    ).hexdigest()
    return Problem(
        id=raw["id"],
        version=raw["version"],
        title=raw["title"],
        statement=raw["statement"],
        spec_path=path,
        reference_path=reference_path,
        api=api,
        forbidden_imports=tuple(raw.get("forbidden_imports", DEFAULT_FORBIDDEN_IMPORTS)),
        example=_example(raw.get("example"), api, lines),
        limits=Limits(**raw.get("limits", {})),
        tests=tests,
        digest=digest,
        seed=seed,
        seed_source=seed_source,
        rerun_hidden=raw.get("rerun_hidden", True),
        misconceptions_dir=path.parent / raw.get("misconceptions", "misconceptions"),
        withheld_tests=withheld,
    )


def _validate(raw: Any, lines: "_LineFinder") -> None:
    if not isinstance(raw, dict):
        raise SpecError(lines.path, 1, "", "the file must be a mapping of fields")
    validator = jsonschema.Draft202012Validator(load_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(raw))
    if error is not None:
        field = ".".join(_field_part(p) for p in error.absolute_path).replace(".[", "[") or "(top level)"
        raise SpecError(lines.path, lines(tuple(error.absolute_path)), field, error.message)


def _field_part(part: Any) -> str:
    return f"[{part}]" if isinstance(part, int) else str(part)


def _api(raw: dict) -> Api:
    return Api(
        class_name=raw["class"],
        operations=frozenset(raw["operations"]),
        numbers_as_operands=raw["operands"] == "values_or_numbers",
        constructor_keywords=frozenset(raw.get("constructor_keywords", ())),
        repr_format=raw.get("repr", ""),
    )


def _test(raw: dict, index: int, api: Api, lines: "_LineFinder") -> ProblemTest:
    field = f"tests[{index}].program"
    program = _program(raw["program"], api, lines, ("tests", index, "program"), field)
    return ProblemTest(
        name=raw["name"],
        points=float(raw["points"]),
        visibility=Visibility(raw.get("visibility", "visible")),
        program=program,
        checks=tuple(raw["check"]),
        exact_repr=raw.get("repr", "numeric") == "exact",
        hint=raw.get("hint", ""),
        line=lines(("tests", index)),
        partial=float(raw.get("partial", 0.0)),
    )


def _generated_tests(groups: list[dict], api: Api, seed: int) -> tuple[ProblemTest, ...]:
    """The declared generated tests, drawn from ``seed``; named by shape and number."""
    from grader.generate import generate_program

    tests = []
    for group in groups:
        for index in range(group["count"]):
            tests.append(
                ProblemTest(
                    name=f"generated {group['shape']} #{index + 1}",
                    points=float(group["points"]),
                    visibility=Visibility(group.get("visibility", "hidden")),
                    program=generate_program(group["shape"], api.whitelist, seed, index),
                    checks=tuple(group.get("check", ("data", "grad"))),
                    exact_repr=False,
                    hint="",
                    line=None,
                    partial=float(group.get("partial", 0.0)),
                    shape=group["shape"],
                )
            )
    return tuple(tests)


def _example(raw: dict | None, api: Api, lines: "_LineFinder") -> Example | None:
    if raw is None:
        return None
    program = _program(raw["program"], api, lines, ("example", "program"), "example.program")
    defined = {node.name for node in program.nodes}
    for name in raw["print"]:
        if name not in defined:
            raise SpecError(lines.path, lines(("example", "print")), "example.print", f"{name!r} is not a node of the example")
    return Example(program, tuple(raw["print"]), raw["output"].strip(), lines(("example", "output")))


def _program(source: str, api: Api, lines: "_LineFinder", path: tuple, field: str) -> TestProgram:
    try:
        return parse_program(source, api.whitelist)
    except ProgramError as error:
        start = lines(path)
        # a block scalar (`program: |`) starts its text on the line after the key
        line = start + error.line if start is not None and "\n" in source else start
        raise SpecError(lines.path, line, field, error.message) from None


def line_finder(path: Path, root: yaml.Node | None) -> "_LineFinder":
    """Lines of a YAML document (``yaml.compose``'d) by path of keys and indexes: for the
    problem's sibling files (``clauses.yaml``)."""
    return _LineFinder(path, root)


class _LineFinder:
    """Maps a path of keys and indexes in the YAML document to its 1-based line."""

    def __init__(self, path: Path, root: yaml.Node | None) -> None:
        self.path, self.root = path, root

    def __call__(self, keys: tuple) -> int | None:
        node, line = self.root, None
        for key in keys:
            if isinstance(node, yaml.MappingNode):
                match = next(((k, v) for k, v in node.value if k.value == key), None)
                if match is None:
                    break
                line, node = match[0].start_mark.line + 1, match[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                node = node.value[key]
                line = node.start_mark.line + 1
            else:
                break
        return line if line is not None else (1 if self.root is not None else None)
