"""The containment scenario again, with the grader running as an unprivileged user (CI runs
as root; a course server or a laptop does not). The grader runs as uid 65534 (``setpriv``)
under Debian's own Python, from a world-readable copy of the grader, its dependencies and
the course: the virtual environment's Python lives under root's private home.

What must hold, at both isolation levels: the classmates graded after an attacker in the same
warm sandbox get the grades they get without it, see nothing it left, and no attempt of the
attacker works; what a run can write is its own folder only.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.sandbox import detect_isolation
from tests.conftest import REPO

pytestmark = pytest.mark.slow

UNDER_CI = os.environ.get("CI") == "true"
SYSTEM_PYTHON = Path("/usr/bin/python3")
NOBODY = 65534
DISTRIBUTIONS = ("PyYAML", "Jinja2", "MarkupSafe", "jsonschema", "attrs", "referencing", "rpds-py",
                 "jsonschema-specifications", "pytest", "pluggy", "iniconfig", "packaging", "pytest-json-report",
                 "pytest-metadata", "typing_extensions")


def _can_run_as_nobody() -> str:
    """Why this test cannot run here, or "" when it can."""
    if os.getuid() != 0:
        return "needs root to become another user (setpriv); CI runs as root"
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    if not SYSTEM_PYTHON.exists():
        return "no /usr/bin/python3 (Debian's python3: .ci/install-os-packages installs it)"
    version = subprocess.run([str(SYSTEM_PYTHON), "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True).stdout.strip()
    if version != str(tuple(sys.version_info[:2])):
        return f"/usr/bin/python3 is {version}, the venv's {sys.version_info[:2]}: compiled dependencies would not load"
    return ""


@pytest.fixture(scope="module")
def runtime(tmp_path_factory) -> Path:
    """A world-readable folder with the grader, its dependencies and the course."""
    reason = _can_run_as_nobody()
    if reason:
        if UNDER_CI:
            pytest.fail(f"under CI the unprivileged rows must run: {reason}")
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("unprivileged")
    site = root / "site"
    site.mkdir()
    for name in DISTRIBUTIONS:
        distribution = importlib.metadata.distribution(name)
        for file in distribution.files or ():
            source = Path(distribution.locate_file(file))
            if source.is_file() and "__pycache__" not in source.parts and not str(file).startswith(".."):
                target = site / file
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
    shutil.copytree(REPO / "grader", site / "grader", ignore=shutil.ignore_patterns("__pycache__"))
    course = root / "course"
    for folder in ("problems", "reference", "tests/fixtures/containment", "submissions"):
        shutil.copytree(REPO / folder, course / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    parent = root
    while parent != parent.parent:  # every folder above it reachable (pytest's base temp is private)
        parent = parent.parent
        parent.chmod(parent.stat().st_mode | 0o111)
    return root


SCENARIO = r'''
import dataclasses, json, secrets, sys
from pathlib import Path
from grader.grading import GradingSession
from grader.sandbox import Isolation
from grader.spec import find_course

course_dir, work, level = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
problem = find_course(course_dir).load("value-basic")
# without a memory cgroup a run gets memory_mb // 256 processes: room for the attacker's five
problem = dataclasses.replace(problem, limits=dataclasses.replace(problem.limits, memory_mb=2048))
fixtures = course_dir / "tests" / "fixtures" / "containment"
correct = (course_dir / "reference" / "value_basic.py").read_text()
mark = "grader-attack-" + secrets.token_hex(6)
attacker = work / "attacker.py"
attacker.write_text((fixtures / "attacker.py").read_text().replace("__MARK__", mark) + "\n" + correct)
probe = (fixtures / "victim_probe.py").read_text().replace("__MARK__", mark)
classmates = []
for i, sample in enumerate(sorted((course_dir / "submissions").glob("*.py"))[:6]):
    source = sample.read_text()
    future = "from __future__ import annotations\n" if "from __future__ import annotations" in source else ""
    path = work / f"classmate{i}.py"
    path.write_text(future + probe + "\n" + source.replace(future, "", 1))
    classmates.append(path)
isolation = Isolation(level)
with GradingSession(problem, isolation=isolation, diagnose_failures=False) as session:
    with_attacker = session.grade([attacker, *classmates])
with GradingSession(problem, isolation=isolation, diagnose_failures=False) as session:
    without = session.grade(classmates)
print(json.dumps({
    "attacker": with_attacker[0].stdout,
    "attacker_score": [with_attacker[0].score, with_attacker[0].max_score],
    "classmates": [[r.status, r.score, r.stdout] for r in with_attacker[1:]],
    "alone": [[r.status, r.score] for r in without],
}))
'''


@pytest.mark.parametrize("level", ["process", "namespace"])
def test_as_an_unprivileged_user_an_attacker_changes_no_classmate_s_grade(runtime, tmp_path, level):
    if level == "namespace" and detect_isolation("auto").value != "namespace":
        pytest.skip("bubblewrap with user namespaces is not available here")
    work = tmp_path / "work"
    work.mkdir()
    work.chmod(0o777)
    script = tmp_path / "scenario.py"
    script.write_text(SCENARIO)
    script.chmod(0o644)
    tmp_path.chmod(0o755)
    environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(runtime / "site"), "HOME": str(work),
                   "TMPDIR": str(work), "LANG": "C.UTF-8"}
    result = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", str(SYSTEM_PYTHON), "-s",
         str(script), str(runtime / "course"), str(work), level],
        env=environment, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert "ATTACK RAN" in facts["attacker"] and "ESCAPED" not in facts["attacker"], facts["attacker"]
    assert facts["attacker_score"][0] == facts["attacker_score"][1], facts
    for (status, score, stdout), (alone_status, alone_score) in zip(facts["classmates"], facts["alone"], strict=True):
        assert (status, score) == (alone_status, alone_score)
        assert "TRACE" not in stdout, stdout
