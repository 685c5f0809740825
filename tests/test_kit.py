"""The student kit: what it holds (and never holds), and `grader check` run from it exactly as
from the course, with no reference anywhere."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.diagnose import load_misconceptions
from grader.kit import KIT_FILE, STATEMENT_FILE
from grader.spec import Visibility, find_course
from tests.conftest import REPO

SECRET_SEED = "987654321987"
CASES = {  # a correct file, a buggy one the library diagnoses, one that does not load
    "correct": REPO / "submissions" / "alice.py",
    "buggy": REPO / "submissions" / "carol.py",
    "broken": REPO / "submissions" / "grace.py",
}


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    """value-basic's kit, made as an instructor would, with a secret seed in the environment."""
    out = tmp_path_factory.mktemp("kits") / "value-basic-kit"
    result = subprocess.run([sys.executable, "-m", "grader", "kit", "--problem", "value-basic", "--out", str(out)],
                            cwd=REPO, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "GRADER_SEED": SECRET_SEED})
    assert result.returncode == 0, result.stderr
    assert f"grader check THEIR_FILE.py --kit {out}" in result.stdout
    return out


@pytest.fixture
def submissions(tmp_path) -> Path:
    """The cases, copied to a folder of their own (no kit beside them, no course above them)."""
    folder = tmp_path / "work"
    folder.mkdir()
    for path in CASES.values():
        shutil.copy(path, folder / path.name)
    return folder


def kit_bytes(kit: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(kit.rglob("*")) if path.is_file())


def searched_forms(text: str) -> list[bytes]:
    """``text`` as it would stand in the kit's files: raw (Markdown) and JSON-escaped."""
    return [text.encode(), json.dumps(text, ensure_ascii=False)[1:-1].encode()]


def code_lines(path: Path) -> set[str]:
    """A Python file's lines of code (not its docstrings), stripped, long enough to be its own."""
    source = path.read_text()
    docstrings = {line.strip() for node in ast.walk(ast.parse(source))
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and ast.get_docstring(node)
                  for line in ast.get_docstring(node).splitlines()}
    return {line.strip() for line in source.splitlines() if len(line.strip()) >= 12} - docstrings


def test_the_kit_holds_the_statement_and_visible_tests_with_their_expected_observations(kit):
    assert sorted(path.name for path in kit.iterdir()) == sorted([KIT_FILE, STATEMENT_FILE])
    data = json.loads((kit / KIT_FILE).read_text())
    problem = find_course(REPO).load("value-basic")
    visible = [test for test in problem.tests if test.visibility is Visibility.VISIBLE]
    assert [test["name"] for test in data["tests"]] == [test.name for test in visible]
    assert all(test["expected"]["values"] for test in data["tests"])
    assert data["problem"]["withheld_tests"] == len(problem.tests) - len(visible)
    assert data["format_version"] >= 1 and len(data["problem"]["digest"]) == 64
    statement = (kit / STATEMENT_FILE).read_text()
    assert problem.statement.strip() in statement and "grader check YOUR_FILE.py --kit value-basic-kit" in statement


def test_the_kit_holds_no_reference_hidden_program_variant_code_or_seed(kit):
    held = kit_bytes(kit)
    course = find_course(REPO)
    spec_text = course.spec_path("value-basic").read_text()
    problem = course.load("value-basic")
    hints = "\n".join([m.hint for m in load_misconceptions(problem)] + [test.hint for test in problem.tests])
    # what the course shows students anyway: its spec's text, its hints and those a diagnosis gives
    published = spec_text + (kit / STATEMENT_FILE).read_text() + hints

    reference = course.reference_dir / "value_basic.py"
    secret_reference = {line for line in code_lines(reference) if line not in published}
    assert len(secret_reference) > 10, secret_reference
    leaked = [line for line in secret_reference if any(form in held for form in searched_forms(line))]
    assert not leaked, f"reference code in the kit: {leaked}"

    for seed in (None, int(SECRET_SEED)):  # the spec's public seed, and the one the kit was made with
        problem = course.load("value-basic", seed=seed)
        withheld = [test for test in problem.tests if test.visibility is not Visibility.VISIBLE]
        assert len(withheld) > 40 and any(test.generated for test in withheld)
        for test in withheld:
            program = test.program.source.strip()
            assert not any(form in held for form in searched_forms(program)), f"the program of {test.name!r}"
            assert not any(form in held for form in searched_forms(test.name)), f"the name of {test.name!r}"

    variants = sorted((course.problems_dir / "value-basic" / "misconceptions").glob("*.py"))
    reference_code = reference.read_text()
    own_lines = 0
    for variant in variants:
        for line in code_lines(variant):
            if line in reference_code or line in published:
                continue  # the variant's copy of the reference, or text the course publishes
            own_lines += 1
            assert not any(form in held for form in searched_forms(line)), f"{variant.name}: {line}"
    assert own_lines > len(variants)  # the search looked at what makes each variant a variant

    assert SECRET_SEED.encode() not in held
    assert b'"seed"' not in held


def _check(grader_in_process, *args: str) -> tuple[int, str]:
    """``check`` with ``args`` (global options first, if any)."""
    split = 2 if args and args[0] == "--course" else 0
    result = grader_in_process(*args[:split], "check", *args[split:])
    return result.returncode, result.stdout


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_from_the_kit_says_exactly_what_check_from_the_course_says(case, kit, submissions, grader_in_process):
    path = str(submissions / CASES[case].name)
    text = _check(grader_in_process, path, "--kit", str(kit))
    assert text == _check(grader_in_process, path, "--problem", "value-basic")
    reports = [json.loads(_check(grader_in_process, path, *where, "--json")[1])
               for where in (["--kit", str(kit)], ["--problem", "value-basic"])]
    for report in reports:
        report.pop("duration_s")
    assert reports[0] == reports[1]
    report = reports[0]
    assert report["status"] == ("failed_to_load" if case == "broken" else "graded")
    assert (report["score"] == report["max_score"]) == (case == "correct")
    if case == "buggy":
        assert "likely cause:" in text[1] and report["diagnosis"]["misconception"] == "grad_overwritten"


def test_check_runs_from_a_kit_with_no_reference_anywhere(kit, submissions, tmp_path, grader_in_process, monkeypatch):
    """The grader's package alone, copied where no course is: check from the kit gives what
    check from the course gives, and without the kit it cannot run at all."""
    package = tmp_path / "site" / "grader"
    shutil.copytree(REPO / "grader", package, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(package.parent)}
    env.pop("GRADER_COURSE", None)

    def alone(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "grader", *args], cwd=submissions, env=env,
                              capture_output=True, text=True, timeout=300)

    located = subprocess.run([sys.executable, "-c", "import grader; print(grader.__file__)"], cwd=submissions,
                             env=env, capture_output=True, text=True)
    assert located.stdout.strip() == str(package / "__init__.py")
    without = alone("check", "carol.py")
    assert without.returncode == 2 and len(without.stderr.splitlines()) == 1 and "Traceback" not in without.stderr
    with_kit = alone("check", "carol.py", "--kit", str(kit))
    assert with_kit.returncode == 0, with_kit.stderr
    monkeypatch.chdir(submissions)
    from_course = _check(grader_in_process, "--course", str(REPO), "carol.py", "--problem", "value-basic")
    assert with_kit.stdout == from_course[1]
    assert "likely cause:" in with_kit.stdout and "program:" in with_kit.stdout


def test_a_kit_beside_the_file_or_in_grader_kit_is_found(kit, submissions, tmp_path, grader_in_process, monkeypatch):
    inside = kit / "mine"
    inside.mkdir(exist_ok=True)
    shutil.copy(CASES["buggy"], inside / "carol.py")
    monkeypatch.chdir(tmp_path)  # no course here, nor above
    monkeypatch.delenv("GRADER_COURSE", raising=False)
    expected = grader_in_process("check", str(inside / "carol.py"), "--kit", str(kit))
    found = grader_in_process("check", str(inside / "carol.py"))
    assert found.returncode == 0 and found.stdout == expected.stdout
    shutil.rmtree(inside)
    by_environment = grader_in_process("check", str(submissions / "carol.py"), env={"GRADER_KIT": str(kit)})
    assert by_environment.returncode == 0, by_environment.stderr
    assert "a node added to itself" in by_environment.stdout and "likely cause:" in by_environment.stdout


def _course_copy(root: Path) -> Path:
    for folder in ("problems", "reference"):
        shutil.copytree(REPO / folder, root / folder)
    return root


def _one_line_refusal(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_a_kit_from_another_version_of_the_problem_is_refused(tmp_path, submissions, grader_in_process):
    course = _course_copy(tmp_path / "course")
    kit = tmp_path / "old-kit"
    made = grader_in_process("--course", str(course), "kit", "--problem", "value-basic", "--out", str(kit))
    assert made.returncode == 0, made.stderr
    path = str(submissions / "carol.py")
    assert grader_in_process("--course", str(course), "check", path, "--kit", str(kit)).returncode == 0
    spec = course / "problems" / "value-basic" / "problem.yaml"
    spec.write_text(spec.read_text().replace('version: "1.0"', 'version: "1.1"'))
    stale = grader_in_process("--course", str(course), "check", path, "--kit", str(kit))
    _one_line_refusal(stale, "stale", "version 1.0", "version 1.1", "grader kit --problem value-basic")


def test_a_kit_of_another_format_another_problem_or_none_is_refused_in_one_line(kit, tmp_path, submissions,
                                                                               grader_in_process):
    path = str(submissions / "carol.py")
    _one_line_refusal(grader_in_process("check", path, "--kit", str(kit), "--problem", "value-full"),
                      "value-basic", "not value-full")
    _one_line_refusal(grader_in_process("check", path, "--kit", str(tmp_path / "nowhere")), "no student kit")
    data = json.loads((kit / KIT_FILE).read_text())
    for name, changed in [("future", {**data, "format_version": 99}),
                          ("tampered", {**data, "tests": [{**data["tests"][0], "visibility": "hidden"}]}),
                          ("damaged", {**data, "tests": "nothing"})]:
        other = tmp_path / name
        other.mkdir()
        (other / KIT_FILE).write_text(json.dumps(changed))
        _one_line_refusal(grader_in_process("check", path, "--kit", str(other)), KIT_FILE)
    (tmp_path / "not-json").mkdir()
    (tmp_path / "not-json" / KIT_FILE).write_text("{")
    _one_line_refusal(grader_in_process("check", path, "--kit", str(tmp_path / "not-json")), "not a readable")


def test_kit_refuses_an_out_that_is_a_file_in_one_line(tmp_path, grader_in_process):
    target = tmp_path / "a-file"
    target.write_text("")
    _one_line_refusal(grader_in_process("kit", "--problem", "value-basic", "--out", str(target)), "is a file")
    _one_line_refusal(grader_in_process("kit", "--problem", "value-basic", "--out", str(target / "below")))


NEW_PROBLEMS = {  # a correct file and a misconception variant of each problem the lecture adds
    "value-lecture": ("correct_seed.py", "exp_backward_uses_input.py"),
    "value-softmax": ("correct_notebook.py", "log_backward_uses_output.py"),
}


@pytest.mark.slow
@pytest.mark.parametrize("problem_id", sorted(NEW_PROBLEMS))
def test_a_kit_carries_the_declared_operations_and_checks_as_the_course_does(problem_id, tmp_path,
                                                                            grader_in_process):
    """value-lecture and value-softmax declare operations the first three problems lack (exp,
    log, sum(), / and ** with numbers): their kits carry them, so their visible programs parse
    from the kit alone, and check from the kit says what check from the course says."""
    kit = tmp_path / f"{problem_id}-kit"
    made = grader_in_process("kit", "--problem", problem_id, "--out", str(kit), env={"GRADER_SEED": SECRET_SEED})
    assert made.returncode == 0, made.stderr
    data = json.loads((kit / KIT_FILE).read_text())
    declared = find_course(REPO).load(problem_id, visible_only=True).api.operations
    assert [(entry["name"], entry["kind"]) for entry in data["problem"]["api"]["operations"]] == [
        (operation.name, operation.kind.value) for operation in declared]
    held = kit_bytes(kit)
    assert SECRET_SEED.encode() not in held and b'"seed"' not in held
    course = find_course(REPO)
    problem = course.load(problem_id, visible_only=True)
    hints = "\n".join([m.hint for m in load_misconceptions(problem)] + [test.hint for test in problem.tests])
    published = course.spec_path(problem_id).read_text() + (kit / STATEMENT_FILE).read_text() + hints
    secret_reference = {line for line in code_lines(problem.reference_path)
                        if line not in published}
    assert len(secret_reference) > 10, secret_reference
    assert not [line for line in secret_reference if any(form in held for form in searched_forms(line))]

    correct, buggy = NEW_PROBLEMS[problem_id]
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(REPO / "tests" / "fixtures" / "submissions" / problem_id / correct, work / "cem.py")
    shutil.copy(REPO / "problems" / problem_id / "misconceptions" / buggy, work / "bea.py")
    for name, passes in (("cem.py", True), ("bea.py", False)):
        from_kit = json.loads(_check(grader_in_process, str(work / name), "--kit", str(kit), "--json")[1])
        from_course = json.loads(_check(grader_in_process, str(work / name), "--problem", problem_id, "--json")[1])
        for report in (from_kit, from_course):
            report.pop("duration_s")
        assert from_kit == from_course
        assert from_kit["status"] == "graded" and (from_kit["score"] == from_kit["max_score"]) == passes


def test_kit_prints_the_out_path_as_given_relative_to_the_working_folder(tmp_path, grader_in_process, monkeypatch):
    monkeypatch.chdir(tmp_path)
    absolute = tmp_path / "handouts" / "vb-kit"
    made = grader_in_process("--course", str(REPO), "kit", "--problem", "value-basic", "--out", str(absolute))
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("handouts/vb-kit/: the student kit of value-basic")
    assert "students run: grader check THEIR_FILE.py --kit handouts/vb-kit\n" in made.stdout
    assert str(tmp_path) not in made.stdout  # no path of the instructor's machine to copy to students
    relative = grader_in_process("--course", str(REPO), "kit", "--problem", "value-basic", "--out", "vb-kit")
    assert "--kit vb-kit\n" in relative.stdout and (tmp_path / "vb-kit" / KIT_FILE).is_file()


def test_with_no_kit_and_no_course_check_says_how_to_get_going(submissions, grader_in_process, monkeypatch):
    """Not even the checkout the grader runs from (an editable install) is taken for the course."""
    monkeypatch.chdir(submissions)  # no kit beside the file, no course here or above
    monkeypatch.delenv("GRADER_COURSE", raising=False)
    monkeypatch.delenv("GRADER_KIT", raising=False)
    _one_line_refusal(grader_in_process("check", "carol.py"), "no student kit and no course", "--kit DIR",
                      "--course DIR")
    _one_line_refusal(grader_in_process("problems"), "no course here", "--course DIR")
    listed = grader_in_process("--course", str(REPO), "problems")
    assert listed.returncode == 0 and listed.stdout.startswith("value-basic\t")
