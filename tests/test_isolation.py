"""The isolation level: namespaces where bwrap works, an honest fallback where it does not."""

import json
import os
import subprocess
import sys

from grader.sandbox import Isolation
from tests.conftest import REPO, namespace_isolation_or_skip

NO_BWRAP = {**os.environ, "PATH": "/nonexistent"}


def run_grader(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=REPO, capture_output=True, text=True, env=env, timeout=120)


def test_without_bwrap_the_grader_falls_back_and_says_so_in_the_report(grader_in_process):
    result = grader_in_process("grade", "submissions/alice.py", "--problem", "value-basic", env={"PATH": "/nonexistent"})
    report = json.loads(result.stdout)
    assert result.returncode == 0
    assert report["isolation"]["level"] == "process" and report["score"] == report["max_score"]


def test_strict_isolation_refuses_instead_of_falling_back():
    result = run_grader("--isolation", "strict", "grade", "submissions/alice.py", "--problem", "value-basic", env=NO_BWRAP)
    assert result.returncode == 2
    assert "--isolation strict: bubblewrap (bwrap) with user namespaces is not available here" in result.stderr


def test_with_bwrap_reports_namespace_isolation_and_its_limits(grader_in_process):
    assert namespace_isolation_or_skip() is Isolation.NAMESPACE
    result = grader_in_process("--isolation", "strict", "grade", "submissions/alice.py", "--problem", "value-basic")
    report = json.loads(result.stdout)
    assert report["isolation"]["level"] == "namespace"
    assert report["isolation"]["limits"]["test_seconds"] == 5 and report["isolation"]["limits"]["memory_mb"] == 1024
