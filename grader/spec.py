"""problem.yaml -> Problem: read with ``yaml.safe_load``, validated with JSON Schema, and
every program parsed against the problem's whitelist. Every error names the file, the line
and the field.

A course is a folder holding ``problems/<id>/problem.yaml`` and ``reference/``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from grader.limits import Limits
from grader.programs import (
    Domain,
    Draw,
    Operation,
    OperationKind,
    ProgramError,
    Side,
    Sign,
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
    operations: tuple[Operation, ...]
    """Every declared operation (each form of it), in the order problem.yaml declares them."""
    constructor_keywords: frozenset[str]
    repr_format: str

    @property
    def names(self) -> frozenset[str]:
        return frozenset(operation.name for operation in self.operations)

    @property
    def whitelist(self) -> Whitelist:
        return Whitelist(self.operations, self.constructor_keywords, self.class_name)

    @property
    def required_attributes(self) -> tuple[str, ...]:
        return tuple(sorted({name for operation in self.operations for name in operation.attributes}))


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
    """Fields compared: any of data, grad, repr, label."""
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

    def to_wire(self) -> dict[str, Any]:
        """What the submission's process gets of this test: the program's steps, and whether
        to observe repr (only where it is checked: observing costs time on every node)."""
        wire = {"steps": self.program.to_wire(), "repr": "repr" in self.checks}
        return {**wire, "label": True} if "label" in self.checks else wire


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


def find_course(explicit: str | os.PathLike[str] | None = None) -> Course:
    """The course folder, ``course_in_use``; never the checkout the grader happens to be
    installed from (an editable install would otherwise grade with its own checkout's problems
    and reference from any folder, and a wheel install would not: the course a command uses
    must not depend on how the grader was installed)."""
    course = course_in_use(explicit)
    if course is None:
        raise NoCourseError("no course here (no folder holding problems/ and reference/ here or above): "
                            "give it with --course DIR or $GRADER_COURSE")
    return course


def course_in_use(explicit: str | os.PathLike[str] | None = None) -> Course | None:
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


def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(resources.files("grader").joinpath("schema/problem.schema.json").read_text())
    return schema


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


def _read_spec(path: Path) -> tuple[dict[str, Any], "_LineFinder", str]:
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
    raw, lines, _text = _read_spec(path)
    return _api(raw["api"], lines)


def load_problem(path: Path, reference_dir: Path, seed: int | None = None, *, visible_only: bool = False) -> Problem:
    """Read, validate and parse one problem.yaml."""
    raw, lines, text = _read_spec(path)
    reference_path = (reference_dir / raw["reference"]).resolve()
    if not reference_path.is_file():
        raise SpecError(path, lines(("reference",)), "reference", f"no such file {reference_path}")
    if raw["id"] != path.parent.name:
        raise SpecError(path, lines(("id",)), "id", f"{raw['id']!r} differs from the folder name {path.parent.name!r}")
    api = _api(raw["api"], lines)
    tests = tuple(_test(raw_test, i, api, lines) for i, raw_test in enumerate(raw["tests"]))
    seed_source, withheld = "", 0
    if "generated" not in raw:
        seed = None
    else:
        seed, seed_source = resolve_seed(seed)
        if seed is None:
            seed, seed_source = raw["generated"]["seed"], "spec"
    digest = hashlib.sha256(
        text.encode() + b"\0" + reference_path.read_bytes() + b"\0" + str(seed).encode()
    ).hexdigest()
    if seed is not None:
        groups = raw["generated"]["tests"]
        drawn = [g for g in groups if not visible_only or g.get("visibility", "hidden") == "visible"]
        withheld = sum(g["count"] for g in groups if g not in drawn)
        if drawn:
            value_class = _reference_class(path, lines, reference_path, api, raw["id"], digest)
            tests += _generated_tests(drawn, api, seed, value_class, lines)
    names = [test.name for test in tests]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise SpecError(path, lines(("tests", i, "name")), f"tests[{i}].name", f"duplicate test name {name!r}")
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


def _api(raw: dict[str, Any], lines: "_LineFinder") -> Api:
    operations = tuple(_operation(entry, i, lines) for i, entry in enumerate(raw["operations"]))
    _check_operations(operations, lines)
    return Api(
        class_name=raw["class"],
        operations=operations,
        constructor_keywords=frozenset(raw.get("constructor_keywords", ())),
        repr_format=raw.get("repr", ""),
    )


def api_declaration(api: Api) -> dict[str, Any]:
    """``api`` as problem.yaml declares it (``api:``): what a student kit carries, read back by
    ``api_from_declaration``."""
    return {
        "class": api.class_name,
        "operations": [_operation_declaration(operation) for operation in api.operations],
        "constructor_keywords": sorted(api.constructor_keywords),
        "repr": api.repr_format,
    }


def api_from_declaration(raw: Any, path: Path) -> Api:
    """An ``api:`` section read alone (a kit's), checked as problem.yaml's is; a SpecError names
    the field (no line: it was not read from YAML)."""
    lines = _LineFinder(path, None)
    schema = load_schema()
    validator = jsonschema.Draft202012Validator({**schema["properties"]["api"], "$defs": schema["$defs"]})
    error = jsonschema.exceptions.best_match(validator.iter_errors(raw))
    if error is not None:
        field = ".".join(_field_part(p) for p in ("api", *error.absolute_path)).replace(".[", "[")
        raise SpecError(path, None, field, error.message)
    return _api(raw, lines)


def _operation_declaration(operation: Operation) -> dict[str, Any]:
    declared: dict[str, Any] = {"name": operation.name, "kind": operation.kind.value}
    fields = FIELDS_OF_KIND[operation.kind]
    if "operator" in fields:
        declared["operator"] = operation.operator
    if "operands" in fields:
        declared["operands"] = [side.value for side in operation.operands]
    if "arguments" in fields and operation.arguments:
        declared["arguments"] = operation.arguments
    if operation.kind is OperationKind.BINARY:
        sides = {side: _domain_declaration(operation.domain(index)) for index, side in enumerate(("left", "right"))}
        declared["domain"] = {side: domain for side, domain in sides.items() if domain is not None}
    elif "domain" in fields and _domain_declaration(operation.domain()) is not None:
        declared["domain"] = _domain_declaration(operation.domain())
    if operation.draws:
        declared["draws"] = [{"numbers": list(draw.numbers), "domain": _domain_declaration(draw.domain) or "any"}
                             for draw in operation.draws]
    for key, numbers in (("kinks", operation.kinks), ("edges", operation.edges)):
        if numbers:
            declared[key] = list(numbers)
    return declared


def _domain_declaration(domain: Domain) -> str | dict[str, Any] | None:
    """A domain as problem.yaml writes it; None for anywhere."""
    if domain.max_abs is not None:
        return {"sign": domain.sign.value, "max_abs": domain.max_abs}
    return None if domain.sign is Sign.ANY else domain.sign.value


FIELDS_OF_KIND = {
    OperationKind.BINARY: ("operator", "operands", "domain", "draws"),
    OperationKind.UNARY: ("operator", "domain"),
    OperationKind.METHOD: ("arguments", "domain", "draws", "kinks", "edges"),
    OperationKind.SUM: (),
    OperationKind.BACKWARD: (),
}
"""What each kind of operation may declare besides its name and kind."""


def _operation(raw: dict[str, Any], index: int, lines: "_LineFinder") -> Operation:
    """One entry of ``api.operations`` (its shape already checked by the schema)."""
    kind = OperationKind(raw["kind"])
    where = ("api", "operations", index)
    field = f"api.operations[{index}]"
    for key in raw:
        if key not in ("name", "kind", *FIELDS_OF_KIND[kind]):
            allowed = ", ".join(FIELDS_OF_KIND[kind]) or "nothing"
            raise SpecError(lines.path, lines((*where, key)), f"{field}.{key}",
                            f"a {kind.value} operation takes no {key!r} (it takes {allowed} besides name and kind)")
    operands = tuple(Side(side) for side in raw.get("operands", ("value", "value")))
    domain = raw.get("domain", {} if kind is OperationKind.BINARY else "any")
    domains = (_domain(domain.get("left")), _domain(domain.get("right"))) if kind is OperationKind.BINARY else (_domain(domain),)
    operation = Operation(
        name=raw["name"],
        kind=kind,
        operator=raw.get("operator", ""),
        operands=operands,  # type: ignore[arg-type]
        arguments=raw.get("arguments", 0),
        domains=domains,
        draws=tuple(Draw(tuple(d["numbers"]), _domain(d.get("domain"))) for d in raw.get("draws", ())),
        kinks=tuple(raw.get("kinks", ())),
        edges=tuple(raw.get("edges", ())),
    )
    if kind is OperationKind.BINARY and Side.VALUE not in operands and Side.EITHER not in operands:
        raise SpecError(lines.path, lines((*where, "operands")), f"{field}.operands", "one side at least must take a Value")
    number_only = Side.NUMBER in operands or (kind is OperationKind.METHOD and operation.arguments)
    if operation.draws and not number_only:
        raise SpecError(lines.path, lines((*where, "draws")), f"{field}.draws",
                        "draws are the numbers the generator puts where only a number stands: this form has no such place")
    if kind is OperationKind.METHOD and operation.arguments > 1 and operation.draws:
        raise SpecError(lines.path, lines((*where, "draws")), f"{field}.draws",
                        "the generator draws one number: a method it calls takes at most one argument")
    for key in ("kinks", "edges"):
        if raw.get(key) and operation.arguments:
            raise SpecError(lines.path, lines((*where, key)), f"{field}.{key}",
                            f"{key} are inputs of a method that takes no arguments")
    return operation


def _domain(raw: Any) -> Domain:
    if raw is None:
        return Domain()
    if isinstance(raw, str):
        return Domain(Sign(raw))
    return Domain(Sign(raw.get("sign", "any")), raw.get("max_abs"))


def _check_operations(operations: tuple[Operation, ...], lines: "_LineFinder") -> None:
    """What the schema cannot see: two forms a program could not tell apart."""
    seen: dict[object, int] = {}
    for index, operation in enumerate(operations):
        keys: list[tuple[object, str]] = [(("name", operation.name), "name")]
        if operation.kind is OperationKind.BINARY:
            keys += [((operation.operator, left, right), "operands")
                     for left in ("ref", "const") for right in ("ref", "const")
                     if operation.operands[0].takes(left) and operation.operands[1].takes(right)]
        elif operation.kind in (OperationKind.UNARY, OperationKind.BACKWARD):
            keys.append(((operation.kind, operation.operator), "kind"))
        for key, part in keys:
            if key in seen:
                other = operations[seen[key]]
                raise SpecError(lines.path, lines(("api", "operations", index, part)), f"api.operations[{index}].{part}",
                                f"{operation.name!r} and {other.name!r} (api.operations[{seen[key]}]) "
                                "would both run the same code in a program: declare each form once")
            seen[key] = index


def _test(raw: dict[str, Any], index: int, api: Api, lines: "_LineFinder") -> ProblemTest:
    field = f"tests[{index}].program"
    program = _program(raw["program"], api, lines, ("tests", index, "program"), field)
    if "label" in raw["check"] and not any(node.label is not None for node in program.nodes):
        raise SpecError(lines.path, lines(("tests", index, "check")), f"tests[{index}].check",
                        "`label` reads back what label= stored, and this program gives no node a label")
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


def _reference_class(path: Path, lines: "_LineFinder", reference_path: Path, api: Api, problem_id: str, digest: str) -> type:
    """The reference's class, which the generator computes with."""
    try:
        return load_value_class(reference_path, api.class_name, problem_id, digest)
    except ReferenceError as error:
        raise SpecError(path, lines(("reference",)), "reference", str(error)) from None


class ReferenceError(RuntimeError):
    """The reference itself is broken: an instructor's problem, never a student's."""


def load_value_class(path: Path, class_name: str, problem_id: str, digest: str) -> type:
    """The reference's class, its module loaded once per content (``digest``): the spec's
    generator computes with it too, before the Problem exists."""
    name = f"_grader_reference_{problem_id.replace('-', '_')}_{digest[:12]}"
    if name in sys.modules:
        module = sys.modules[name]
    else:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ReferenceError(f"{path}: cannot be loaded")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            raise ReferenceError(f"{path}: raised {error!r} on import") from error
        sys.modules[name] = module
    value_class = getattr(module, class_name, None)
    if not isinstance(value_class, type):
        raise ReferenceError(f"{path}: defines no class {class_name}")
    return value_class


def _generated_tests(groups: list[dict[str, Any]], api: Api, seed: int, value_class: type, lines: "_LineFinder") -> tuple[ProblemTest, ...]:
    """The declared generated tests, drawn from ``seed``; named by shape and number."""
    from grader.generate import GenerationError, generate_program

    tests = []
    for group in groups:
        for index in range(group["count"]):
            try:
                program = generate_program(group["shape"], api.whitelist, seed, index, value_class)
            except GenerationError as error:
                raise SpecError(lines.path, lines(("generated", "tests")), "generated.tests",
                                f"shape {group['shape']!r}: {error}") from None
            tests.append(
                ProblemTest(
                    name=f"generated {group['shape']} #{index + 1}",
                    points=float(group["points"]),
                    visibility=Visibility(group.get("visibility", "hidden")),
                    program=program,
                    checks=tuple(group.get("check", ("data", "grad"))),
                    exact_repr=False,
                    hint="",
                    line=None,
                    partial=float(group.get("partial", 0.0)),
                    shape=group["shape"],
                )
            )
    return tuple(tests)


def _example(raw: dict[str, Any] | None, api: Api, lines: "_LineFinder") -> Example | None:
    if raw is None:
        return None
    program = _program(raw["program"], api, lines, ("example", "program"), "example.program")
    defined = {node.name for node in program.nodes}
    for name in raw["print"]:
        if name not in defined:
            raise SpecError(lines.path, lines(("example", "print")), "example.print", f"{name!r} is not a node of the example")
    return Example(program, tuple(raw["print"]), raw["output"].strip(), lines(("example", "output")))


def _program(source: str, api: Api, lines: "_LineFinder", path: tuple[str | int, ...], field: str) -> TestProgram:
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

    def __call__(self, keys: tuple[str | int, ...]) -> int | None:
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

