"""Which problem a submission is for, when nobody said: its source (parsed, never run) held
against the API each problem of the course declares.

A problem's API is a set of features: the methods its declared operations need (``__add__``,
``__radd__`` for a number on the left, ``relu``), its constructor keywords (``label``), the
fields its repr shows (``grad``) and whether a declared operation takes plain numbers. A file has a feature when its class defines that method
(or aliases it: ``__radd__ = __add__``), takes that keyword in ``__init__``, reads that
attribute of ``self`` in ``__repr__``, or checks an operand with ``isinstance``. The problem
chosen is the one whose features the file covers with the fewest missing, then with the
fewest extra (features of other problems of the course it has too): a correct value-basic
file with a ``tanh`` method is still value-basic, since value-tanh lacks its ``relu`` and its
repr's grad. Two problems that fit equally well are a tie, refused: the caller asks for
``--problem``.
"""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.files import read_submission
from grader.spec import Api

NUMBER_OPERANDS = "numbers as operands"
_DEF = re.compile(r"^\s*def\s+([A-Za-z_]\w*)\s*\(", re.MULTILINE)
"""For a file Python cannot parse: its method names, read line by line."""


class GuessError(Exception):
    """No problem fits better than every other; the message is the one line the user sees."""


@dataclass(frozen=True, slots=True)
class Fit:
    """How well a file matches one problem's API."""

    problem_id: str
    missing: frozenset[str]
    extra: frozenset[str]

    @property
    def rank(self) -> tuple[int, int]:
        return len(self.missing), len(self.extra)


def api_features(api: Api) -> frozenset[str]:
    """What a file implementing ``api`` has."""
    methods = {f"method {attribute}" for attribute in api.required_attributes}
    keywords = {f"keyword {name}" for name in api.constructor_keywords}
    fields = {f"repr {field}" for _, field, _, _ in string.Formatter().parse(api.repr_format) if field}
    numbers = {NUMBER_OPERANDS} if api.whitelist.takes_numbers else set()
    return frozenset({_class_feature(api.class_name)} | methods | keywords | fields | numbers)


def source_features(source: str, class_name: str) -> frozenset[str]:
    """What the class ``class_name`` in ``source`` has (nothing when it defines no such class):
    every method it defines counts, whether or not a problem declares it."""
    try:
        module = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _features_of_unparsable(source, class_name)
    classes = [node for node in ast.walk(module) if isinstance(node, ast.ClassDef) and node.name == class_name]
    features = {_class_feature(class_name)} if classes else set()
    for cls in classes:
        features |= _class_features(cls)
    return frozenset(features)


def rank_problems(source: str, apis: Mapping[str, Api]) -> list[Fit]:
    """Every problem's fit, best first (then by id)."""
    wanted = {problem_id: api_features(api) for problem_id, api in apis.items()}
    known = frozenset().union(*wanted.values()) if wanted else frozenset()
    has = {name: source_features(source, name) & known for name in {api.class_name for api in apis.values()}}
    fits = [
        Fit(problem_id, features - has[apis[problem_id].class_name], has[apis[problem_id].class_name] - features)
        for problem_id, features in wanted.items()
    ]
    return sorted(fits, key=lambda fit: (fit.rank, fit.problem_id))


def guess_problem(source: str, apis: Mapping[str, Api]) -> str:
    """The id of the one problem that fits ``source`` best; GuessError on a tie."""
    if len(apis) <= 1:
        if not apis:
            raise GuessError("the course has no problems")
        return next(iter(apis))
    fits = rank_problems(source, apis)
    class_name = apis[fits[0].problem_id].class_name
    if _class_feature(class_name) in fits[0].missing:
        raise GuessError(f"it defines no class {class_name}, so its problem cannot be told: use --problem")
    best = [fit.problem_id for fit in fits if fit.rank == fits[0].rank]
    if len(best) > 1:
        raise GuessError(f"could be {' or '.join(best)}: use --problem")
    return best[0]


def guess_problem_of(path: Path, apis: Mapping[str, Api]) -> str:
    """``guess_problem`` of the file at ``path``, read as the grader reads it (a symbolic link
    is not followed: it reads as empty)."""
    try:
        source = read_submission(path)
    except OSError as error:
        raise GuessError(f"cannot read it ({error.strerror or error}): use --problem") from None
    return guess_problem((source or b"").decode("utf-8", errors="replace"), apis)


def _class_feature(class_name: str) -> str:
    return f"class {class_name}"


def _class_features(cls: ast.ClassDef) -> set[str]:
    features: set[str] = set()
    for statement in cls.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = [statement.name]
        elif isinstance(statement, ast.Assign):  # __radd__ = __add__
            names = [target.id for target in statement.targets if isinstance(target, ast.Name)]
        else:
            continue
        features |= {f"method {name}" for name in names}
        if isinstance(statement, ast.FunctionDef) and statement.name == "__init__":
            features |= {f"keyword {name}" for name in _keywords(statement)}
        if isinstance(statement, ast.FunctionDef) and statement.name == "__repr__":
            features |= {f"repr {name}" for name in _self_attributes(statement)}
    if any(_is_isinstance(node) for node in ast.walk(cls)):
        features.add(NUMBER_OPERANDS)
    return features


def _keywords(init: ast.FunctionDef) -> list[str]:
    """The parameters after ``self`` and the data, but private ones (``_children``, ``_op``)."""
    positional = [arg.arg for arg in init.args.posonlyargs + init.args.args][2:]
    return [name for name in positional + [arg.arg for arg in init.args.kwonlyargs] if not name.startswith("_")]


def _self_attributes(function: ast.FunctionDef) -> set[str]:
    if not function.args.args:
        return set()
    me = function.args.args[0].arg
    return {node.attr for node in ast.walk(function)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == me}


def _is_isinstance(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance"


def _features_of_unparsable(source: str, class_name: str) -> frozenset[str]:
    """A file with a syntax error still names its methods: every ``def`` counts, if it
    defines the class at all."""
    if not re.search(rf"^\s*class\s+{re.escape(class_name)}\b", source, re.MULTILINE):
        return frozenset()
    methods = {f"method {name}" for name in _DEF.findall(source)}
    return frozenset({_class_feature(class_name)} | methods)
