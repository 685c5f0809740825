"""pytest is the engine that runs the checks.

The tests of problem.yaml become pytest items the documented way (``pytest_collect_file``
-> ``File.collect()`` -> ``Item.from_parent``). Ordinary pytest files next to a problem are
collected too; they get the observations through fixtures and declare their points and
visibility with markers::

    @pytest.mark.points(2)
    @pytest.mark.visibility("hidden")
    def test_leaf_grads_are_numbers(observed):
        assert all(n.grad.is_number for n in observed["shared node"].nodes.values())

One session may judge many submissions (a batch worker judges a chunk at a time): every
test of problem.yaml becomes one item per submission, and instructor checks are parametrised
by submission. Every item leaves its submission, points, visibility and verdict in
``user_properties``, which pytest-json-report records; the report stage reads them back.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from _pytest._code.code import TerminalRepr, TracebackStyle

from grader.check import TestResult, TestStatus, Verdict, judge_twice
from grader.observations import ProgramObservation
from grader.sandbox import SubmissionRun
from grader.spec import Problem, ProblemTest, Visibility

GRADER_PROPERTY = "grader"


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What one pytest session judges: a problem, its expected and observed values."""

    problem: Problem
    expected: Mapping[str, ProgramObservation]
    run: SubmissionRun
    visible_only: bool = False
    """A student's check: instructor checks not marked visible are left out."""

    @property
    def observed(self) -> dict[str, ProgramObservation]:
        return {test.name: self.run.programs[i] for i, test in enumerate(self.problem.tests)}


class CheckFailed(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.summary)
        self.verdict = verdict


SUBMISSION_ARGUMENT = "_grader_submission"


class GraderPlugin:
    """Registered per session with the contexts it judges, one per submission; holds no other state."""

    def __init__(self, contexts: Sequence[CheckContext]) -> None:
        self.contexts = list(contexts)
        self.graded_problem = self.contexts[0].problem
        self.visible_only = self.contexts[0].visible_only

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "points(n): points an instructor check is worth")
        config.addinivalue_line("markers", "visibility(v): visible, hidden, after_due_date or after_published")

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> ProblemFile | None:
        if file_path.resolve() == self.graded_problem.spec_path.resolve():
            return ProblemFile.from_parent(parent, path=file_path, contexts=self.contexts)
        return None

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Every instructor check runs once per submission of the session."""
        if SUBMISSION_ARGUMENT in metafunc.fixturenames:
            metafunc.parametrize(SUBMISSION_ARGUMENT, range(len(self.contexts)), ids=_submission_id)

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if not self.visible_only:
            return
        keep = [item for item in items if isinstance(item, ProgramCheck) or _visibility(item) == "visible"]
        dropped = [item for item in items if item not in keep]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if isinstance(item, ProgramCheck):
            return
        points = item.get_closest_marker("points")
        submission = item.callspec.params[SUBMISSION_ARGUMENT]  # type: ignore[attr-defined]
        item.user_properties.append(
            (
                GRADER_PROPERTY,
                {
                    "submission": submission,
                    "name": _instructor_check_name(item.name, submission),
                    "points": float(points.args[0]) if points else 1.0,
                    "visibility": _visibility(item),
                },
            )
        )

    @pytest.fixture(autouse=True)
    def _grader_one_submission(self, _grader_submission: int) -> None:
        """Makes every instructor check depend on (and so be parametrised by) the submission."""

    @pytest.fixture
    def problem(self) -> Problem:
        return self.graded_problem

    @pytest.fixture
    def submission_run(self, _grader_submission: int) -> SubmissionRun:
        return self.contexts[_grader_submission].run

    @pytest.fixture
    def observed(self, _grader_submission: int) -> dict[str, ProgramObservation]:
        """The submission's observations, by test name."""
        return self.contexts[_grader_submission].observed

    @pytest.fixture
    def expected(self) -> Mapping[str, ProgramObservation]:
        """The reference's observations, by test name."""
        return self.contexts[0].expected


def _submission_id(index: int) -> str:
    return f"submission{index}"


def _instructor_check_name(item_name: str, submission: int) -> str:
    """The check's name as its author wrote it, without the session's submission id."""
    tag = _submission_id(submission)
    return item_name.replace(f"[{tag}]", "").replace(f"-{tag}]", "]").replace(f"[{tag}-", "[")


def _visibility(item: pytest.Item) -> str:
    marker = item.get_closest_marker("visibility")
    return str(marker.args[0]) if marker and marker.args else "visible"


class ProblemFile(pytest.File):
    def __init__(self, *, contexts: Sequence[CheckContext], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.contexts = contexts

    def collect(self) -> Iterator[ProgramCheck]:
        """One check per submission over all the tests of problem.yaml: pytest's cost per item
        (about 1 ms) would otherwise outweigh the judging. Every test keeps its own verdict."""
        for submission, context in enumerate(self.contexts):
            name = context.problem.id
            if len(self.contexts) > 1:
                name = f"{name} [{_submission_id(submission)}]"
            tests = tuple(enumerate(context.problem.tests))
            yield ProgramCheck.from_parent(self, name=name, tests=tests, contexts=self.contexts, submission=submission)


class ProgramCheck(pytest.Item):
    """The tests of problem.yaml, for one submission: judge their programs' observations,
    leaving one verdict per test."""

    def __init__(self, *, tests: tuple[tuple[int, ProblemTest], ...], contexts: Sequence[CheckContext], submission: int,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tests, self.contexts, self.submission = tests, contexts, submission

    @property
    def context(self) -> CheckContext:
        """Looked up in the session's list, which is emptied when the session ends: pytest's
        objects form cycles, and must not keep a chunk's observations alive until the
        collector gets to them."""
        return self.contexts[self.submission]

    def runtest(self) -> None:
        failed = [verdict for index, test in self.tests if not (verdict := self.judge(index, test)).passed]
        if failed:
            raise CheckFailed(failed[0] if len(self.tests) == 1 else replace(
                failed[0], summary=f"{len(failed)} of {len(self.tests)} failed; first: {failed[0].summary}"))

    def judge(self, index: int, test: ProblemTest) -> Verdict:
        verdict = judge_twice(
            test,
            self.context.expected[test.name],
            self.context.run.programs[index],
            self.context.run.again.get(index),
            self.context.run.missing_attributes,
        )
        self.user_properties.append(
            (
                GRADER_PROPERTY,
                {
                    "submission": self.submission,
                    "name": test.name,
                    "points": test.points,
                    "visibility": test.visibility.value,
                    "verdict": verdict.to_dict(),
                },
            )
        )
        return verdict

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: TracebackStyle | None = None
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, CheckFailed):
            return excinfo.value.verdict.summary
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        first = self.tests[0][1]
        return self.path, first.line, f"{self.context.problem.id}: {self.name}"


PYTEST_ARGUMENTS = (
    # only the plugins the checks need: whatever else is installed (hypothesis, xdist, ...)
    # would cost seconds of imports in every session
    "--disable-plugin-autoload",
    "-p", "pytest_jsonreport.plugin",
    "-p", "no:cacheprovider",
    "-p", "no:warnings",
    # these collect garbage five times at the end of every session (0.1 s each time) or
    # install hooks per test; the checks need neither
    "-p", "no:unraisableexception",
    "-p", "no:threadexception",
    "-p", "no:faulthandler",
    "-p", "no:logging",
    # nor do they need these; registering a plugin costs about 1 ms per session
    "-p", "no:debugging",
    "-p", "no:doctest",
    "-p", "no:junitxml",
    "-p", "no:pastebin",
    "-p", "no:setuponly",
    "-p", "no:setupplan",
    "-p", "no:stepwise",
    "-qq",
    "--tb=no",  # failures are rendered from verdicts, not tracebacks
    "--capture=no",  # the session's output goes nowhere anyway
    "--json-report-file=none",
)


def run_checks(contexts: Sequence[CheckContext]) -> list[dict[str, Any]]:
    """One quiet, in-process pytest session over the problem's folder judging every context;
    pytest-json-report's record, split into one ``{"tests": [...]}`` per context."""
    from pytest_jsonreport.plugin import JSONReport

    if not contexts:
        return []
    recorder = JSONReport()
    problem = contexts[0].problem
    folder = str(problem.directory)
    # a course's problem folder is collected whole (instructors' checks live there); a student
    # kit's is the student's own folder: only the spec, and no conftest.py, is read from it
    collected = [folder] if problem.instructor_checks else [str(problem.spec_path), "--noconftest"]
    args = [
        *collected,
        "-c", os.devnull,  # the course's own pytest settings are not the grader's
        "--rootdir", folder,
        "--confcutdir", folder,
        "--import-mode=importlib",
        *PYTEST_ARGUMENTS,
    ]
    quiet = io.StringIO()  # pytest's terminal output is of no use to anyone here
    plugin = GraderPlugin(contexts)
    try:
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet), _last_failure_kept():
            pytest.main(args, plugins=[plugin, recorder])
    finally:
        plugin.contexts.clear()
    if recorder.report is None:
        raise RuntimeError(f"the checks of {contexts[0].problem.id} did not run:\n{quiet.getvalue()[-2000:]}")
    # a check file that could not be collected judges nobody: every submission's report says so
    broken = [c for c in recorder.report.get("collectors", []) if c.get("outcome") == "failed"]
    records: list[dict[str, Any]] = [{"tests": [], "collectors": broken} for _ in contexts]
    for entry in recorder.report.get("tests", []):
        submission = _submission_of(entry)
        if submission is not None and 0 <= submission < len(records):
            records[submission]["tests"].append(entry)
    return records


@contextlib.contextmanager
def _last_failure_kept() -> Iterator[None]:
    """pytest leaves a failing check's exception in ``sys.last_traceback`` (for debuggers),
    which would hold the whole session, and the observations it judged, until the next
    failure: put back what was there."""
    names = ("last_type", "last_value", "last_traceback", "last_exc")
    saved = {name: getattr(sys, name) for name in names if hasattr(sys, name)}
    try:
        yield
    finally:
        for name in names:
            if name in saved:
                setattr(sys, name, saved[name])
            elif hasattr(sys, name):
                delattr(sys, name)


def _submission_of(entry: dict[str, Any]) -> int | None:
    for prop in entry.get("user_properties", []):
        if GRADER_PROPERTY in prop:
            submission: int | None = prop[GRADER_PROPERTY].get("submission")
            return submission
    return None


def results_from_json_report(json_report: dict[str, Any], problem: Problem) -> tuple[TestResult, ...]:
    """pytest-json-report's record -> one TestResult per test (a check may judge several)."""
    results = []
    for entry in json_report.get("tests", []):
        for properties in _grader_properties(entry):
            verdict = Verdict.from_dict(properties["verdict"]) if "verdict" in properties else None
            status = verdict.status if verdict else _status_of_outcome(entry["outcome"])
            fraction = verdict.fraction if verdict else float(status is TestStatus.PASSED)
            results.append(
                TestResult(
                    name=properties["name"],
                    score=properties["points"] * fraction,
                    max_score=properties["points"],
                    status=status,
                    visibility=Visibility(properties["visibility"]),
                    verdict=verdict,
                    message="" if verdict else _failure_message(entry),
                )
            )
    return tuple(results)


def unjudged(json_report: dict[str, Any], problem: Problem, results: tuple[TestResult, ...]) -> tuple[str, ...]:
    """What got no verdict because the grader (or an instructor's check) broke, not the
    submission: a test of problem.yaml missing from the results, an instructor check whose
    setup or teardown raised, a check file that could not be collected."""
    judged = {result.name for result in results}
    missing = [test.name for test in problem.tests if test.name not in judged]
    broken = [prop["name"] for entry in json_report.get("tests", []) if entry.get("outcome") == "error"
              for prop in _grader_properties(entry) if "verdict" not in prop]
    uncollected = [str(c.get("nodeid") or "a check file") for c in json_report.get("collectors", [])]
    return tuple(dict.fromkeys(uncollected + broken + missing))  # the cause first: a file that broke stops every test


def _grader_properties(entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [prop[GRADER_PROPERTY] for prop in entry.get("user_properties", []) if GRADER_PROPERTY in prop]


def _status_of_outcome(outcome: str) -> TestStatus:
    return {"passed": TestStatus.PASSED, "failed": TestStatus.FAILED}.get(outcome, TestStatus.ERROR)


def _failure_message(entry: dict[str, Any]) -> str:
    for stage in ("setup", "call", "teardown"):
        crash = entry.get(stage, {}).get("crash")
        if crash and entry.get(stage, {}).get("outcome") != "passed":
            return str(crash.get("message", ""))[:2000]
    return ""
