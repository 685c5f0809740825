"""pytest is the engine that runs the checks.

The tests of problem.yaml become pytest items the documented way (``pytest_collect_file``
-> ``File.collect()`` -> ``Item.from_parent``). Ordinary pytest files next to a problem are
collected too; they get the observations through fixtures and declare their points and
visibility with markers::

    @pytest.mark.points(2)
    @pytest.mark.visibility("hidden")
    def test_leaf_grads_are_numbers(observed):
        assert all(n.grad.is_number for n in observed["shared node"].nodes.values())

Every item leaves its points, visibility and verdict in ``user_properties``, which
pytest-json-report records; the report stage reads them back from there.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

import pytest

from grader.check import Verdict, judge_twice
from grader.observations import ProgramObservation
from grader.sandbox import SubmissionRun
from grader.spec import Problem, ProblemTest

GRADER_PROPERTY = "grader"


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What one pytest session judges: a problem, its expected and observed values."""

    problem: Problem
    expected: Mapping[str, ProgramObservation]
    run: SubmissionRun
    visible_only: bool = False
    """A student's check: instructor checks not marked visible are left out."""
    second_run: Mapping[int, ProgramObservation] = field(default_factory=dict)
    """Observations of a second, separate run, by test index (the hidden tests)."""
    hints: Mapping[str, str] = field(default_factory=dict)
    """A diagnosed misconception's hint, by the name of each test it explains."""

    @property
    def observed(self) -> dict[str, ProgramObservation]:
        return {test.name: self.run.programs[i] for i, test in enumerate(self.problem.tests)}


class CheckFailed(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.summary)
        self.verdict = verdict


class GraderPlugin:
    """Registered per session with the context it judges; holds no other state."""

    def __init__(self, context: CheckContext) -> None:
        self.context = context

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "points(n): points an instructor check is worth")
        config.addinivalue_line("markers", "visibility(v): visible, hidden, after_due_date or after_published")

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector):
        if file_path.resolve() == self.context.problem.spec_path.resolve():
            return ProblemFile.from_parent(parent, path=file_path, context=self.context)
        return None

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if not self.context.visible_only:
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
        item.user_properties.append(
            (
                GRADER_PROPERTY,
                {
                    "name": item.name,
                    "points": float(points.args[0]) if points else 1.0,
                    "visibility": _visibility(item),
                },
            )
        )

    @pytest.fixture
    def problem(self) -> Problem:
        return self.context.problem

    @pytest.fixture
    def submission_run(self) -> SubmissionRun:
        return self.context.run

    @pytest.fixture
    def observed(self) -> dict[str, ProgramObservation]:
        """The submission's observations, by test name."""
        return self.context.observed

    @pytest.fixture
    def expected(self) -> Mapping[str, ProgramObservation]:
        """The reference's observations, by test name."""
        return self.context.expected


def _visibility(item: pytest.Item) -> str:
    marker = item.get_closest_marker("visibility")
    return str(marker.args[0]) if marker and marker.args else "visible"


class ProblemFile(pytest.File):
    def __init__(self, *, context: CheckContext, **kwargs) -> None:
        super().__init__(**kwargs)
        self.context = context

    def collect(self):
        for index, test in enumerate(self.context.problem.tests):
            yield ProgramCheck.from_parent(self, name=test.name, test=test, index=index, context=self.context)


class ProgramCheck(pytest.Item):
    """One test of problem.yaml: judge the observations of its program."""

    def __init__(self, *, test: ProblemTest, index: int, context: CheckContext, **kwargs) -> None:
        super().__init__(**kwargs)
        self.test, self.index, self.context = test, index, context

    def runtest(self) -> None:
        verdict = judge_twice(
            self.test,
            self.context.expected[self.test.name],
            self.context.run.programs[self.index],
            self.context.second_run.get(self.index),
            self.context.run.missing_attributes,
        )
        if not verdict.passed and self.test.name in self.context.hints:
            verdict = replace(verdict, hint=self.context.hints[self.test.name])
        self.user_properties.append(
            (
                GRADER_PROPERTY,
                {
                    "name": self.test.name,
                    "points": self.test.points,
                    "visibility": self.test.visibility.value,
                    "verdict": verdict.to_dict(),
                },
            )
        )
        if not verdict.passed:
            raise CheckFailed(verdict)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CheckFailed):
            return excinfo.value.verdict.summary
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, self.test.line, f"{self.context.problem.id}: {self.test.name}"


def run_checks(context: CheckContext) -> dict:
    """One quiet, in-process pytest session over the problem's folder; pytest-json-report's record."""
    from pytest_jsonreport.plugin import JSONReport

    recorder = JSONReport()
    folder = str(context.problem.directory)
    args = [
        folder,
        "-c", os.devnull,  # the course's own pytest settings are not the grader's
        "--rootdir", folder,
        "--confcutdir", folder,
        "--import-mode=importlib",
        "-p", "no:cacheprovider",
        "-p", "no:warnings",
        "-qq",
        "--capture=sys",
        "--json-report-file=none",
    ]
    quiet = io.StringIO()  # pytest's terminal output is of no use to anyone here
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        pytest.main(args, plugins=[GraderPlugin(context), recorder])
    if recorder.report is None:
        raise RuntimeError(f"the checks of {context.problem.id} did not run:\n{quiet.getvalue()[-2000:]}")
    return recorder.report
