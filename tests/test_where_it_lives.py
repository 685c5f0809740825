"""Where the grader lives must not matter (issue 18): a checkout, and its virtual environment,
under the system's temporary folder is neither entered nor wiped by the sandbox's clean-up
after each run, at either isolation level; only what the run itself left goes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from grader.grading import GradingSession
from grader.sandbox import Isolation
from tests.conftest import REPO, namespace_isolation_or_skip

LEAVES_FILES_BEHIND = '''
import os, tempfile
from pathlib import Path

Path(tempfile.gettempdir(), "left-by-the-run.txt").write_text("x")
for folder in ("/tmp", tempfile.gettempdir(), os.getcwd()):
    try:
        names = os.listdir(folder)
    except OSError:
        names = []
    for name in names:
        try:
            Path(folder, name, "planted.txt").write_text("x")  # into every folder it may write
        except OSError:
            pass
'''


@pytest.fixture
def checkout_under_tmp():
    """A folder like a checkout with its venv, under the temporary folder, many files deep."""
    with tempfile.TemporaryDirectory(prefix="grader-checkout-") as folder:
        root = Path(folder)
        site = root / ".venv" / "lib" / "python3" / "site-packages"
        for package in range(20):
            deep = site / f"package{package}" / "sub" / "module"
            deep.mkdir(parents=True)
            for number in range(20):
                (deep / f"m{number}.py").write_text("# kept\n")
        os.chmod(root, 0o755)
        yield root


@pytest.mark.parametrize("level", ["process", "namespace"])
def test_a_checkout_under_the_temporary_folder_is_never_entered_by_the_clean_up(checkout_under_tmp, course, level):
    isolation = namespace_isolation_or_skip() if level == "namespace" else Isolation.PROCESS
    before = sorted(str(p.relative_to(checkout_under_tmp)) for p in checkout_under_tmp.rglob("*"))
    problem = course.load("value-basic")
    reference = (REPO / "reference" / "value_basic.py").read_text()
    submission = checkout_under_tmp.parent / f"{checkout_under_tmp.name}-submission.py"
    submission.write_text(reference + LEAVES_FILES_BEHIND)
    try:
        with GradingSession(problem, isolation=isolation, diagnose_failures=False) as session:
            for _ in range(3):
                report = session.grade([submission])[0]
                assert report.score == report.max_score
    finally:
        submission.unlink()
    after = sorted(str(p.relative_to(checkout_under_tmp)) for p in checkout_under_tmp.rglob("*"))
    assert after == before  # nothing planted in it, nothing of it removed
    assert not (Path(tempfile.gettempdir()) / "left-by-the-run.txt").exists()
