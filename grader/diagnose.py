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
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Collection, Mapping, Sequence

from grader import __version__
from grader.budgets import budgeted_programs, reference_costs
from grader.check import readings_equal
from grader.observations import ProgramObservation, RunStatus, from_wire, readable, same_wire, to_wire
from grader.files import read_submission, write_atomically
from grader.sandbox import Isolation, Sandbox, SandboxPolicy
from grader.spec import Problem, ProblemTest
from grader.view import Audience, shown_in_detail

VARIANT_LIMITS = {"test_seconds": 5.0, "submission_seconds": 60.0}
"""Wall limits of a variant's run: backstops only (each program has its CPU-time budget)."""


@dataclass(frozen=True, slots=True)
class Misconception:
    name: str
    description: str
    hint: str
    path: Path | None
    """The variant's code; None in a student kit, which holds only what it showed."""
    cause: str = ""
    """What it shares with variants that are the same mistake written another way (its
    docstring's ``cause:`` line; its name when it has none). Variants of one cause are never
    rivals: each one's hint fits the other."""


@dataclass(frozen=True, slots=True)
class Diagnosis:
    misconception: Misconception
    explained: frozenset[str]
    """Names of the failing visible tests every wrong value of which it reproduces."""
    confidence: float = 1.0
    """Its evidence (``Evidence.confidence``), 0..1."""


@dataclass(frozen=True, slots=True)
class Finding:
    """A mistake visible in the source itself."""

    line: int
    message: str
    misconception: str = ""
    """The library's name for this mistake, where it has one: evidence for that diagnosis."""


def load_misconceptions(problem: Problem) -> tuple[Misconception, ...]:
    folder = problem.misconceptions_dir
    if folder is None or not folder.is_dir():
        return ()
    found = []
    for path in sorted(folder.glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        lines = doc.splitlines()
        hint, cause = (next((line.split(":", 1)[1].strip() for line in lines if line.startswith(key)), "")
                       for key in ("hint:", "cause:"))
        # the cause is a name; what follows it on the line says why
        found.append(Misconception(path.stem, lines[0] if lines else path.stem, hint, path,
                                   cause.split()[0] if cause else path.stem))
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
    limits = replace(problem.limits, **VARIANT_LIMITS)
    # the limits a variant runs under decide its faces too (a memory limit can make it raise):
    # part of the key, so a course with other limits never reads this one's entries
    runner = f"{runner_digest()}:{json.dumps(asdict(limits), sort_keys=True)}" if cache_dir is not None else ""
    interned: dict[str, ProgramObservation] = {}
    found: dict[str, Faces] = {}
    missing = []
    for misconception in misconceptions:
        cached = _cache_path(cache_dir, misconception, programs, runner)  # keyed by the programs alone
        faces = _read_cache(cached, len(programs), interned)
        if faces is None:
            missing.append((misconception, cached))
        else:
            found[misconception.name] = faces
    if missing:
        policy = SandboxPolicy(
            limits=limits,
            isolation=Isolation.PROCESS,
            class_name=problem.api.class_name,
            required_attributes=problem.api.required_attributes,
            forbidden_imports=problem.forbidden_imports,
        )
        # each program under its CPU-time budget (``budgets``), the wall limit only a backstop:
        # a variant that hangs by design is stopped in its budget, and a loaded machine does not
        # make a sound variant time out (a face that timed out is never cached, so it would
        # differ from one session to the next, and a file's diagnosis with it)
        budgeted = budgeted_programs(tests, reference_costs(problem), limits.test_seconds)
        with Sandbox(policy, budgeted) as sandbox:
            for misconception, cached in missing:
                wires = _faces_of_variant(sandbox, read_submission(misconception.path), len(programs))
                # a face that timed out or crashed may be the machine's load, not the variant's:
                # kept for this session, never cached, so a later session runs it again
                settled = all(face["status"] in (s.value for s in COMPARABLE) for test in wires for face in test)
                if cached is not None and settled:
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


def runner_digest() -> str:
    """What decides a variant's observations besides its source and the programs: the grader's
    own code (the sandbox and the interpreter set where objects land, and so a set-order
    dependent variant's faces) and the Python version. A cached face from other code would
    give another diagnosis than a fresh run: the same file, another installation, another
    answer."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256(sys.version.encode())
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _cache_path(cache_dir: Path | None, misconception: Misconception, programs: list, runner: str) -> Path | None:
    if cache_dir is None:
        return None
    key = hashlib.sha256(
        json.dumps([CACHE_FORMAT, __version__, runner, misconception.path.read_bytes().decode(), programs]).encode()
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


Cell = tuple[str, str]
"""One observed thing of a test: (node name, field) for data, grad and repr, ("", "error") for
an exception the program raised."""
ERROR_CELL: Cell = ("", "error")
Cells = dict[Cell, object]
"""The cells where a run differs from the reference, each with what the run showed there."""
COMPARABLE = (RunStatus.COMPLETED, RunStatus.RAISED)


def diagnostic_tests(tests: Sequence[ProblemTest]) -> tuple[ProblemTest, ...]:
    """The tests a diagnosis is drawn from: the visible ones, the only ones `grader check` runs,
    so that every door shows the same diagnosis for the same file."""
    return tuple(test for test in tests if shown_in_detail(test.visibility, Audience.STUDENT))


def wrong_cells(test: ProblemTest, expected: ProgramObservation, observed: ProgramObservation) -> Cells | None:
    """Where ``observed`` differs from the reference, cell by cell (only the fields the test
    checks), with what it showed there; None when the run shows nothing comparable (a timeout,
    a crash)."""
    if observed.status not in COMPARABLE:
        return None
    cells: Cells = {}
    if _error_of(observed) != _error_of(expected):
        cells[ERROR_CELL] = _error_of(observed)
    if same_wire(expected, observed):
        return cells
    wanted, had = readable(expected.nodes), readable(observed.nodes)
    for field_name in test.checks:
        for name, want in wanted.items():
            have = had.get(name)
            if have is None:
                if ERROR_CELL not in cells:  # nodes an exception kept from being made are its
                    cells[(name, field_name)] = None  # consequence, not failures of their own
                continue
            if not readings_equal(want.field(field_name), have.field(field_name), field_name, test.exact_repr):
                cells[(name, field_name)] = have.field(field_name)
    return cells


def _error_of(observation: ProgramObservation) -> tuple[str, int | None] | None:
    error = observation.error
    return None if error is None else (error.type, error.step)


def _same_cell(test: ProblemTest, cell: Cell, mine: object, theirs: object) -> bool:
    """Two wrong answers at one cell are the same wrong answer."""
    if cell == ERROR_CELL or mine is None or theirs is None:
        return mine == theirs
    return readings_equal(mine, theirs, cell[1], test.exact_repr)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Evidence:
    """How one misconception's predictions meet a submission's failures, cell by cell."""

    explained: int
    """Wrong cells of the submission where the variant is wrong the very same way."""
    unexplained: int
    """Wrong cells of the submission where the variant shows something else."""
    unfulfilled: int
    """Cells where the variant is wrong but the submission is right: predictions that failed."""
    tests: frozenset[str]
    """Failing tests every wrong cell of which the variant reproduces."""
    refuted: int = 0
    """Tests the submission gets entirely right where the variant fails."""

    @property
    def confidence(self) -> float:
        """Explained over everything either side got wrong: 1 only for the very same failures."""
        total = self.explained + self.unexplained + self.unfulfilled
        return self.explained / total if total else 0.0


def _test_evidence(test: ProblemTest, mine: Cells, faces: Sequence[Cells | None]) -> tuple[int, int, int]:
    """(explained, unexplained, unfulfilled) on one test, for the face of the variant that
    fits best (a set-order-dependent bug shows several)."""
    best = None
    for theirs in faces:
        if theirs is None:  # the variant timed out or crashed where the submission did not
            found = (0, len(mine), 1)
        elif ERROR_CELL in mine and not (ERROR_CELL in theirs and _same_cell(test, ERROR_CELL, mine[ERROR_CELL], theirs[ERROR_CELL])):
            # the submission raised where the variant did not (or raised something else): what it
            # shows is the exception's doing (grads never propagated), and agreeing on it is no evidence
            found = (0, len(mine), sum(1 for cell in theirs if cell not in mine))
        else:
            explained = sum(1 for cell, got in mine.items() if cell in theirs and _same_cell(test, cell, got, theirs[cell]))
            found = (explained, len(mine) - explained, sum(1 for cell in theirs if cell not in mine))
        if best is None or found[0] - found[1] - found[2] > best[0] - best[1] - best[2]:
            best = found
    return best or (0, len(mine), 0)


def weigh(tests: Sequence[ProblemTest], mine: Mapping[str, Cells], faces: Mapping[str, Sequence[Cells | None]]) -> Evidence:
    """A variant's evidence over the tests the submission ran to the end (``mine``: its wrong
    cells by test name)."""
    explained = unexplained = unfulfilled = refuted = 0
    fully: set[str] = set()
    for test in tests:
        if test.name not in mine:
            continue
        e, u, f = _test_evidence(test, mine[test.name], faces[test.name])
        explained, unexplained, unfulfilled = explained + e, unexplained + u, unfulfilled + f
        refuted += bool(f and not mine[test.name])
        if e and not u:
            fully.add(test.name)
    return Evidence(explained, unexplained, unfulfilled, frozenset(fully), refuted)


@dataclass
class MisconceptionLibrary:
    """A problem's misconceptions and what each shows on the visible tests, loaded once for a
    grading session (a command, a batch worker) instead of once per submission."""

    problem: Problem
    cache_dir: Path | None
    excluded: frozenset[str] = frozenset()
    """Misconceptions left out (``benchmarks/diagnosis.py`` grades each variant without itself)."""
    _faces: dict = field(default_factory=dict)
    """(misconception, test names) -> its distinct faces, by test name."""
    _wrong: dict = field(default_factory=dict)
    """(misconception, test names) -> the wrong cells of each face, by test name."""
    _misconceptions: tuple[Misconception, ...] | None = None

    @property
    def misconceptions(self) -> tuple[Misconception, ...]:
        if self._misconceptions is None:
            self._misconceptions = load_misconceptions(self.problem)
        return tuple(m for m in self._misconceptions if m.name not in self.excluded)

    @classmethod
    def recorded(cls, problem: Problem, misconceptions: Sequence[Misconception],
                 faces: Mapping[str, Mapping[str, list[ProgramObservation]]]) -> "MisconceptionLibrary":
        """A library of what each variant showed on the problem's diagnostic tests, recorded
        elsewhere (a student kit): it holds no variant's code and runs nothing."""
        names = tuple(test.name for test in diagnostic_tests(problem.tests))
        return cls(problem, None, _faces={(m.name, names): dict(faces[m.name]) for m in misconceptions},
                   _misconceptions=tuple(misconceptions))

    def without(self, name: str) -> "MisconceptionLibrary":
        """The same library (sharing what it loaded) minus one misconception."""
        return replace(self, excluded=self.excluded | {name})

    @property
    def tests(self) -> tuple[ProblemTest, ...]:
        return diagnostic_tests(self.problem.tests)

    def faces(self, misconception: Misconception, tests: Sequence[ProblemTest]) -> dict[str, list[ProgramObservation]]:
        """What the variant showed on each test (each distinct face of it), by test name."""
        key = (misconception.name, tuple(test.name for test in tests))
        if key not in self._faces:
            if misconception.path is None:
                raise KeyError(f"{misconception.name}: recorded on other tests than {key[1]}, and its code is not here")
            # one miss computes every variant: they share one warm sandbox
            every = variant_observations(self.problem, self.misconceptions, tests, self.cache_dir)
            for name, faces in every.items():
                self._faces[(name, key[1])] = {t.name: faces[i] for i, t in enumerate(tests)}
        return self._faces[key]

    def load(self, tests: Sequence[ProblemTest], expected: Mapping[str, ProgramObservation]) -> None:
        """Load every misconception's faces on the diagnostic tests among ``tests`` now (from
        the cache, or by running the variants), and compare them with the reference, rather
        than when the first failing submission needs them: a long-lived holder can then set
        aside everything it will keep for good."""
        for misconception in self.misconceptions:
            self.wrong_faces(misconception, diagnostic_tests(tests), expected)

    def wrong_faces(
        self, misconception: Misconception, tests: Sequence[ProblemTest], expected: Mapping[str, ProgramObservation]
    ) -> dict[str, list[Cells | None]]:
        """Each face's wrong cells (None for a face that timed out or crashed), by test name."""
        key = (misconception.name, tuple(test.name for test in tests))
        if key not in self._wrong:
            faces = self.faces(misconception, tests)
            self._wrong[key] = {t.name: [wrong_cells(t, expected[t.name], face) for face in faces[t.name]] for t in tests}
        return self._wrong[key]


def default_cache_dir() -> Path:
    base = os.environ.get("GRADER_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "grader"
    )
    return Path(base) / "misconceptions"


CONFIDENCE = 0.8
"""A diagnosis is given only when the misconception's evidence reaches this (explained cells
over every cell either side got wrong); chosen with ``benchmarks/diagnosis.py``."""
CONFIRMED_CONFIDENCE = 0.5
"""... or this, when a mistake read from the source points at the same misconception."""
MARGIN = 0.1
"""The runner-up (another hint) must trail by this much, or the source must break the tie."""
COMPLETE_CONFIDENCE = 0.5
"""... or this, when the misconception reproduces every wrong cell of the submission, on at least
``COMPLETE_EVIDENCE`` cells, and fails no test the submission passes: what else it predicts in
the failing tests is the weaker counter-evidence (a student often makes a mistake in fewer
places than the variant: in the forward pass but not in the backward one, in an operator
the reference derives from another)."""
COMPLETE_EVIDENCE = 3
SHAPES = frozenset({"backward_only_direct_children", "topo_not_reversed", "backward_without_topological_order"})
"""Misconceptions of the shape of ``backward()`` that ``read_source`` recognises: they fail
like one another (and like a topological sort without a visited set) on many graphs, so one of
them is named only when the source shows its shape."""


def rank(
    tests: Sequence[ProblemTest],
    expected: Mapping[str, ProgramObservation],
    observed: Mapping[str, ProgramObservation],
    library: MisconceptionLibrary,
) -> list[tuple[Misconception, Evidence]]:
    """Every misconception with its evidence, most convincing first."""
    mine = {}
    for test in tests:
        cells = wrong_cells(test, expected[test.name], observed[test.name])
        if cells is not None:
            mine[test.name] = cells
    if not any(mine.values()):
        return []
    weighed = [(m, weigh(tests, mine, library.wrong_faces(m, tests, expected))) for m in library.misconceptions]
    return sorted(weighed, key=lambda pair: (-pair[1].confidence, -pair[1].explained, pair[0].name))


def diagnose(
    expected: Mapping[str, ProgramObservation],
    observed: Mapping[str, ProgramObservation],
    library: MisconceptionLibrary,
    pointed: Collection[str] = (),
) -> Diagnosis | None:
    """The known misconception behind the failures of the visible tests, when the evidence is
    strong and unambiguous enough; None (say nothing) otherwise. ``pointed``: the misconceptions
    the source points at (``SourceReading.signals``): one of them counts as ``MARGIN`` more evidence
    and lowers the bar, and when the source points only elsewhere nothing is said; a
    misconception of ``backward()``'s shape (``SHAPES``) is named only where the source shows
    that shape."""
    scored = sorted(
        ((evidence.confidence + (MARGIN if m.name in pointed else 0.0), m, evidence)
         for m, evidence in rank(library.tests, expected, observed, library)
         if evidence.explained and (m.name in pointed or m.name not in SHAPES)),
        key=lambda entry: (-entry[0], entry[1].name),
    )
    if not scored:
        return None
    score, best, evidence = scored[0]
    if pointed and best.name not in pointed:
        return None
    bar = CONFIRMED_CONFIDENCE if best.name in pointed else _bar(evidence)
    rival = next((other for other, m, _ in scored[1:] if m.cause != best.cause), 0.0)
    if evidence.confidence < bar or rival > score - MARGIN:
        return None
    return Diagnosis(best, evidence.tests, round(evidence.confidence, 3))


def _bar(evidence: Evidence) -> float:
    """The confidence a misconception the source does not point at needs."""
    complete = not evidence.unexplained and not evidence.refuted and evidence.explained >= COMPLETE_EVIDENCE
    return COMPLETE_CONFIDENCE if complete else CONFIDENCE


# ------------------------------------------------------------------ reading the source

@dataclass(frozen=True, slots=True)
class SourceReading:
    """What the submission's text says, read once (parsing only: nothing of it runs here, and a
    file built to choke the parser, huge or nested a million deep, just says nothing)."""

    findings: tuple[Finding, ...]
    """Mistakes visible in the text, by line."""
    signals: frozenset[str]
    """The misconceptions the source points at: those of its findings, and shapes of
    ``backward()`` that are not worth a finding of their own but tell apart bugs that fail
    alike (a topological order walked forwards; no walk at all)."""


def read_source(source: bytes, problem: Problem) -> SourceReading:
    tree = _parse(source)
    if tree is None:
        return SourceReading((), frozenset())
    findings = _findings_in(tree, problem)
    pointed = {finding.misconception for finding in findings if finding.misconception}
    for cls in tree.body:
        if isinstance(cls, ast.ClassDef) and cls.name == problem.api.class_name:
            methods = {m.name: m for m in cls.body if isinstance(m, ast.FunctionDef)}
            if "backward" in methods:
                # read through the helpers backward() calls: what it does, wherever it is written
                functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
                pointed |= _backward_shape(_reached(methods["backward"], methods, functions))
    return SourceReading(findings, frozenset(pointed))


def static_findings(source: bytes, problem: Problem) -> tuple[Finding, ...]:
    return read_source(source, problem).findings


def _findings_in(tree: ast.Module, problem: Problem) -> tuple[Finding, ...]:
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


def _reached(backward: ast.FunctionDef, methods: Mapping[str, ast.FunctionDef],
             functions: Mapping[str, ast.FunctionDef]) -> list[ast.FunctionDef]:
    """``backward()`` and the helpers it calls, its class's methods (``self.helper()``) and the
    module's functions (``helper(self)``), however deep: what it does, wherever it is written."""
    reached: list[ast.FunctionDef] = []
    todo = [backward]
    while todo:
        function = todo.pop()
        if function in reached:
            continue
        reached.append(function)
        for node in ast.walk(function):
            if not isinstance(node, ast.Call):
                continue
            if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) and node.func.value.id == "self":
                todo += [methods[node.func.attr]] if node.func.attr in methods else []
            elif isinstance(node.func, ast.Name) and node.func.id in functions:
                todo.append(functions[node.func.id])
    return reached


ORDER_BUILDERS = ("append", "appendleft", "insert", "extend")
"""Methods that grow a list: a ``backward()`` calling none of them builds no order of its own."""


def _backward_shape(functions: list[ast.FunctionDef]) -> set[str]:
    inside = [node for function in functions for node in ast.walk(function)]
    loops = [node for node in inside if isinstance(node, (ast.For, ast.While))]
    nested = [node for node in inside if isinstance(node, (ast.FunctionDef, ast.Lambda)) and node not in functions]
    calls = [node for node in inside if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)]
    if not loops and not nested and not any(call.func.attr == "backward" for call in calls):  # type: ignore[attr-defined]
        return {"backward_only_direct_children"}  # it walks no graph: no topological order is built here
    growing = [call.func for call in calls if call.func.attr in ORDER_BUILDERS]  # type: ignore[attr-defined]
    grown = {func.value.id for func in growing if isinstance(func.value, ast.Name)}  # type: ignore[attr-defined]
    if not growing and _recurses(functions, nested):
        return {"backward_without_topological_order"}  # it recurses into the inputs and orders nothing
    reverses = any(
        (isinstance(node, ast.Name) and node.id == "reversed")
        or (isinstance(node, ast.Attribute) and node.attr in ("reverse", "insert", "appendleft"))
        or (isinstance(node, ast.keyword) and node.arg == "reverse")
        or (isinstance(node, ast.Slice) and node.step is not None)
        for node in inside
    )
    # a list walked forwards: one backward() itself grew (children appended before their users),
    # or one whose nodes' rules the loop calls
    walks_a_list = any(
        isinstance(loop, ast.For) and isinstance(loop.iter, ast.Name)
        and (loop.iter.id in grown or any(isinstance(n, ast.Attribute) and n.attr == "_backward" for n in ast.walk(loop)))
        for loop in loops
    )
    return {"topo_not_reversed"} if walks_a_list and not reverses else set()


def _recurses(functions: list[ast.FunctionDef], nested: list[ast.AST]) -> bool:
    """Whether ``backward()`` recurses: it, a helper or a function nested in them calls itself
    (``helper(child)``, ``child.helper()``), or it calls ``backward()`` on another node."""
    def calls_itself(function: ast.FunctionDef) -> bool:
        return any(
            isinstance(node, ast.Call) and (
                (isinstance(node.func, ast.Name) and node.func.id == function.name)
                or (isinstance(node.func, ast.Attribute) and node.func.attr in (function.name, "backward")))
            for node in ast.walk(function)
        )

    return any(calls_itself(f) for f in [*functions, *nested] if isinstance(f, ast.FunctionDef))


def _parse(source: bytes) -> ast.Module | None:
    if len(source) > MAX_SOURCE_BYTES:
        return None
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


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
                                         f"method; store the rule as `{owner}._backward`", "backward_attached_to_output"))
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
                return [Finding(method.lineno, "backward() never sets the output's grad (it should start with self.grad = 1)",
                                "missing_seed_grad")]
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
