"""The problem authors' guide (docs/writing-problems.md), followed as an instructor would: its
files make a course in a temporary folder, with a method the grader has never heard of
(``sigmoid``), and that course validates and grades without a change to ``grader/``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO

GUIDE = REPO / "docs" / "writing-problems.md"
_FILE = re.compile(r"<!-- file: (?P<path>\S+) -->\n```\w*\n(?P<text>.*?)\n```", re.S)
_VALIDATE_OUTPUT = re.compile(r"<!-- validate output -->\n```text\n(?P<text>.*?)\n```", re.S)


def guide_files() -> dict[str, str]:
    return {match["path"]: match["text"] + "\n" for match in _FILE.finditer(GUIDE.read_text())}


@pytest.fixture
def guide_course(tmp_path: Path) -> Path:
    for name, text in guide_files().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_the_guide_holds_a_reference_a_problem_and_a_misconception():
    assert set(guide_files()) == {"reference/value_sigmoid.py", "problems/value-sigmoid/problem.yaml",
                                  "problems/value-sigmoid/misconceptions/sigmoid_backward_uses_input.py"}


@pytest.mark.slow
def test_the_guides_course_validates_as_the_guide_says(guide_course, grader_in_process):
    run = grader_in_process("--course", str(guide_course), "--isolation", "process", "validate", "value-sigmoid")
    assert run.returncode == 0, run.stdout
    shown = _VALIDATE_OUTPUT.search(GUIDE.read_text())["text"].replace("(namespace)", "(process)")
    assert run.stdout.strip() == shown


@pytest.mark.slow
def test_a_correct_and_a_buggy_file_are_graded_with_the_new_method(guide_course, grader_in_process, tmp_path):
    files = guide_files()
    correct = tmp_path / "correct.py"
    correct.write_text(files["reference/value_sigmoid.py"].replace("s * (1 - s) * out.grad", "(1 - s) * s * out.grad"))
    buggy = tmp_path / "buggy.py"
    shutil.copy(guide_course / "problems/value-sigmoid/misconceptions/sigmoid_backward_uses_input.py", buggy)
    percents = {}
    for path in (correct, buggy):
        out = tmp_path / f"out-{path.stem}"
        run = grader_in_process("--course", str(guide_course), "--isolation", "process", "grade", str(path),
                                "--problem", "value-sigmoid", "--out", str(out), "--format", "json,html")
        assert run.returncode == 0, run.stderr
        report = (out / "report.json").read_text()
        percents[path.stem] = json.loads(report)
    assert percents["correct"]["score"] == percents["correct"]["max_score"] == 8
    lost = [t["name"] for t in percents["buggy"]["tests"] if t["score"] < t["max_score"]]
    assert "sigmoid of one value" in lost and "a sigmoid neuron" in lost
    html = (tmp_path / "out-buggy" / "report.html").read_text()
    assert 'class="op" text-anchor="end">sigmoid</text>' in html  # the picture names the new method


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ('operator: "*"', 'operator: "<<"', "api.operations[1].operator: '<<' is not one of"),
        ("s = x.sigmoid()", "s = x.tanh()", "tests[0].program: `x.tanh()`: the method `tanh` is not part of this problem"),
    ],
)
def test_the_guides_declaration_mistakes_are_refused_as_it_says(guide_course, grader_in_process, old, new, said):
    spec = guide_course / "problems/value-sigmoid/problem.yaml"
    spec.write_text(spec.read_text().replace(old, new, 1))
    run = grader_in_process("--course", str(guide_course), "validate", "value-sigmoid")
    assert run.returncode == 1
    line = next(line for line in run.stdout.splitlines() if "✗" in line)
    assert said in line
    shown = line.split("/problems/value-sigmoid/", 1)[1]
    assert f"/problems/value-sigmoid/{shown}\n" in GUIDE.read_text()  # the guide shows the very line
