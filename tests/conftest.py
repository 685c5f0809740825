"""Shared fixtures: the course in this repository, graded in-process through the real sandbox."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import pytest

from grader.diagnose import MisconceptionLibrary, default_cache_dir
from grader.grading import grade_submission
from grader.reference import expected_observations
from grader.report import Report
from grader.sandbox import Isolation, detect_isolation
from grader.spec import Course, find_course

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
SUBMISSION_FIXTURES = FIXTURES / "submissions"
PROBLEM_IDS = ("value-basic", "value-full", "value-tanh")
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


@lru_cache(maxsize=None)
def _problem_and_expected(problem_id: str):
    problem = find_course(REPO).load(problem_id)
    return problem, expected_observations(problem)


@lru_cache(maxsize=None)
def _library(problem_id: str) -> MisconceptionLibrary:
    return MisconceptionLibrary(_problem_and_expected(problem_id)[0], default_cache_dir())


def grade(problem_id: str, submission: Path, isolation: Isolation = Isolation.PROCESS) -> Report:
    """Grade one file in-process, reusing the problem, its expected values and its misconceptions."""
    problem, expected = _problem_and_expected(problem_id)
    return grade_submission(problem, submission, isolation=isolation, expected=expected, library=_library(problem_id))


def namespace_isolation_or_skip() -> Isolation:
    """Namespaces where bwrap works; a skip on a laptop without it; a failure under CI."""
    if detect_isolation("auto") is Isolation.NAMESPACE:
        return Isolation.NAMESPACE
    if UNDER_CI:
        pytest.fail("bubblewrap is not usable under CI: .ci/install-os-packages should have installed it")
    pytest.skip("bubblewrap (bwrap) with user namespaces is not available on this machine")
