"""Shared fixtures: the course in this repository, graded in-process through the real sandbox.

Grading goes through one ``GradingSession`` per problem and isolation level for the whole run
(of each xdist worker): one warm sandbox forks a fresh process per submission, as ``grader
batch`` does, instead of a new sandbox per file. Reports do not depend on what else a session
graded (the session's contract, and what ``grader batch`` relies on).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from functools import cache
from pathlib import Path

import pytest

from grader.cli import main
from grader.diagnose import MisconceptionLibrary, default_cache_dir
from grader.grading import GradingSession
from grader.reference import expected_observations
from grader.report import Report
from grader.sandbox import Isolation, detect_isolation
from grader.spec import Course, Visibility, find_course
from grader.view import Audience, TestView, view_of

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
SUBMISSION_FIXTURES = FIXTURES / "submissions"
PROBLEM_IDS = ("value-basic", "value-full", "value-lecture", "value-softmax", "value-tanh")
SEED_PROBLEM_IDS = ("value-basic", "value-full", "value-tanh")
"""The problems of the task's seeds: the independent diagnosis set covers them, and the snapshot
taken before operations were declared holds them."""
UNDER_CI = os.environ.get("CI") == "true"


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """The misconception cache of this test run, not the user's; shared by the xdist
    workers of the run (entries are written atomically), so each variant runs once."""
    shared = tmp_path_factory.getbasetemp().parent if os.environ.get("PYTEST_XDIST_WORKER") else tmp_path_factory.getbasetemp()
    cache = shared / "grader-cache"
    cache.mkdir(exist_ok=True)
    os.environ["GRADER_CACHE_DIR"] = str(cache)


@pytest.fixture(scope="session")
def course() -> Course:
    return find_course(REPO)


@cache
def _problem_and_expected(problem_id: str):
    problem = find_course(REPO).load(problem_id)
    return problem, expected_observations(problem)


@cache
def _library(problem_id: str) -> MisconceptionLibrary:
    return MisconceptionLibrary(_problem_and_expected(problem_id)[0], default_cache_dir())


_SESSIONS: dict[tuple[str, Isolation], GradingSession] = {}


def _session(problem_id: str, isolation: Isolation) -> GradingSession:
    key = (problem_id, isolation)
    if key not in _SESSIONS:
        problem, expected = _problem_and_expected(problem_id)
        _SESSIONS[key] = GradingSession(problem, isolation=isolation, expected=expected, library=_library(problem_id))
    return _SESSIONS[key]


@pytest.fixture(scope="session", autouse=True)
def close_grading_sessions():
    """Stops the shared sessions' sandboxes when the run ends."""
    yield
    while _SESSIONS:
        _SESSIONS.popitem()[1].close()


def grade(problem_id: str, submission: Path, isolation: Isolation = Isolation.PROCESS) -> Report:
    """Grade one file in-process, reusing the problem, its expected values, its misconceptions
    and a warm sandbox."""
    return _session(problem_id, isolation).grade([submission])[0]


def with_test_visible_after_due_date(report: Report, test_name: str) -> Report:
    """The report with one of its tests made after_due_date, so that formats meet every visibility."""
    tests = tuple(
        dataclasses.replace(t, visibility=Visibility.AFTER_DUE_DATE) if t.name == test_name else t for t in report.tests
    )
    assert tests != report.tests, f"no test named {test_name!r}"
    return dataclasses.replace(report, tests=tests)


@pytest.fixture
def grader_in_process(capsys, monkeypatch):
    """The command line in this process: ``main(argv)`` run from the repository root with
    ``env`` added to the environment; its exit code and output as a CompletedProcess. What a
    subprocess ``python -m grader`` proves too, without starting Python and importing the
    grader (and every installed pytest plugin) again; tests/test_cli.py keeps real ones."""
    monkeypatch.chdir(REPO)

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        capsys.readouterr()
        with monkeypatch.context() as this_call:
            for name, value in (env or {}).items():
                this_call.setenv(name, value)
            try:
                code = main(list(args))
            except SystemExit as stopped:  # argparse's own usage errors
                code = stopped.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["grader", *args], code, out, err)

    return run


def namespace_isolation_or_skip() -> Isolation:
    """Namespaces where bwrap works; a skip on a laptop without it; a failure under CI."""
    if detect_isolation("auto") is Isolation.NAMESPACE:
        return Isolation.NAMESPACE
    if UNDER_CI:
        pytest.fail("bubblewrap is not usable under CI: .ci/install-os-packages should have installed it")
    pytest.skip("bubblewrap (bwrap) with user namespaces is not available on this machine")


def student(test) -> TestView:
    """What a student may see of one test."""
    return view_of(test, Audience.STUDENT)
