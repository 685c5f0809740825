"""Hostile submissions against the real sandbox, as a table (like nsjail's own tests).

Each row is one file of tests/fixtures/hostile/ (placeholders such as __CANARY_DIR__ filled in
at test time), the report status it must get, which of the problem's tests it may cost and
how, and what the student must be told. Every row runs under process isolation and, where
bubblewrap works, under namespaces. After every row, whatever the row:

- the grader returned, within its time limits, a report holding every test of the problem;
- the tests the submission can still answer are graded, and pass (hostile files are correct
  apart from their attack);
- the canaries outside the sandbox are unchanged and nothing was planted next to them;
  the repository's reference and spec are unchanged;
- nothing connected to the test's loopback listeners;
- no process of the submission is left: neither one carrying the row's marker name anywhere
  on the machine, nor any new descendant of this test process (which is made a child
  subreaper, so that orphans of the sandbox are reparented here and stay visible).
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import hashlib
import json
import os
import re
import resource
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader.grading import grade_submission
from grader.reference import expected_observations
from grader.sandbox import Isolation, detect_isolation
from grader.spec import find_course

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
HOSTILE = REPO_ROOT / "tests" / "fixtures" / "hostile"
PROBLEM_ID = "value-basic"
UNDER_CI = os.environ.get("CI") == "true"
HOSTILE_LIMITS = {"test_seconds": 2, "submission_seconds": 20}
DELIBERATE_TIMEOUT = {"test_seconds": 0.5}
"""Rows that wait for a limit on purpose: a correct test program takes milliseconds, so half a
second still separates it from a loop that never ends, and each timeout costs no more."""
LINUX = sys.platform.startswith("linux")
PR_SET_CHILD_SUBREAPER = 36
PROTECTED = (REPO_ROOT / "reference" / "value_basic.py", REPO_ROOT / "problems" / PROBLEM_ID / "problem.yaml")


# ---------------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Row:
    name: str
    """File stem in tests/fixtures/hostile/."""
    status: str | tuple[str, ...]
    """report.json status: graded, failed_to_load or timed_out (or any of several, where when
    the attack lands decides: before the submission loaded, or in a test)."""
    broken: str = "none"
    """Which tests it may cost: none, all, relu (programs that call relu), backward (programs that
    call backward()), relu_backward (both), repr (tests checking repr). All the others must pass."""
    broken_as: tuple[str, ...] = ()
    """The statuses those tests may get."""
    says: tuple[str, ...] = ()
    """Words (any case) the student is told: the report's output when it did not load, else
    the output of every visible broken test."""
    check: Callable[[dict, World], None] | None = None
    """Anything else the row must show, given report.json and the world."""
    namespace_only: str = ""
    """Why the attack cannot be stopped without namespaces (the row then runs only there)."""
    limits: dict = field(default_factory=dict)
    """Limits other than HOSTILE_LIMITS."""
    linger: float = 0.0
    """Seconds to wait after grading before looking for escapees and their traces."""


def _stdout_number(data: dict, pattern: str) -> int:
    match = re.search(pattern, data["captured"]["stdout"])
    assert match, f"the hostile file did not report /{pattern}/; stdout was: {data['captured']['stdout'][:500]!r}"
    return int(match.group(1))


def _stdout_has(*words: str) -> Callable[[dict, World], None]:
    def check(data: dict, world: World) -> None:
        for word in words:
            assert word in data["captured"]["stdout"], f"{word!r} not in stdout: {data['captured']['stdout'][:2000]!r}"

    return check


def _stdout_lacks(*words: str) -> Callable[[dict, World], None]:
    def check(data: dict, world: World) -> None:
        for word in words:
            assert word not in data["captured"]["stdout"], f"{word!r} in stdout: {data['captured']['stdout'][:2000]!r}"

    return check


def _all_of(*checks: Callable[[dict, World], None]) -> Callable[[dict, World], None]:
    def check(data: dict, world: World) -> None:
        for one in checks:
            one(data, world)

    return check


def _hoard_stopped(data: dict, world: World) -> None:
    hoarded = _stdout_number(data, r"hoarded (\d+) MB")
    assert hoarded < world.limits.memory_mb, f"grabbed {hoarded} MB with a {world.limits.memory_mb} MB limit"


def _forks_stopped(data: dict, world: World) -> None:
    forked = _stdout_number(data, r"forked (\d+) of 200")
    assert forked <= world.limits.processes, (
        f"the submission started {forked} processes; the process limit is {world.limits.processes}"
    )


def _file_size_stopped(data: dict, world: World) -> None:
    limit = world.limits.file_size_mb * 1024 * 1024
    written = _stdout_number(data, r"wrote (\d+) bytes")
    size = _stdout_number(data, r"size (\d+) bytes")
    assert written <= limit and size <= limit, f"wrote {written} bytes, file of {size} bytes; limit {limit}"
    if world.isolation is Isolation.PROCESS:  # the real path of the working directory: removed
        workdir = re.search(r"workdir (\S+)", data["captured"]["stdout"])
        assert workdir and not Path(workdir.group(1)).exists(), "the sandbox folder was left behind"


def _flood_capped(data: dict, world: World) -> None:
    cap = world.limits.output_kb * 1024
    captured = data["captured"]
    assert captured["truncated"] is True
    assert "spam" in captured["stdout"]
    for stream in ("stdout", "stderr"):
        assert len(captured[stream].encode()) <= cap + 100, f"{stream}: {len(captured[stream])} characters kept"


def _fake_claims_captured(stream: str) -> Callable[[dict, World], None]:
    def check(data: dict, world: World) -> None:
        assert "PASSED 10/10" in data["captured"][stream], "the fake claim should be shown as captured output"

    return check


def _nothing_leaked(data: dict, world: World) -> None:
    text = json.dumps(data)
    assert world.secret not in text, "the canary's content reached the report"
    assert "Reference solution for value-basic" not in text, "the reference solution reached the report"


def _out_of_time_in_order(data: dict, world: World) -> None:
    statuses = [test["status"] for test in data["tests"]]
    assert "timeout" in statuses, statuses
    for test in data["tests"]:
        if test["status"] == "error" and test["visibility"] == "visible":
            assert "used up" in test["output"], test
    seconds = world.limits.submission_seconds
    assert data["duration_s"] <= seconds + world.limits.test_seconds + 3, (
        f"took {data['duration_s']} s with a {seconds} s budget"
    )


def _timed_out_within_limit(data: dict, world: World) -> None:
    assert data["duration_s"] <= world.limits.test_seconds + 3, f"took {data['duration_s']} s"


def _grader_memory_flat(data: dict, world: World) -> None:
    """The grading ran in this process: its peak memory stays that of a test process, where
    parsing the submission's results as sent would have taken gigabytes."""
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert peak_mb < 600, f"the grader's process peaked at {peak_mb:.0f} MB"


def _ended_well_before_the_wall_limits(data: dict, world: World) -> None:
    seconds = sum(test["status"] == "timeout" for test in data["tests"]) * world.limits.test_seconds
    assert data["duration_s"] < seconds / 4, f"took {data['duration_s']} s"


NOT_LOADED = {"broken": "all", "broken_as": ("error",)}
SAME_FILE_SYSTEM = "under process isolation the submission runs as this user on the same file system"
SAME_PIDS = "under process isolation getppid() is this test process: the attack would kill the test run"
SAME_NETWORK = "under process isolation the submission shares this machine's loopback interface"

ROWS = (
    # --- time
    Row("import_infinite_loop", "timed_out", **NOT_LOADED, says=("did not finish",), check=_timed_out_within_limit,
        limits=DELIBERATE_TIMEOUT),
    Row("import_loop_swallows_everything", "timed_out", **NOT_LOADED, says=("did not finish",),
        check=_timed_out_within_limit, limits=DELIBERATE_TIMEOUT),
    Row("relu_backward_infinite_loop", "graded", broken="relu_backward", broken_as=("timeout",), says=("too slow: stopped after",),
        limits=DELIBERATE_TIMEOUT),
    # reading a node loops: watched like the program's steps
    Row("grad_getter_loops", "graded", broken="all", broken_as=("timeout",), says=("too slow",),
        check=_ended_well_before_the_wall_limits),
    # a loop that swallows the time budget's exception: the fixed wall limit is the backstop
    Row("relu_backward_loop_swallows_everything", "graded", broken="relu_backward", broken_as=("timeout",),
        says=("did not finish",), limits=DELIBERATE_TIMEOUT),
    # every test with a backward() runs into its time budget; the others pass
    Row("backward_infinite_loop", "graded", broken="backward", broken_as=("timeout",), says=("too slow",)),
    # past its budget too: two tests time out on their wall limit, then the submission's time
    # runs out mid-test
    Row("backward_loop_swallows_everything", "graded", broken="all", broken_as=("timeout", "error"),
        check=_out_of_time_in_order, limits={**DELIBERATE_TIMEOUT, "submission_seconds": 1.25}),
    # --- memory, processes, files, output
    Row("memory_bomb_hoard", "graded", check=_hoard_stopped),
    Row("memory_bomb_in_relu", "graded", broken="relu", broken_as=("error",), says=("MemoryError",)),
    Row("fork_bomb", "graded", check=_forks_stopped),
    Row("write_huge_file", "graded", check=_file_size_stopped),
    Row("stdout_flood", "graded", check=_flood_capped),
    Row("recursion_in_backward", "graded", broken="backward", broken_as=("error",), says=("RecursionError",)),
    Row("c_stack_recursion_in_relu", "graded", broken="relu_backward", broken_as=("error",), says=("SIGSEGV",)),
    # --- exits
    Row("exit_at_import", "failed_to_load", **NOT_LOADED, says=("exited with code 3",)),
    Row("exit_in_relu_backward", "graded", broken="relu_backward", broken_as=("error",), says=("exited with code 7",)),
    Row("exit_zero_in_every_backward", "graded", broken="backward", broken_as=("error",), says=("exited with code 0",)),
    Row("sys_exit_at_import", "failed_to_load", **NOT_LOADED, says=("SystemExit",)),
    Row("sys_exit_in_relu_backward", "graded", broken="relu_backward", broken_as=("error",), says=("SystemExit",)),
    # --- lies
    Row("fake_pass_stdout", "graded", broken="backward", broken_as=("failed",), check=_fake_claims_captured("stdout")),
    Row("fake_pass_stderr", "graded", broken="backward", broken_as=("failed",), check=_fake_claims_captured("stderr")),
    Row("fake_result_channel", ("graded", "failed_to_load"), broken="all", broken_as=("failed", "error")),
    Row("garbage_result_channel", "graded"),
    # the grader's own memory and time are not the submission's to spend
    Row("oversized_results", "graded", broken="all", broken_as=("error",), says=("result channel",),
        check=_grader_memory_flat),
    Row("flooded_channel", "graded", broken="all", broken_as=("error",), says=("result channel",)),
    Row("equal_to_everything", "graded", broken="all", broken_as=("failed",)),
    Row("nan_inf_str_data", "graded", broken="all", broken_as=("failed",)),
    Row("repr_raises", "graded", broken="repr", broken_as=("failed", "error"), says=("raised",)),
    # --- escapes
    Row("setsid_escape", "graded", linger=1.5),  # it writes escaped.txt 1 s after its parent is gone
    Row("read_canary", "graded", check=_all_of(_stdout_has("ATTACK RAN"), _stdout_lacks("LEAKED"), _nothing_leaked),
        namespace_only=SAME_FILE_SYSTEM),
    Row("delete_canary", "graded",
        check=_all_of(_stdout_has("ATTACK RAN"), _stdout_lacks("DELETED", "CREATED", "WRITABLE")),
        namespace_only=SAME_FILE_SYSTEM),
    Row("walk_filesystem", "graded", check=_all_of(_stdout_has("WALKED"), _stdout_lacks("FOUND")),
        namespace_only=SAME_FILE_SYSTEM, limits={"test_seconds": 10}),
    Row("kill_parent", "graded", check=_all_of(_stdout_has("ATTACK RAN"), _stdout_lacks("NOT IN A PID NAMESPACE")),
        namespace_only=SAME_PIDS),
    Row("connect_loopback", "graded", check=_all_of(_stdout_has("ATTACK RAN"), _stdout_lacks("CONNECTED")),
        namespace_only=SAME_NETWORK),
    # --- files that are not a submission
    Row("syntax_error", "failed_to_load", **NOT_LOADED, says=("SyntaxError",)),
    Row("empty", "failed_to_load", **NOT_LOADED, says=("no class named Value",)),
    Row("invalid_utf8", "failed_to_load", **NOT_LOADED, says=("SyntaxError", "utf-8")),
    Row("forbidden_import_torch", "failed_to_load", **NOT_LOADED, says=("not allowed", "torch")),
    Row("forbidden_import_micrograd", "failed_to_load", **NOT_LOADED, says=("not allowed", "micrograd")),
    # a name built at run time: refused by the run-time hook
    Row("forbidden_import_lazy", "graded", broken="relu", broken_as=("error",), says=("not allowed",)),
    # found in the source before anything runs, even with the run-time hook removed
    Row("forbidden_import_hook_removed", "failed_to_load", **NOT_LOADED, says=("not allowed", "micrograd", "line 7")),
    Row("forbidden_import_dynamic", "failed_to_load", **NOT_LOADED, says=("not allowed", "micrograd", "line 4")),
)


# ---------------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    state: str
    comm: str
    cmdline: str


def _processes() -> dict[int, Proc]:
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        comm, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = Proc(int(entry.name), int(rest[1]), rest[0], comm, cmdline)
    return found


def _descendants(processes: dict[int, Proc], root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for proc in processes.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _reap_zombies() -> None:
    """Orphans reparented to this (subreaper) process: collect the dead ones."""
    for proc in _processes().values():
        if proc.ppid == os.getpid() and proc.state == "Z":
            try:
                os.waitpid(proc.pid, os.WNOHANG)
            except ChildProcessError:
                pass


@pytest.fixture(scope="module", autouse=True)
def subreaper():
    """Orphans of the sandbox are reparented to this process, so that they stay countable."""
    if not LINUX:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        _reap_zombies()


# ---------------------------------------------------------------------------------- the world


@dataclass
class World:
    """Everything outside the sandbox a hostile row might reach, and how to tell it did."""

    root: Path
    isolation: Isolation
    limits: object = None
    secret: str = field(default_factory=lambda: "canary-" + secrets.token_hex(16))
    marker: str = field(default_factory=lambda: "hostile" + secrets.token_hex(4))  # 15 chars: fits comm
    before: set[int] = field(default_factory=set)
    protected: dict[Path, str] = field(default_factory=dict)
    sockets: dict[str, socket.socket] = field(default_factory=dict)

    @property
    def canary_dir(self) -> Path:
        return self.root / "canary"

    def build(self) -> None:
        self.canary_dir.mkdir()
        (self.canary_dir / "canary.txt").write_text(self.secret)
        (self.canary_dir / "folder").mkdir()
        (self.canary_dir / "folder" / "keep.txt").write_text(self.secret)
        self.protected = {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in PROTECTED}
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(8)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", tcp.getsockname()[1]))
        self.sockets = {"tcp": tcp, "udp": udp}
        if LINUX:
            unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            unix.bind("\0" + self.marker)
            unix.listen(8)
            self.sockets["unix"] = unix
        for sock in self.sockets.values():
            sock.setblocking(False)
        if LINUX:
            self.before = _descendants(_processes(), os.getpid())

    def submission(self, name: str) -> Path:
        """The hostile file with this world's paths, port and marker filled in."""
        text = (HOSTILE / f"{name}.py").read_bytes()
        for placeholder, value in (
            ("__CANARY_DIR__", str(self.canary_dir)),
            ("__MARKER__", self.marker),
            ("__PORT__", str(self.sockets["tcp"].getsockname()[1])),
            ("__ABSTRACT__", self.marker),
            ("__REPO__", str(REPO_ROOT)),
        ):
            text = text.replace(placeholder.encode(), value.encode())
        folder = self.root / "submission"
        folder.mkdir(exist_ok=True)
        path = folder / f"{name}.py"
        path.write_bytes(text)
        return path

    def strays(self) -> list[Proc]:
        if not LINUX:
            return []
        processes = _processes()
        mine = _descendants(processes, os.getpid()) - self.before
        return [
            proc
            for proc in processes.values()
            if proc.state != "Z" and (proc.pid in mine or self.marker in proc.comm or self.marker in proc.cmdline)
        ]

    def assert_intact(self) -> None:
        problems = []
        deadline = time.monotonic() + 2  # SIGKILLed processes take a moment to vanish
        while (strays := self.strays()) and time.monotonic() < deadline:
            time.sleep(0.05)
        _reap_zombies()
        if strays:
            problems.append(f"processes left running: {[(p.pid, p.comm, p.cmdline[:80]) for p in strays]}")
        canary = self.canary_dir / "canary.txt"
        if not canary.exists() or canary.read_text() != self.secret:
            problems.append("canary.txt was deleted or changed")
        keep = self.canary_dir / "folder" / "keep.txt"
        if not keep.exists() or keep.read_text() != self.secret:
            problems.append("the canary folder was deleted or changed")
        for planted in ("planted.txt", "escaped.txt"):
            if (self.canary_dir / planted).exists():
                problems.append(f"{planted} appeared next to the canary: "
                                f"{(self.canary_dir / planted).read_text()[:100]!r}")
        for path, digest in self.protected.items():
            if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                problems.append(f"{path.relative_to(REPO_ROOT)} was changed")
        for kind, sock in self.sockets.items():
            try:
                if kind == "udp":
                    problems.append(f"a UDP datagram arrived: {sock.recv(100)!r}")
                else:
                    connection, _ = sock.accept()
                    connection.close()
                    problems.append(f"something connected to the {kind} listener")
            except (BlockingIOError, InterruptedError):
                pass
        assert not problems, "; ".join(problems)

    def clean_up(self) -> None:
        for sock in self.sockets.values():
            sock.close()
        strays = self.strays()
        for proc in strays:  # only processes this row started
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except OSError:
                pass
        if strays:
            time.sleep(0.1)  # for them to die before they are reaped
        _reap_zombies()


@pytest.fixture
def world(tmp_path):
    world = World(root=tmp_path, isolation=Isolation.PROCESS)
    world.build()
    try:
        yield world
    finally:
        world.clean_up()


# ---------------------------------------------------------------------------------- grading


@functools.cache
def _problem_and_expected():
    """The hand-written tests only: each row states which of them an attack may cost, which
    random graphs (a relu on a dead branch, partial credit) would blur."""
    problem = find_course(REPO_ROOT).load(PROBLEM_ID)
    problem = dataclasses.replace(problem, tests=tuple(test for test in problem.tests if not test.generated))
    return problem, expected_observations(problem)


@functools.cache
def _namespaces_work() -> bool:
    return detect_isolation("auto") is Isolation.NAMESPACE


class GraderHung(Exception):
    pass


def _grade(path: Path, isolation: Isolation, limits):
    """grade_submission, with a watchdog: a grader that never returns fails the row."""
    problem, expected = _problem_and_expected()
    problem = dataclasses.replace(problem, limits=limits)
    bound = limits.submission_seconds + limits.test_seconds + 15

    def hung(signum, frame):
        raise GraderHung(f"grade_submission did not return within {bound:g} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, bound)
    try:
        return problem, grade_submission(problem, path, isolation=isolation, expected=expected)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _is_broken(row: Row, test) -> bool:
    calls_backward = "backward" in test.program.operations
    return {
        "none": False,
        "all": True,
        "relu": "relu" in test.program.operations,
        "backward": calls_backward,  # a test of data and repr before any backward() is not broken
        "relu_backward": "relu" in test.program.operations and calls_backward,
        "repr": "repr" in test.checks,
    }[row.broken]


def _cases():
    for isolation in (Isolation.PROCESS, Isolation.NAMESPACE):
        for row in ROWS:
            marks = []
            if isolation is Isolation.PROCESS and row.namespace_only:
                marks.append(pytest.mark.skip(reason=f"namespace only: {row.namespace_only}"))
            yield pytest.param(row, isolation, id=f"{isolation.value}-{row.name}", marks=marks)


@pytest.mark.parametrize(("row", "isolation"), list(_cases()))
def test_hostile_submission(row: Row, isolation: Isolation, world: World):
    if isolation is Isolation.NAMESPACE and not _namespaces_work():
        if UNDER_CI:
            pytest.fail("bubblewrap is not usable under CI: .ci/install-os-packages should have installed it")
        pytest.skip("bubblewrap (bwrap) with user namespaces is not available on this machine")
    problem, _ = _problem_and_expected()
    limits = dataclasses.replace(problem.limits, **{**HOSTILE_LIMITS, **row.limits})
    world.isolation, world.limits = isolation, limits

    problem, report = _grade(world.submission(row.name), isolation, limits)
    data = json.loads(json.dumps(report.to_json()))  # what report.json would hold
    if row.linger:
        time.sleep(row.linger)

    world.assert_intact()
    assert data["isolation"]["level"] == isolation.value
    assert data["status"] in (row.status if isinstance(row.status, tuple) else (row.status,)), \
        f"{data['status']}: {data['output']}"
    assert [test["name"] for test in data["tests"]] == [test.name for test in problem.tests]
    results = {test["name"]: test for test in data["tests"]}
    broken = [test for test in problem.tests if _is_broken(row, test)]
    for test in problem.tests:
        result = results[test.name]
        if test in broken:
            assert result["status"] in row.broken_as and result["score"] == 0, (test.name, result)
        else:
            assert result["status"] == "passed", (test.name, result)
    assert data["max_score"] == sum(test.points for test in problem.tests)
    assert data["score"] == sum(test.points for test in problem.tests if test not in broken)
    if row.says:
        if data["status"] != "graded":
            told = [data["output"]]
        else:
            told = [results[test.name]["output"] for test in broken if test.visibility.value == "visible"]
            assert told, "no visible test to tell the student"
        for text in told:
            for word in row.says:
                assert word.lower() in text.lower(), f"{word!r} not in {text!r}"
    if row.check is not None:
        row.check(data, world)


def test_every_hostile_file_has_a_row():
    files = {path.stem for path in HOSTILE.glob("*.py")}
    assert files == {row.name for row in ROWS}
