"""Containment against a determined student, through one warm sandbox: an attacker graded
among classmates tries every way to outlive its run, keep privileges, share state or take
more than its caps (tests/fixtures/containment/attacker.py); the classmates graded after it
in the same sandbox look for every trace it could leave (victim_probe.py). At both
isolation levels, as the user the tests run as (root in CI); tests/test_unprivileged.py
runs the same scenario as an unprivileged user.

What must hold (THREATS.md): the classmates' grades are exactly what they are without the
attacker; no attempt of the attacker works; nothing it left is seen by a later run or is
left on the machine after the session; a run's tmpfs holds no more than its caps.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import socket
import time
from pathlib import Path

import pytest

from grader.files import read_submission
from grader.grading import GradingSession, sandbox_policy
from grader.sandbox import Isolation, Sandbox
from grader.sandbox.forkserver import landlock_abi
from grader.sandbox.launch import TMPFS_BYTES
from tests.conftest import REPO, _problem_and_expected, namespace_isolation_or_skip

pytestmark = pytest.mark.slow

FIXTURES = REPO / "tests" / "fixtures" / "containment"
CORRECT = (REPO / "reference" / "value_basic.py").read_text()
CLASSMATES = sorted((REPO / "submissions").glob("*.py"))
LIMITS = {"test_seconds": 3, "submission_seconds": 30}


@pytest.fixture(params=["process", "namespace"])
def isolation(request) -> Isolation:
    return Isolation.PROCESS if request.param == "process" else namespace_isolation_or_skip()


def _limited(problem_id: str):
    problem, expected = _problem_and_expected(problem_id)
    return dataclasses.replace(problem, limits=dataclasses.replace(problem.limits, **LIMITS)), expected


def _class(folder: Path, mark: str, count: int) -> list[Path]:
    probe = (FIXTURES / "victim_probe.py").read_text().replace("__MARK__", mark)
    files = []
    for i in range(count):
        path = folder / f"classmate{i:02d}.py"
        source = CLASSMATES[i % len(CLASSMATES)].read_text()
        future = "from __future__ import annotations\n" if "from __future__ import annotations" in source else ""
        path.write_text(future + probe + "\n" + source.replace(future, "", 1))
        files.append(path)
    return files


def _grade(problem, expected, isolation: Isolation, files: list[Path]):
    with GradingSession(problem, isolation=isolation, expected=expected, diagnose_failures=False) as session:
        return session.grade(files)


def _marked_files(mark: str) -> list[str]:
    found = []
    for folder in ("/tmp", "/dev/shm", "/var/tmp"):
        try:
            found += [os.path.join(folder, name) for name in os.listdir(folder) if name.startswith(mark)]
        except OSError:
            continue
    return found


def _abstract_socket_answers(mark: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(b"\0" + mark.encode())
        return True
    except OSError:
        return False
    finally:
        probe.close()


def test_an_attacker_in_a_warm_sandbox_changes_no_classmate_s_grade(isolation, tmp_path):
    problem, expected = _limited("value-basic")
    mark = f"grader-attack-{secrets.token_hex(6)}"
    attacker = tmp_path / "attacker.py"
    attacker.write_text((FIXTURES / "attacker.py").read_text().replace("__MARK__", mark) + "\n" + CORRECT)
    classmates = _class(tmp_path, mark, 16)

    with_attacker = _grade(problem, expected, isolation, [attacker, *classmates])
    without = _grade(problem, expected, isolation, classmates)

    attack = with_attacker[0]
    assert "ATTACK RAN" in attack.stdout, attack.stdout[:2000]
    assert "ESCAPED" not in attack.stdout, attack.stdout
    assert attack.score == attack.max_score  # its own grade is its own code's
    for report, alone in zip(with_attacker[1:], without, strict=True):
        assert "PROBED" in report.stdout or report.status == "failed_to_load", report.stdout[:1000]
        assert "TRACE" not in report.stdout, f"{report.submission_path.name}: {report.stdout}"
        assert (report.score, [t.status for t in report.tests]) == (alone.score, [t.status for t in alone.tests])

    filled = _filled(attack.stdout)
    if isolation is Isolation.NAMESPACE:
        for folder, cap in (("/tmp", TMPFS_BYTES["/tmp"]), ("/dev/shm", TMPFS_BYTES["/dev/shm"]),
                            (".", TMPFS_BYTES["/sandbox/work"])):
            assert filled[folder] <= cap >> 20, filled
    elif landlock_abi() > 0:
        assert filled["/tmp"] == filled["/dev/shm"] == 0, filled  # it may write its own folder only

    time.sleep(0.5)  # a survivor would rewrite its files every 0.2 s
    assert _marked_files(mark) == []
    assert not _abstract_socket_answers(mark)


def _filled(stdout: str) -> dict[str, int]:
    line = next(line for line in stdout.splitlines() if line.startswith("FILLED "))
    return json.loads(line.removeprefix("FILLED ").replace("'", '"'))


def test_a_run_has_no_capability_and_no_way_to_another_run(isolation, tmp_path):
    """The same checks, read from inside: what the run's process is and may do."""
    problem, _ = _limited("value-basic")
    probe = tmp_path / "probe.py"
    probe.write_text(INSIDE + "\n" + CORRECT)
    with Sandbox(sandbox_policy(problem, isolation), [t.to_wire() for t in problem.tests]) as sandbox:
        run = sandbox.run(read_submission(probe), tests=[0])
    facts = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("{")))
    assert facts["uid"] != 0 and facts["euid"] != 0
    assert facts["capabilities"] == "0000000000000000"
    if isolation is Isolation.NAMESPACE:
        assert facts["pid"] == 1  # pid 1 of a namespace of its own: nothing it starts outlives it
        assert facts["can_write"] == ["."]  # its own tmpfs
        assert facts["no_new_privs"] == 1
    elif os.getuid() == 0 or landlock_abi() > 0:
        assert facts["can_write"] == ["."], facts


INSIDE = '''
import json, os
def _writable(folder):
    try:
        with open(os.path.join(folder, ".grader-probe"), "w"):
            pass
        os.unlink(os.path.join(folder, ".grader-probe"))
        return True
    except OSError:
        return False
with open("/proc/self/status") as _handle:
    _fields = dict(line.split(":", 1) for line in _handle if ":" in line)
print(json.dumps({
    "uid": os.getuid(), "euid": os.geteuid(), "pid": os.getpid(),
    "capabilities": _fields["CapEff"].strip(),
    "no_new_privs": int(_fields.get("NoNewPrivs", "0").strip()),
    "can_write": [f for f in ("/usr", "/etc", os.path.dirname(os.__file__), os.path.dirname(os.path.abspath(__file__)), ".")
                  if os.path.isdir(f) and _writable(f)],
}), flush=True)
'''


HOARDERS = '''
import os, time
HELD = 0
readers = []
for _ in range(4):
    read, write = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        try:
            block = bytearray(200 * 1024 * 1024)  # touched: counted as resident
            for i in range(0, len(block), 4096):
                block[i] = 1
            os.write(write, b"H")
            time.sleep(1.5)
        finally:
            os._exit(0)
    os.close(write)
    readers.append((pid, read))
time.sleep(1.0)
for pid, read in readers:  # held: said it holds its 200 MiB, and still alive (not killed for it)
    HELD += len(os.read(read, 1)) and os.waitpid(pid, os.WNOHANG) == (0, 0)
print("HELD", HELD, flush=True)
'''


def test_the_memory_of_all_of_a_run_s_processes_adds_up_to_its_limit(isolation, tmp_path):
    """Four processes of 200 MiB each against a 512 MiB limit: a memory cgroup (root) kills
    what goes past it; elsewhere the process cap times the address space stays under it."""
    problem, expected = _limited("value-basic")
    problem = dataclasses.replace(problem, limits=dataclasses.replace(problem.limits, memory_mb=512))
    hoarder = tmp_path / "hoarder.py"
    hoarder.write_text(HOARDERS + "\n" + CORRECT)
    with GradingSession(problem, isolation=isolation, expected=expected, diagnose_failures=False) as session:
        report = session.grade([hoarder])[0]
    held = int(next(line for line in report.stdout.splitlines() if line.startswith("HELD")).split()[1])
    assert held * 200 <= 512, report.stdout
    assert report.score == report.max_score  # the run itself goes on
