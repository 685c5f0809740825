"""Which problem a file is for, guessed from each problem's declared API over the course's
own problems: the best fit wins, a tie is refused, and check and ci say when they guessed."""

import shutil
from pathlib import Path

import pytest

from grader.guess import GuessError, guess_problem, rank_problems
from grader.spec import Course, find_course
from tests.conftest import REPO, SUBMISSION_FIXTURES

RENAMED = {"hw1-relu": "value-basic", "hw2-ops": "value-full", "hw3-tanh": "value-tanh"}


def course_of_its_own(root: Path, problems: dict[str, str]) -> Course:
    """A course whose problems are this repository's under other ids (new id -> old id)."""
    shutil.copytree(REPO / "reference", root / "reference")
    for new, old in problems.items():
        shutil.copytree(REPO / "problems" / old, root / "problems" / new)
        spec = root / "problems" / new / "problem.yaml"
        spec.write_text(spec.read_text().replace(f"id: {old}\n", f"id: {new}\n", 1))
    return Course(root)


def source(name: str) -> str:
    return (REPO / name).read_text()


@pytest.mark.parametrize("path", sorted(SUBMISSION_FIXTURES.glob("*/correct_*.py")), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_correct_fixture_is_guessed_as_its_own_problem(path):
    assert guess_problem(path.read_text(), find_course(REPO).apis()) == path.parent.name


def test_a_correct_value_basic_file_with_extra_methods_is_not_taken_for_value_tanh():
    text = (SUBMISSION_FIXTURES / "value-basic" / "correct_extra_methods.py").read_text()
    assert "def tanh" in text  # what the old guess took for value-tanh
    fits = {fit.problem_id: fit for fit in rank_problems(text, find_course(REPO).apis())}
    # its extra methods that another problem of the course declares (value-lecture's and
    # value-softmax's exp) count as extra too
    assert fits["value-basic"].missing == frozenset() and fits["value-basic"].extra == {"method tanh", "method exp"}
    assert "method relu" in fits["value-tanh"].extra and "repr grad" in fits["value-tanh"].extra
    assert guess_problem(text, find_course(REPO).apis()) == "value-basic"


def test_the_course_s_own_problems_are_guessed_by_their_api(tmp_path):
    apis = course_of_its_own(tmp_path, RENAMED).apis()
    assert guess_problem(source("reference/value_tanh.py"), apis) == "hw3-tanh"
    assert guess_problem(source("reference/value_full.py"), apis) == "hw2-ops"
    assert guess_problem(source("submissions/alice.py"), apis) == "hw1-relu"


def test_two_problems_with_the_same_api_are_a_tie_that_is_refused(tmp_path):
    apis = course_of_its_own(tmp_path, {"lab-a": "value-basic", "lab-b": "value-basic", "lab-c": "value-tanh"}).apis()
    with pytest.raises(GuessError, match=r"^could be lab-a or lab-b: use --problem$"):
        guess_problem(source("submissions/alice.py"), apis)
    assert guess_problem(source("reference/value_tanh.py"), apis) == "lab-c"


def test_a_file_without_the_class_is_not_guessed():
    with pytest.raises(GuessError, match="defines no class Value"):
        guess_problem("def add(a, b):\n    return a + b\n", find_course(REPO).apis())


def test_a_file_python_cannot_parse_is_still_guessed_from_its_methods():
    text = source("reference/value_full.py").replace("def __neg__(self):", "def __neg__(self)")
    assert guess_problem(text, find_course(REPO).apis()) == "value-full"


def test_check_says_it_guessed_and_grades_a_course_problem(grader_in_process, tmp_path):
    course = course_of_its_own(tmp_path / "course", RENAMED)
    result = grader_in_process("--course", str(course.root), "check", "reference/value_tanh.py")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["guessed: hw3-tanh"]  # one line, beside the feedback on stdout
    assert "(hw3-tanh)" in result.stdout
    result = grader_in_process("--course", str(course.root), "check", "reference/value_tanh.py", "--problem", "hw3-tanh")
    assert "guessed" not in result.stdout + result.stderr


def test_check_refuses_a_tie_in_one_line(grader_in_process, tmp_path):
    course = course_of_its_own(tmp_path / "course", {"lab-a": "value-basic", "lab-b": "value-basic"})
    result = grader_in_process("--course", str(course.root), "check", "submissions/alice.py")
    assert result.returncode == 2
    assert result.stderr == "grader: submissions/alice.py: could be lab-a or lab-b: use --problem\n"


def test_ci_refuses_a_tie_in_one_line(grader_in_process, tmp_path):
    course = course_of_its_own(tmp_path / "course", {"lab-a": "value-basic", "lab-b": "value-basic"})
    result = grader_in_process("--course", str(course.root), "ci", "submissions/alice.py", env={"GITHUB_OUTPUT": ""})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["grader: submissions/alice.py: could be lab-a or lab-b: use --problem"]
