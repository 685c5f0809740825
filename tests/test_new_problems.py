"""The two problems of the micrograd lecture and its exercises notebook (value-lecture,
value-softmax), through the doors a student and an instructor use: a correct file keeps every
point and a buggy one loses the tests of its mistake, in `check`, `grade`, `batch`, `ci` and
the Gradescope bundle."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO, SUBMISSION_FIXTURES
from tests.test_gradescope import run_autograder, unpack

CASES = [
    ("value-lecture", "correct_seed.py", "exp_backward_uses_input.py", "exp of one value"),
    ("value-softmax", "correct_notebook.py", "log_backward_uses_output.py", "log of one value"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("problem_id", "correct", "buggy", "caught_by"), CASES)
def test_check_grade_and_batch_grade_a_correct_and_a_buggy_file(grader_in_process, tmp_path, problem_id, correct,
                                                                  buggy, caught_by):
    correct_path = SUBMISSION_FIXTURES / problem_id / correct
    buggy_path = tmp_path / "class" / "bea.py"
    buggy_path.parent.mkdir()
    shutil.copy(REPO / "problems" / problem_id / "misconceptions" / buggy, buggy_path)
    shutil.copy(correct_path, tmp_path / "class" / "cem.py")

    checked = grader_in_process("--isolation", "process", "check", str(correct_path))  # the problem guessed
    assert checked.returncode == 0 and f"({problem_id})" in checked.stdout and "✗" not in checked.stdout

    graded = grader_in_process("--isolation", "process", "grade", str(buggy_path), "--problem", problem_id)
    report = json.loads(graded.stdout)
    lost = {t["name"] for t in report["tests"] if t["score"] < t["max_score"]}
    assert caught_by in lost and report["score"] < report["max_score"]

    batch = grader_in_process("--isolation", "process", "batch", str(tmp_path / "class"), "--problem", problem_id,
                              "--out", str(tmp_path / "out"), "--jobs", "1")
    assert batch.returncode == 0, batch.stderr
    with (tmp_path / "out" / "grades.csv").open(encoding="utf-8-sig") as grades:  # with the BOM spreadsheets want
        rows = {row["student"]: row for row in csv.DictReader(grades)}
    assert float(rows["cem"]["score"]) == float(rows["cem"]["max_score"]) > float(rows["bea"]["score"])


def test_the_softmax_reference_reproduces_the_notebooks_gradients():
    from grader.reference import run_reference
    from grader.spec import find_course

    problem = find_course(REPO).load("value-softmax", visible_only=True)
    nodes = run_reference(problem, problem.test("the notebook's example").program).nodes
    grads = [nodes[name].grad.number for name in ("l0", "l1", "l2", "l3")]
    assert grads == pytest.approx([0.0417726, 0.8390245, 0.0056533, -0.8864504], abs=1e-7)


@pytest.mark.slow
@pytest.mark.parametrize(("problem_id", "correct", "buggy", "caught_by"), CASES)
def test_ci_and_the_gradescope_bundle_grade_a_correct_and_a_buggy_file(tmp_path, problem_id, correct, buggy,
                                                                       caught_by):
    correct_path = SUBMISSION_FIXTURES / problem_id / correct
    buggy_path = REPO / "problems" / problem_id / "misconceptions" / buggy

    # grader ci on the files named (a course without GitHub's event), the problem fixed by the variable
    scores = {}
    for name, path in (("correct", correct_path), ("buggy", buggy_path)):
        out = tmp_path / f"ci-{name}"
        ran = subprocess.run([sys.executable, "-m", "grader", "--course", str(REPO), "--isolation", "process", "ci",
                              str(path), "--out", str(out)], cwd=tmp_path, capture_output=True, text=True,
                             env={**os.environ, "GRADER_PROBLEM": problem_id}, timeout=300)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        total = next(line for line in ran.stdout.splitlines() if line.startswith("total: "))
        scores[name] = total.split()[1]
    got, full = scores["correct"].split("/")
    assert float(got) == float(full)
    got, full = scores["buggy"].split("/")
    assert float(got) < float(full)

    # the Gradescope bundle of the problem, run as Gradescope runs it
    bundle = tmp_path / "autograder.zip"
    built = subprocess.run([sys.executable, "-m", "grader", "--course", str(REPO), "gradescope", "build",
                            "--problem", problem_id, "--out", str(bundle)], capture_output=True, text=True,
                           env={**os.environ, "GRADER_SEED": "31337"}, timeout=300)
    assert built.returncode == 0, built.stderr
    for name, path in (("correct", correct_path), ("buggy", buggy_path)):
        root = tmp_path / f"autograder-{name}"
        unpack(bundle, root)
        shutil.copyfile(path, root / "submission" / "value.py")
        results = run_autograder(root, isolation="process")
        lost = {test["name"] for test in results["tests"] if test["score"] < test["max_score"]}
        if name == "correct":
            assert not lost and results["score"] == sum(test["max_score"] for test in results["tests"])
        else:
            assert caught_by in lost
