""".ci/run, what CI runs: exactly the README's test command, and its exit code is the first
failing step's, so a failing test run, or one that collects no test (pytest's exit 5),
fails CI instead of passing it silently."""

import os
import shutil
import subprocess

import pytest

from tests.conftest import REPO

CI_RUN = REPO / ".ci" / "run"

FAKE_PYTHON3 = """#!/bin/sh
# python3 -m venv .venv: a virtual environment whose pip succeeds, whose ruff (the lint gate)
# exits with $RUFF_EXIT, whose mypy (the type gate) with $MYPY_EXIT and whose python (the test
# run) with $PYTEST_EXIT
mkdir -p .venv/bin
printf '#!/bin/sh\\nexit 0\\n' > .venv/bin/pip
printf '#!/bin/sh\\nexit %s\\n' "$RUFF_EXIT" > .venv/bin/ruff
printf '#!/bin/sh\\nexit %s\\n' "$MYPY_EXIT" > .venv/bin/mypy
printf '#!/bin/sh\\nexit %s\\n' "$PYTEST_EXIT" > .venv/bin/python
chmod +x .venv/bin/pip .venv/bin/ruff .venv/bin/mypy .venv/bin/python
"""


def test_ci_run_is_exactly_the_readmes_test_command():
    readme = (REPO / "README.md").read_text().splitlines()
    promise = next(i for i, line in enumerate(readme) if line.startswith("# 2. install") and "exactly .ci/run" in line)
    command = readme[promise + 1]
    steps = [line for line in CI_RUN.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert steps == ["set -eu", 'cd "$(dirname "$0")/.."', command]
    assert command.endswith(".venv/bin/python -m pytest")


@pytest.mark.parametrize(
    ("failing", "code"),
    [(None, 0), ("pytest", 1), ("pytest", 5), ("install-os-packages", 3), ("ruff", 1), ("mypy", 1)],
    ids=["all-pass", "tests-fail", "no-tests-collected", "os-packages-fail", "lint-fails", "types-fail"],
)
def test_ci_run_exits_with_the_first_failing_steps_code(tmp_path, failing, code):
    """.ci/run in a copy of the repository's layout, with every step it calls faked."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(CI_RUN, tmp_path / ".ci" / "run")
    (tmp_path / ".ci" / "install-os-packages").write_text(f"exit {code if failing == 'install-os-packages' else 0}\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(FAKE_PYTHON3)
    (bin_dir / "python3").chmod(0o755)
    environment = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
                   "PYTEST_EXIT": str(code if failing == "pytest" else 0),
                   "RUFF_EXIT": str(code if failing == "ruff" else 0),
                   "MYPY_EXIT": str(code if failing == "mypy" else 0)}
    result = subprocess.run(["sh", str(tmp_path / ".ci" / "run")], cwd=tmp_path / "bin", env=environment,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == code, result.stderr
    assert (tmp_path / ".venv" / "bin" / "python").exists() is (failing != "install-os-packages")
