"""One grade per file through every door: `grader check` (its visible part), `grader grade`,
`grader batch` (any --jobs, any order) and a second installation of the grader at another
path give the same observations and scores for the same file, problem and seed, even for
files whose results follow memory layout (set-order-dependent bugs)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.grading import grade_submission
from grader.sandbox import detect_isolation
from grader.spec import find_course
from tests.conftest import REPO

pytestmark = pytest.mark.slow

SET_ORDER_DEPENDENT = ("carol.py", "dave.py")
"""carol overwrites grads (=), so which path wins follows set(_children) order; dave is buggy
in an ordinary way, as a control."""


def _grader(*args: str, cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8"}
    if pythonpath is not None:
        environment["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=300)


def _tests(report: dict) -> dict[str, tuple[str, float]]:
    return {test["name"]: (test["status"], test["score"]) for test in report["tests"]}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, dict[str, dict]]:
    """report.json of each file through each door."""
    base = tmp_path_factory.mktemp("doors")
    class_dir = base / "class"
    class_dir.mkdir()
    for name in SET_ORDER_DEPENDENT:
        shutil.copyfile(REPO / "submissions" / name, class_dir / name)
    doors: dict[str, dict[str, dict]] = {}
    for name in SET_ORDER_DEPENDENT:
        grade = _grader("--course", str(REPO), "grade", str(class_dir / name), "--problem", "value-basic", cwd=base)
        assert grade.returncode == 0, grade.stderr
        doors.setdefault("grade", {})[name] = json.loads(grade.stdout)
        # grader check's own grading (its terminal rendering is tested elsewhere)
        problem = find_course(REPO).load("value-basic")
        check = grade_submission(problem, class_dir / name, isolation=detect_isolation("auto"), visible_only=True)
        doors.setdefault("check", {})[name] = check.to_json()
    for jobs in ("1", "2"):
        out = base / f"batch-{jobs}"
        batch = _grader("--course", str(REPO), "batch", str(class_dir), "--problem", "value-basic", "--out", str(out),
                        "--jobs", jobs, "--format", "json", cwd=base)
        assert batch.returncode == 0, batch.stderr
        doors[f"batch --jobs {jobs}"] = {name: json.loads((out / Path(name).stem / "report.json").read_text())
                                         for name in SET_ORDER_DEPENDENT}
    # a second installation: the grader and the course copied under a longer path elsewhere
    other = base / ("a-much-longer-folder-name-for-another-installation" * 2) / "checkout"
    shutil.copytree(REPO / "grader", other / "grader", ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ("problems", "reference"):
        shutil.copytree(REPO / folder, other / folder)
    for name in SET_ORDER_DEPENDENT:
        moved = _grader("--course", str(other), "grade", str(class_dir / name), "--problem", "value-basic",
                        cwd=other, pythonpath=other)
        assert moved.returncode == 0, moved.stderr
        doors.setdefault("another installation", {})[name] = json.loads(moved.stdout)
    return doors


@pytest.mark.parametrize("door", ["batch --jobs 1", "batch --jobs 2", "another installation"])
def test_every_door_gives_the_grade_grader_grade_gives(graded, door):
    for name in SET_ORDER_DEPENDENT:
        want, got = graded["grade"][name], graded[door][name]
        assert (got["score"], _tests(got)) == (want["score"], _tests(want)), name


def test_check_shows_what_the_batch_will_say_of_the_visible_tests(graded):
    for name in SET_ORDER_DEPENDENT:
        batch = _tests(graded["batch --jobs 2"][name])
        check = graded["check"][name]
        visible = {test["name"]: (test["status"], test["score"]) for test in check["tests"]
                   if test["visibility"] == "visible"}
        assert visible and all(batch[test] == result for test, result in visible.items()), name


def test_the_report_says_which_python_graded_it(graded):
    assert graded["grade"]["carol.py"]["python_version"] == ".".join(map(str, sys.version_info[:3]))
