"""The Gradescope autograder: the zip `grader gradescope build` makes, and its run_autograder
run against a fake /autograder in a temporary folder (the venv's Python instead of setup.sh)."""

import json
import os
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from grader.check import SubmissionStatus
from grader.diagnose import MisconceptionLibrary, default_cache_dir
from grader.grading import grade_submission
from grader.sandbox import detect_isolation
from grader.spec import find_course
from tests.conftest import REPO, SUBMISSION_FIXTURES, grade
from tests.test_workflow import tool_or_skip

SEED = "424242"


def build(course: Path, out: Path, *, seed: str | None = SEED) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_SEED")}
    if seed is not None:
        environment["GRADER_SEED"] = seed
    return subprocess.run([sys.executable, "-m", "grader", "--course", str(course), "gradescope", "build",
                           "--problem", "value-basic", "--out", str(out)],
                          capture_output=True, text=True, env=environment, timeout=120)


def unpack(bundle: Path, root: Path) -> Path:
    """What Gradescope does with the upload: the zip's content in /autograder/source."""
    source = root / "source"
    with zipfile.ZipFile(bundle) as archive:
        for info in archive.infolist():
            target = source / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))
            target.chmod(stat.S_IMODE(info.external_attr >> 16))
    (root / "submission").mkdir()
    return source


def run_autograder(root: Path, python: str = sys.executable, isolation: str = "auto", status: int = 0,
                   staff: list[str] | None = None) -> dict:
    """Run the bundle's run_autograder as Gradescope does; its exit status must be ``status``;
    ``staff`` collects what it printed (Gradescope shows it to the staff only)."""
    environment = {**os.environ, "GRADER_AUTOGRADER_ROOT": str(root), "GRADER_PYTHON": python,
                   "GRADER_ISOLATION": isolation}
    environment.pop("GRADER_SEED", None)
    result = subprocess.run([str(root / "source" / "run_autograder")], env=environment,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == status, result.stdout + result.stderr
    if staff is not None:
        staff.append(result.stdout)
    return json.loads((root / "results" / "results.json").read_text())


@pytest.fixture(scope="module")
def scratch_course(tmp_path_factory) -> Path:
    """A course whose value-basic differs from the repository's (one test worth 3 points),
    so a grade shows which course the bundle graded with."""
    course = tmp_path_factory.mktemp("course")
    shutil.copytree(REPO / "problems", course / "problems")
    shutil.copytree(REPO / "reference", course / "reference")
    spec = course / "problems" / "value-basic" / "problem.yaml"
    text = spec.read_text()
    start = text.index("  - name: a node added to itself")
    spec.write_text(text[:start] + text[start:].replace("points: 1", "points: 3", 1))
    return course


@pytest.fixture(scope="module")
def bundle(scratch_course, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    result = build(scratch_course, out)
    assert result.returncode == 0, result.stderr
    assert "hidden tests drawn with the secret seed from GRADER_SEED" in result.stdout
    return out


def test_the_bundle_holds_entry_points_one_problem_its_reference_the_seed_and_the_grader(bundle):
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        modes = {info.filename: stat.S_IMODE(info.external_attr >> 16) for info in archive.infolist()}
        assert archive.read("seed").decode().strip() == SEED
        assert archive.read("run_autograder").startswith(b"#!/bin/sh\n")
        assert archive.read("setup.sh").startswith(b"#!/usr/bin/env bash\n")
        assert b"bubblewrap" in archive.read("setup.sh")
        assert json.loads(archive.read("bundle.json"))["problem"] == "value-basic"
    assert modes["setup.sh"] == modes["run_autograder"] == 0o755
    assert {"course/problems/value-basic/problem.yaml", "course/reference/value_basic.py",
            "grader/pyproject.toml", "grader/grader/cli.py", "grader/grader/interpreter.py",
            "grader/grader/schema/problem.schema.json"} <= names
    assert not any(name.startswith(("course/problems/value-full", "course/reference/value_full")) for name in names)
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)


def test_building_twice_gives_the_same_bytes(scratch_course, bundle, tmp_path):
    again = tmp_path / "again.zip"
    assert build(scratch_course, again).returncode == 0
    assert again.read_bytes() == bundle.read_bytes()


def test_without_a_secret_seed_the_build_says_the_hidden_tests_use_the_public_one(scratch_course, tmp_path):
    result = build(scratch_course, tmp_path / "public.zip", seed=None)
    assert result.returncode == 0 and "PUBLIC seed" in result.stdout
    assert "seed" not in zipfile.ZipFile(tmp_path / "public.zip").namelist()


def test_the_bundled_pyproject_installs_the_grader_with_its_dependencies(bundle, tmp_path):
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    pyproject = tomllib.loads(zipfile.ZipFile(bundle).read("grader/pyproject.toml").decode())
    assert pyproject["project"]["name"] == "grader"
    assert {"pytest", "pytest-json-report", "pyyaml", "jinja2", "jsonschema"} <= {
        dependency.split(">")[0].split("=")[0] for dependency in pyproject["project"]["dependencies"]}
    assert pyproject["project"]["scripts"]["grader"] == "grader.cli:main"


def test_the_scripts_pass_shellcheck(bundle, tmp_path):
    shellcheck = tool_or_skip("shellcheck")
    source = unpack(bundle, tmp_path)
    result = subprocess.run([shellcheck, str(source / "setup.sh"), str(source / "run_autograder")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


@pytest.mark.slow
def test_run_autograder_grades_the_submission_with_the_bundled_course_and_seed(bundle, scratch_course, tmp_path):
    unpack(bundle, tmp_path)
    shutil.copyfile(REPO / "submissions" / "dave.py", tmp_path / "submission" / "dave.py")
    results = run_autograder(tmp_path)

    problem = find_course(scratch_course).load("value-basic", seed=int(SEED))
    expected = grade_submission(problem, REPO / "submissions" / "dave.py", isolation=detect_isolation("auto"),
                                library=MisconceptionLibrary(problem, default_cache_dir()))
    assert results["score"] == pytest.approx(expected.score)
    assert sum(test["max_score"] for test in results["tests"]) == pytest.approx(expected.max_score)
    added_to_itself = next(test for test in results["tests"] if test["name"] == "a node added to itself")
    assert added_to_itself["max_score"] == 3  # the bundled course's spec, not the repository's
    assert [test["name"] for test in results["tests"]] == [test.name for test in expected.tests]  # same seed


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ((), "Your submission has no .py file."),
        (("value.py", "tests/test_value.py"), "Your submission has 2 Python files (tests/test_value.py, value.py)."),
    ],
)
def test_no_python_file_or_several_are_said_in_results_json(bundle, tmp_path, files, words):
    unpack(bundle, tmp_path)
    (tmp_path / "submission" / "README.txt").write_text("my work\n")
    for name in files:
        (tmp_path / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / "submissions" / "alice.py", tmp_path / "submission" / name)
    results = run_autograder(tmp_path)
    assert results["score"] == 0 and results["tests"] == []
    assert results["output"].startswith(words)


def test_a_grader_that_fails_still_leaves_results_json(bundle, tmp_path):
    source = unpack(bundle, tmp_path)
    shutil.copyfile(REPO / "submissions" / "alice.py", tmp_path / "submission" / "value.py")
    (source / "course" / "problems" / "value-basic" / "problem.yaml").write_text("id: [unclosed\n")
    staff: list[str] = []
    results = run_autograder(tmp_path, status=1, staff=staff)  # non-zero: the staff must notice
    assert results["score"] == 0 and "The autograder failed" in results["output"]
    assert "not a problem with your code" in results["output"]
    # the staff see why: on stdout (theirs only) and in extra_data (stored, shown to no student)
    assert "GRADER FAILURE (staff only): the autograder failed: SpecError" in staff[0] and "Traceback" in staff[0]
    assert "problem.yaml" in results["extra_data"]["grader_error"] and "problem.yaml" not in results["output"]


def test_a_grader_that_cannot_start_still_leaves_results_json(bundle, tmp_path):
    unpack(bundle, tmp_path)
    shutil.copyfile(REPO / "submissions" / "alice.py", tmp_path / "submission" / "value.py")
    staff: list[str] = []
    results = run_autograder(tmp_path, python=str(tmp_path / "no-such-python"), status=127, staff=staff)
    assert results["score"] == 0 and "could not run" in results["output"]
    assert "GRADER FAILURE (staff only): the grader exited with status 127" in staff[0] and results["extra_data"]


def test_results_json_gives_the_diagnosis_and_the_findings_in_markdown(tmp_path):
    from grader.formats import markdown_text, render_gradescope

    carol = grade("value-basic", REPO / "submissions" / "carol.py")  # grads overwritten: a misconception
    results = json.loads(render_gradescope(carol))
    assert results["output_format"] == "md" and results["test_output_format"] == "text"
    hint = carol.diagnosis.misconception.hint
    assert f"**Likely misconception:** {markdown_text(hint)}" in results["output"]
    explained = [t for t in results["tests"] if f"Likely cause: {hint}" in t["output"]]
    assert explained and {t["name"] for t in explained} <= set(carol.diagnosis.explained)
    assert "extra_data" not in results  # graded: nothing for the staff
    tanh = grade("value-tanh", SUBMISSION_FIXTURES / "value-tanh" / "broken_missing_import_math.py")
    output = json.loads(render_gradescope(tanh))["output"]
    finding = tanh.findings[0]
    assert f"- line {finding.line}: {markdown_text(finding.message)}" in output
    assert "\\`math\\`" in output  # the message's backticks escaped by the one Markdown renderer


def test_a_grader_error_report_makes_gradescope_run_exit_non_zero_and_tells_the_staff(tmp_path, capsys):
    from dataclasses import replace

    from grader.gradescope import run_autograder as run_in_process

    (tmp_path / "source").mkdir()
    (tmp_path / "source" / "bundle.json").write_text(json.dumps({"problem": "value-basic"}))
    (tmp_path / "submission").mkdir()
    shutil.copyfile(REPO / "submissions" / "alice.py", tmp_path / "submission" / "value.py")
    alice = grade("value-basic", REPO / "submissions" / "alice.py")
    broken = replace(alice, status=SubmissionStatus.GRADER_ERROR, message="The grader could not judge 'x'. This is not a problem with your code.")
    run = run_in_process(tmp_path, load_problem=lambda _: alice.problem, grade=lambda problem, path: broken)
    assert run.grader_failed
    written = json.loads((tmp_path / "results" / "results.json").read_text())
    assert written == run.results and written["extra_data"] == {"grader_error": broken.message}
    assert "GRADER FAILURE (staff only): the grader could not judge every test" in capsys.readouterr().out


def test_gradescope_run_exits_1_when_the_grader_fails(grader_in_process, tmp_path):
    (tmp_path / "submission").mkdir()
    shutil.copyfile(REPO / "submissions" / "alice.py", tmp_path / "submission" / "value.py")
    result = grader_in_process("gradescope", "run", env={"GRADER_AUTOGRADER_ROOT": str(tmp_path)})  # no bundle.json
    assert result.returncode == 1
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert results["score"] == 0 and "not a problem with your code" in results["output"]
    assert "FileNotFoundError" in results["extra_data"]["grader_error"]


FORGER = """
import os, time
ROOT = "__ROOT__"
LEAKS = []
for secret in ("source/course/reference/value_basic.py", "source/seed", "source/bundle.json"):
    try:
        with open(os.path.join(ROOT, secret)) as handle:
            LEAKS.append("LEAKED " + secret + " " + handle.read()[:200])
    except OSError:
        pass
if os.fork() == 0:  # outlives the run if it can, and rewrites the results after the grader
    try:
        os.setsid()
    except OSError:  # refused by the sandbox: the double fork alone then
        pass
    if os.fork() == 0:
        time.sleep(1.5)
        for _ in range(20):
            try:
                with open(os.path.join(ROOT, "results", "results.json"), "w") as handle:
                    handle.write('{"score": 999, "output": "FORGED", "tests": []}')
            except OSError:
                pass
            time.sleep(0.1)
    os._exit(0)
"""
EXFILTRATE = """

def _relu(self):  # a visible test's message is what the student reads
    raise RuntimeError("ATTACK RAN " + " | ".join(LEAKS))


Value.relu = _relu
"""


@pytest.mark.slow
@pytest.mark.skipif(os.getuid() != 0, reason="Gradescope runs the autograder as root; so does CI")
@pytest.mark.parametrize("isolation", ["process", "auto"])
def test_as_root_a_submission_reads_no_course_and_rewrites_no_results(bundle, tmp_path, isolation):
    unpack(bundle, tmp_path)
    os.chmod(tmp_path, 0o755)
    source = (FORGER.replace("__ROOT__", str(tmp_path)) + (REPO / "reference" / "value_basic.py").read_text()
              + EXFILTRATE)
    (tmp_path / "submission" / "value.py").write_text(source)
    results = run_autograder(tmp_path, isolation=isolation)
    time.sleep(3)  # past the forger's delay
    after = json.loads((tmp_path / "results" / "results.json").read_text())
    assert after == results
    assert 0 < after["score"] < sum(test["max_score"] for test in after["tests"])
    text = json.dumps(after)
    assert "ATTACK RAN" in text and "LEAKED" not in text and "FORGED" not in text
