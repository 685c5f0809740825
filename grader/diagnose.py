"""Why a submission fails, in words a student understands.

Two sources, both judged outside the submission's process:
- known misconceptions: buggy variants of the reference kept in the problem's
  ``misconceptions/`` folder, each with a hint. They run through the same sandbox (they are
  the course's files, but a buggy variant can loop like any student's code) and their
  observations are cached on disk; a submission whose failures look exactly like a
  variant's gets that variant's hint.
- the submission's source, parsed with ``ast`` (never run) for mistakes seen in real student
  code: a backward rule stored on the wrong object, a method indented into another, a
  missing ``import math``, a ``backward()`` that never seeds the output's grad.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Collection, Mapping, Sequence

from grader import __version__
from grader.check import observations_agree
from grader.observations import ProgramObservation, from_wire, to_wire
from grader.files import read_submission, write_atomically
from grader.sandbox import Isolation, Sandbox, SandboxPolicy
from grader.spec import Problem, ProblemTest

VARIANT_LIMITS = {"test_seconds": 2.0, "submission_seconds": 30.0}


@dataclass(frozen=True, slots=True)
class Misconception:
    name: str
    description: str
    hint: str
    path: Path


@dataclass(frozen=True, slots=True)
class Diagnosis:
    misconception: Misconception
    explained: frozenset[str]
    """Names of the failing tests this misconception reproduces exactly."""


@dataclass(frozen=True, slots=True)
class Finding:
    """A mistake visible in the source itself."""

    line: int
    message: str


def load_misconceptions(problem: Problem) -> tuple[Misconception, ...]:
    folder = problem.misconceptions_dir
    if folder is None or not folder.is_dir():
        return ()
    found = []
    for path in sorted(folder.glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        lines = doc.splitlines()
        hint = next((line[len("hint:"):].strip() for line in lines if line.startswith("hint:")), "")
        found.append(Misconception(path.stem, lines[0] if lines else path.stem, hint, path))
    return tuple(found)


MAX_SOURCE_BYTES = 1024 * 1024
CACHE_FORMAT = 6
VARIANT_SHIFTS = (1, 2, 3)
"""Each variant runs its programs once with the canonical layout, then once more after each of
these shifts (``Sandbox.run(again=...)``): a bug that depends on set order (no visited set,
say) shows different faces, and a submission matching any of them is explained."""


Faces = list[list[ProgramObservation]]
"""A variant's distinct observations of each test's program, by test index."""


def variant_observations(
    problem: Problem, misconceptions: Sequence[Misconception], tests: Sequence[ProblemTest], cache_dir: Path | None
) -> dict[str, Faces]:
    """What each buggy variant shows on each test's program (its distinct faces), by variant
    name. Cached on disk by content; whatever is not cached runs through one warm sandbox.
    A face that several variants (or runs) share is one object: most variants agree on most
    tests, and a batch worker holds the library for its whole life."""
    programs = [test.to_wire() for test in tests]
    interned: dict[str, ProgramObservation] = {}
    found: dict[str, Faces] = {}
    missing = []
    for misconception in misconceptions:
        cached = _cache_path(cache_dir, misconception, programs)
        faces = _read_cache(cached, len(programs), interned)
        if faces is None:
            missing.append((misconception, cached))
        else:
            found[misconception.name] = faces
    if missing:
        policy = SandboxPolicy(
            limits=replace(problem.limits, **VARIANT_LIMITS),
            isolation=Isolation.PROCESS,
            class_name=problem.api.class_name,
            required_attributes=problem.api.required_attributes,
            forbidden_imports=problem.forbidden_imports,
        )
        with Sandbox(policy, programs) as sandbox:
            for misconception, cached in missing:
                wires = _faces_of_variant(sandbox, read_submission(misconception.path), len(programs))
                if cached is not None:
                    write_atomically(cached, json.dumps(wires))
                found[misconception.name] = [[_interned(wire, interned) for wire in test] for test in wires]
    return found


def _faces_of_variant(sandbox: Sandbox, source: bytes | None, count: int) -> list[list[dict]]:
    """The canonical first pass, then each shifted second pass: the distinct ones per test,
    as wire data."""
    every = range(count)
    runs = [sandbox.run(source, again=every, again_shift=shift) for shift in VARIANT_SHIFTS]
    faces: list[list[dict]] = []
    for i in every:
        distinct: dict[str, dict] = {}
        for observation in (runs[0].programs[i], *(run.again[i] for run in runs)):
            wire = to_wire(observation)
            distinct.setdefault(_wire_key(wire), wire)
        faces.append(list(distinct.values()))
    return faces


def _wire_key(wire: dict) -> str:
    return json.dumps(wire, sort_keys=True)


def _interned(wire: dict, interned: dict[str, ProgramObservation]) -> ProgramObservation:
    key = _wire_key(wire)
    if key not in interned:
        interned[key] = from_wire(wire)
    return interned[key]


def _cache_path(cache_dir: Path | None, misconception: Misconception, programs: list) -> Path | None:
    if cache_dir is None:
        return None
    key = hashlib.sha256(
        json.dumps([CACHE_FORMAT, __version__, misconception.path.read_bytes().decode(), programs]).encode()
    ).hexdigest()
    return cache_dir / f"{key}.json"


def _read_cache(path: Path | None, count: int, interned: dict[str, ProgramObservation]) -> Faces | None:
    if path is None or not path.is_file():
        return None
    try:
        wires = json.loads(path.read_text())
        if not isinstance(wires, list) or len(wires) != count:
            return None
        return [[_interned(wire, interned) for wire in test] for test in wires]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # a damaged or foreign cache entry is recomputed


@dataclass
class MisconceptionLibrary:
    """A problem's misconceptions and what each shows, loaded once for a grading session
    (a command, a batch worker) instead of once per submission."""

    problem: Problem
    cache_dir: Path | None
    _faces: dict = field(default_factory=dict)
    """(misconception, test names) -> its distinct faces, by test name."""
    _right: dict = field(default_factory=dict)
    """(misconception, test names) -> the tests it gets right."""
    _wrong: dict = field(default_factory=dict)
    """(misconception, test names) -> its faces that disagree with the reference, by test name."""
    _misconceptions: tuple[Misconception, ...] | None = None

    @property
    def misconceptions(self) -> tuple[Misconception, ...]:
        if self._misconceptions is None:
            self._misconceptions = load_misconceptions(self.problem)
        return self._misconceptions

    def faces(self, misconception: Misconception, tests: Sequence[ProblemTest]) -> dict[str, list[ProgramObservation]]:
        """What the variant showed on each test (each distinct face of it), by test name."""
        key = (misconception.name, tuple(test.name for test in tests))
        if key not in self._faces:
            # one miss computes every variant: they share one warm sandbox
            every = variant_observations(self.problem, self.misconceptions, tests, self.cache_dir)
            for name, faces in every.items():
                self._faces[(name, key[1])] = {t.name: faces[i] for i, t in enumerate(tests)}
        return self._faces[key]

    def load(self, tests: Sequence[ProblemTest], expected: Mapping[str, ProgramObservation]) -> None:
        """Load every misconception's faces now (from the cache, or by running the variants),
        and compare them with the reference, rather than when the first failing submission
        needs them: a long-lived holder can then set aside everything it will keep for good."""
        for misconception in self.misconceptions:
            self._compare_with_reference(misconception, tests, expected)

    def right_answers(
        self, misconception: Misconception, tests: Sequence[ProblemTest], expected: Mapping[str, ProgramObservation]
    ) -> frozenset[str]:
        """The tests on which some face of the variant agrees with the reference."""
        self._compare_with_reference(misconception, tests, expected)
        return self._right[(misconception.name, tuple(test.name for test in tests))]

    def wrong_faces(
        self, misconception: Misconception, tests: Sequence[ProblemTest], expected: Mapping[str, ProgramObservation]
    ) -> dict[str, list[ProgramObservation]]:
        """The variant's faces that disagree with the reference, by test name: only these can
        reproduce a wrong answer."""
        self._compare_with_reference(misconception, tests, expected)
        return self._wrong[(misconception.name, tuple(test.name for test in tests))]

    def _compare_with_reference(
        self, misconception: Misconception, tests: Sequence[ProblemTest], expected: Mapping[str, ProgramObservation]
    ) -> None:
        key = (misconception.name, tuple(test.name for test in tests))
        if key in self._right:
            return
        faces = self.faces(misconception, tests)
        agrees = {t.name: [observations_agree(t, face, expected[t.name]) for face in faces[t.name]] for t in tests}
        self._right[key] = frozenset(name for name, agreeing in agrees.items() if any(agreeing))
        self._wrong[key] = {
            t.name: [face for face, agreeing in zip(faces[t.name], agrees[t.name]) if not agreeing] for t in tests
        }


def default_cache_dir() -> Path:
    base = os.environ.get("GRADER_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "grader"
    )
    return Path(base) / "misconceptions"


def diagnose(
    problem: Problem,
    expected: Mapping[str, ProgramObservation],
    observed: Mapping[str, ProgramObservation],
    library: MisconceptionLibrary,
    failed: Collection[str],
) -> Diagnosis | None:
    """The known misconception that reproduces the most of the submission's failures
    (``failed``: the names of the tests the checks failed)."""
    tests = problem.tests
    comparable = [t for t in tests if t.name in failed and observed[t.name].status.value in ("completed", "raised")]
    if not comparable:
        return None
    # where the submission agrees with the reference, it agrees with a variant exactly when
    # that variant does: known once per library, so only the other tests are compared here,
    # and only with the variant's faces that disagree with the reference too
    right = {t.name for t in tests if observations_agree(t, expected[t.name], observed[t.name])}
    best, best_agreement = None, -1
    for misconception in library.misconceptions:
        variant_right = library.right_answers(misconception, tests, expected)
        wrong_faces = library.wrong_faces(misconception, tests, expected)
        agreeing = {
            t.name for t in tests
            if (t.name in variant_right if t.name in right
                else any(observations_agree(t, face, observed[t.name]) for face in wrong_faces[t.name]))
        }
        explained = frozenset(t.name for t in comparable if t.name in agreeing)
        # rank by agreement on every test, passing ones too: two bugs that fail the same
        # tests differently, or fail different tests, are told apart
        agreement = len(agreeing)
        if explained and agreement > best_agreement:
            best, best_agreement = Diagnosis(misconception, explained), agreement
    return best


# ------------------------------------------------------------------ reading the source

def static_findings(source: bytes, problem: Problem) -> tuple[Finding, ...]:
    """Mistakes visible in the submission's text. Parsing only: nothing of it runs here, and
    a file built to choke the parser (huge, or nested a million deep) just gets no findings."""
    if len(source) > MAX_SOURCE_BYTES:
        return ()
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ()
    class_name = problem.api.class_name
    required = set(problem.api.required_attributes)
    findings: list[Finding] = []
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == class_name]
    for cls in classes:
        # each method walked once, its nodes shared by the rules
        methods = {method: list(ast.walk(method)) for method in cls.body if isinstance(method, ast.FunctionDef)}
        findings += _nested_methods(cls, methods, required)
        findings += _rule_on_wrong_object(methods)
        findings += _backward_without_seed(methods)
    findings += _methods_outside_class(tree, classes, required, class_name)
    findings += _math_without_import(list(ast.walk(tree)))
    return tuple(sorted(findings, key=lambda f: f.line))


Walked = Mapping[ast.FunctionDef, list[ast.AST]]
"""A class's methods, each with every node inside it (``ast.walk``)."""


def _nested_methods(cls: ast.ClassDef, methods: Walked, required: set[str]) -> list[Finding]:
    found = []
    for method, inside in methods.items():
        for inner in inside:
            if inner is not method and isinstance(inner, ast.FunctionDef) and inner.name in required:
                found.append(Finding(inner.lineno, f"`def {inner.name}` is indented inside `{method.name}`, so "
                                     f"{cls.name} has no `{inner.name}` method: move it out one level"))
    return found


def _rule_on_wrong_object(methods: Walked) -> list[Finding]:
    found = []
    for method, inside in methods.items():
        if method.name == "__init__":
            continue
        for node in inside:
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)):
                    continue
                owner = target.value.id
                if target.attr == "backward" and owner != "self":
                    found.append(Finding(node.lineno, f"`{owner}.backward = ...` replaces that node's backward() "
                                         f"method; store the rule as `{owner}._backward`"))
                elif target.attr == "_backward" and owner in ("self", "other") and method.name != "backward":
                    found.append(Finding(node.lineno, f"`{owner}._backward = ...` attaches the rule to an input; "
                                         "it belongs to the result (`out._backward = _backward`)"))
    return found


def _backward_without_seed(methods: Walked) -> list[Finding]:
    for method, inside in methods.items():
        if method.name == "backward":
            seeds = [
                node for node in inside
                if isinstance(node, (ast.Assign, ast.AugAssign))
                and any(isinstance(t, ast.Attribute) and t.attr == "grad" for t in _targets(node))
            ]
            if not seeds:
                return [Finding(method.lineno, "backward() never sets the output's grad (it should start with self.grad = 1)")]
    return []


def _targets(node: ast.AST) -> list[ast.expr]:
    return list(node.targets) if isinstance(node, ast.Assign) else [node.target]  # type: ignore[attr-defined]


def _methods_outside_class(tree: ast.Module, classes: list[ast.ClassDef], required: set[str], class_name: str) -> list[Finding]:
    defined = {n.name for cls in classes for n in cls.body if isinstance(n, ast.FunctionDef)}
    return [
        Finding(node.lineno, f"`def {node.name}` is at the top level, outside class {class_name}: indent it into the class")
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name in required and node.name not in defined
    ]


def _math_without_import(everything: list[ast.AST]) -> list[Finding]:
    imported = {alias.asname or alias.name for node in everything if isinstance(node, ast.Import) for alias in node.names}
    if "math" in imported:
        return []
    uses = [node for node in everything if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "math"]
    return [Finding(uses[0].lineno, "`math` is used but never imported: add `import math` at the top")] if uses else []
