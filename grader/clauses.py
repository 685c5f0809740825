"""The clause audit: every clause of a problem's statement, and the tests that catch it broken.

``problems/<id>/clauses.yaml`` lists each clause of ``problem.yaml``'s ``statement`` (its exact
words), a variant of the reference that breaks only that clause (``broken_by``: a file in the
problem's folder, usually under ``clauses/`` or ``misconceptions/``) and the hand-written
tests that fail on that variant. ``grader validate`` checks that every clause is in the
statement, that every sentence of the statement holds a clause, that every clause names a
test, and that every test named fails on the variant: so no clause of the statement goes
untested, whatever the seed of the generated tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

from grader.spec import Problem, SpecError, line_finder

FILE_NAME = "clauses.yaml"


@dataclass(frozen=True, slots=True)
class Clause:
    text: str
    """The clause in the statement's own words."""
    broken_by: Path
    """The reference with only this clause broken."""
    tests: tuple[str, ...]
    """The hand-written tests that fail on ``broken_by``."""
    index: int
    line: int | None


def clauses_path(problem: Problem) -> Path:
    return problem.directory / FILE_NAME


def load_clauses(problem: Problem) -> tuple[Clause, ...]:
    """Read ``clauses.yaml`` and check its shape (JSON Schema); a SpecError names file, line and field."""
    path = clauses_path(problem)
    if not path.is_file():
        raise SpecError(path, None, "", "no clause audit: list each clause of the statement and the tests that catch it")
    text = path.read_text(encoding="utf-8")
    try:
        raw, lines = yaml.safe_load(text), line_finder(path, yaml.compose(text))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise SpecError(path, mark.line + 1 if mark else None, "", f"not valid YAML: {error}") from None
    for index, entry in enumerate(raw.get("clauses") or [] if isinstance(raw, dict) else []):
        if isinstance(entry, dict) and entry.get("tests") == []:
            raise SpecError(path, lines(("clauses", index, "tests")), f"clauses[{index}].tests",
                            f"the clause {entry.get('clause')!r} names no test: add a test that fails when only it is broken")
    schema = json.loads(resources.files("grader").joinpath("schema/clauses.schema.json").read_text())
    violation = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(raw))
    if violation is not None:
        field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in violation.absolute_path).replace(".[", "[")
        raise SpecError(path, lines(tuple(violation.absolute_path)), field or "(top level)", violation.message)
    return tuple(
        Clause(entry["clause"], problem.directory / entry["broken_by"], tuple(entry["tests"]), i, lines(("clauses", i)))
        for i, entry in enumerate(raw["clauses"])
    )


def _words(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def sentences(statement: str) -> list[str]:
    """The statement's sentences and list items, each in one line of words."""
    found = []
    for item in re.split(r"\n\s*\n|\n\s*- ", statement):
        item = _words(item).removeprefix("- ")
        found += [s for s in re.split(r"(?<=\.)\s+(?=[A-Z`])", item) if s]
    return found


def static_problems(problem: Problem, clauses: Collection[Clause]) -> list[str]:
    """What is wrong without running anything: clauses not in the statement, sentences with no
    clause, tests that do not exist or are generated, variants that are missing."""
    path = clauses_path(problem)
    statement = _words(problem.statement)
    hand_written = {test.name for test in problem.tests if not test.generated}
    found = []
    for clause in clauses:
        where = f"{path}:{clause.line}: clauses[{clause.index}]"
        if _words(clause.text) not in statement:
            found.append(f"{where}.clause: {clause.text!r} is not in the statement")
        if not clause.broken_by.is_file():
            found.append(f"{where}.broken_by: no such file {clause.broken_by}")
        for name in clause.tests:
            if name not in hand_written:
                found.append(f"{where}.tests: {name!r} is not a hand-written test of the problem")
    for sentence in sentences(problem.statement):
        if not any(_words(clause.text) in sentence for clause in clauses):
            found.append(f"{path}: the statement's sentence {sentence!r} has no clause: audit it")
    return found


def failing_tests_problems(problem: Problem, clauses: Collection[Clause], failing: Callable[[Path], set[str]]) -> list[str]:
    """Each clause's variant graded (``failing``: the tests a file fails): every test the clause
    names must fail on it. (More may fail: a variant whose results follow memory layout fails
    some tests under one isolation level and not under another.)"""
    path = clauses_path(problem)
    hand_written = {test.name for test in problem.tests if not test.generated}
    found = []
    for clause in clauses:
        if not clause.broken_by.is_file():
            continue
        failed = failing(clause.broken_by) & hand_written
        where = f"{path}:{clause.line}: clauses[{clause.index}].tests"
        if not failed:
            found.append(f"{where}: no test fails when only {clause.text!r} is broken ({clause.broken_by.name}): add one")
        elif not set(clause.tests) <= failed:
            passing = sorted(set(clause.tests) - failed)
            found.append(f"{where}: {passing} pass when only {clause.text!r} is broken ({clause.broken_by.name}); "
                         f"the tests that fail are {sorted(failed)}")
    return found
