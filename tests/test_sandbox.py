"""The warm sandbox: many runs through one fork server, each as fresh as a new process.

A run must leave nothing the next run can see (files, processes), and a submission's results
must not depend on what the same server ran before it, even for code whose results depend on
the iteration order of a set of Values (which follows memory addresses).
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import time
from pathlib import Path

import pytest

from grader.check import judge
from grader.files import read_submission
from grader.grading import sandbox_policy
from grader.observations import RunStatus, readable, to_wire
from grader.sandbox import Isolation, Sandbox
from grader.sandbox.forkserver import landlock_abi
from tests.conftest import REPO, _problem_and_expected, namespace_isolation_or_skip

CORRECT = (REPO / "reference" / "value_basic.py").read_text()

LEAVE_TRACES = '''
import os, subprocess, sys
MARK = "__MARK__"
for folder in (".", "/tmp", "/dev/shm"):
    try:
        with open(os.path.join(folder, MARK), "w") as handle:
            handle.write("left by an earlier submission")
    except OSError:
        pass
# a grandchild in a session of its own, the way a submission hides a process
if os.fork() == 0:
    try:
        os.setsid()
    except OSError:  # the sandbox may refuse it: the double fork alone then
        pass
    if os.fork() == 0:
        os.execv("/bin/sh", ["/bin/sh", "-c", "sleep 60", MARK])
    os._exit(0)
print("TRACES LEFT", flush=True)
'''

LOOK_FOR_TRACES = '''
import os
MARK = "__MARK__"
found = [folder for folder in (".", "/tmp", "/dev/shm") if os.path.exists(os.path.join(folder, MARK))]
processes = []
try:
    listed = os.listdir("/proc")
except OSError:  # Landlock: a run at the process level may not read /proc
    listed = []
for pid in listed:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            if MARK.encode() in handle.read():
                processes.append(pid)
    except OSError:
        pass
print("FOUND FILES", found, "FOUND PROCESSES", processes, flush=True)
'''

SET_ORDER_DEPENDENT = (REPO / "submissions" / "carol.py").read_text()
"""Overwrites grads (=) instead of accumulating: which path wins depends on the order
backward() visits a node's inputs, i.e. on set(_children) iteration order."""


@pytest.fixture(params=["process", "namespace"])
def isolation(request) -> Isolation:
    return Isolation.PROCESS if request.param == "process" else namespace_isolation_or_skip()


def _sandbox(isolation: Isolation) -> Sandbox:
    problem = _problem_and_expected("value-basic")[0]
    return Sandbox(sandbox_policy(problem, isolation), [test.to_wire() for test in problem.tests])


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_a_run_leaves_nothing_the_next_run_can_see(isolation, tmp_path):
    mark = f"grader-trace-{secrets.token_hex(6)}"
    earlier = _write(tmp_path, "earlier.py", LEAVE_TRACES.replace("__MARK__", mark) + CORRECT)
    later = _write(tmp_path, "later.py", LOOK_FOR_TRACES.replace("__MARK__", mark) + CORRECT)
    with _sandbox(isolation) as sandbox:
        first = sandbox.run(read_submission(earlier), tests=[0])
        assert "TRACES LEFT" in first.stdout
        second = sandbox.run(read_submission(later), tests=[0])
    if isolation is Isolation.NAMESPACE:
        assert "FOUND FILES [] FOUND PROCESSES []" in second.stdout, second.stdout
    elif os.getuid() == 0 or landlock_abi() > 0:
        # as root, each run is a uid of its own whose files are removed; with Landlock a run
        # cannot write outside its folder at all
        assert "FOUND FILES [] FOUND PROCESSES []" in second.stdout, second.stdout
    else:  # /tmp and /dev/shm are the host's own at this level (the README says so): only the run's folder is its
        for shared in ("/tmp", "/dev/shm"):
            Path(shared, mark).unlink(missing_ok=True)
        assert "FOUND FILES ['/tmp', '/dev/shm'] FOUND PROCESSES []" in second.stdout, second.stdout
    time.sleep(0.2)
    survivors = [pid for pid in os.listdir("/proc") if pid.isdigit() and _cmdline_has(pid, mark)]
    assert not survivors, f"processes of the earlier run survive: {survivors}"


def _cmdline_has(pid: str, mark: str) -> bool:
    try:
        return mark.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _observed(run) -> str:
    return json.dumps([to_wire(observation)["values"] for observation in run.programs], sort_keys=True)


def test_results_do_not_depend_on_what_the_server_ran_before(isolation, tmp_path):
    subject = _write(tmp_path, "subject.py", SET_ORDER_DEPENDENT)
    others = [REPO / "submissions" / f"{name}.py" for name in ("alice", "dave", "erin", "frank")]

    def both_passes(sandbox: Sandbox) -> tuple[str, str]:
        run = sandbox.run(read_submission(subject), again=range(len(sandbox.programs)), again_shift=5)
        return _observed(run), _observed_again(run)

    with _sandbox(isolation) as fresh:
        alone = both_passes(fresh)
    with _sandbox(isolation) as busy:
        for other in others:
            busy.run(read_submission(other))
        after_others = both_passes(busy)
        busy.run(read_submission(others[0]), again=[0, 1])
        again = both_passes(busy)
    assert alone == after_others == again


def test_the_second_pass_shows_whether_results_depend_on_set_order(isolation, tmp_path):
    subject = _write(tmp_path, "subject.py", SET_ORDER_DEPENDENT)
    deterministic = REPO / "submissions" / "alice.py"
    with _sandbox(isolation) as sandbox:
        every = range(len(sandbox.programs))
        runs = [sandbox.run(read_submission(subject), again=every, again_shift=shift) for shift in range(1, 7)]
        steady = [sandbox.run(read_submission(deterministic), again=every, again_shift=shift) for shift in range(1, 7)]
    # the first pass is the same whatever the shift; some second pass differs from it
    assert len({_observed(run) for run in runs}) == 1
    assert any(_observed_again(run) != _observed(run) for run in runs), "no shift changed the results"
    assert all(_observed_again(run) == _observed(run) for run in steady)


def _observed_again(run) -> str:
    return json.dumps([to_wire(run.again[i])["values"] for i in range(len(run.programs))], sort_keys=True)


DIES_IN_THE_SECOND_PASS = '''
import os
_CALLS = [0]
''' + CORRECT.replace("        self.grad = 1\n", "        self.grad = 1\n        _CALLS[0] += 1\n        if _CALLS[0] == __DIE_AT__:\n            os._exit(7)\n")


def test_a_process_that_dies_in_the_second_pass_keeps_the_first_and_the_rest_run_again(isolation, tmp_path):
    """The first pass is whole; the program it died in is a crash of the second pass only
    (no evidence of anything: judge_twice ignores it), and the rest of the second pass runs
    in a fresh process."""
    problem = _problem_and_expected("value-basic")[0]
    every = range(len(problem.tests))
    die_at = sum(test.program.source.count(".backward()") for test in problem.tests) + 3  # in the second pass
    subject = _write(tmp_path, "dies.py", DIES_IN_THE_SECOND_PASS.replace("__DIE_AT__", str(die_at)))
    assert "os._exit(7)" in subject.read_text()
    with _sandbox(isolation) as sandbox:
        run = sandbox.run(read_submission(subject), again=every, again_shift=2)
    assert all(o.status.value == "completed" for o in run.programs)
    crashed = [i for i in every if run.again[i].status.value == "crashed"]
    assert len(crashed) == 1 and "exited with code 7" in run.again[crashed[0]].detail
    assert all(run.again[i].status.value == "completed" for i in every if i not in crashed)
    assert all(_observed_nodes(run.again[i]) == _observed_nodes(run.programs[i]) for i in every if i not in crashed)


def _observed_nodes(observation) -> str:
    return json.dumps(to_wire(observation)["values"])


FORWARD_RIGHT_BACKWARD_HANGS = '''
class Value:
    def __init__(self, data, _children=()):
        self.data, self.grad, self._prev = data, 0, set(_children)
    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, (self, other))
    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other))
    def relu(self):
        return Value(max(0, self.data), (self,))
    def backward(self):
        __BACKWARD__
    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"
'''


@pytest.mark.parametrize("backward", ["while True: pass", "import os, time; time.sleep(0.5); os._exit(3)"],
                         ids=["hangs", "crashes"])
def test_a_broken_backward_keeps_what_the_forward_pass_computed(isolation, tmp_path, backward):
    problem, expected = _problem_and_expected("value-basic")
    problem = dataclasses.replace(problem, limits=dataclasses.replace(problem.limits, test_seconds=1))
    index = next(i for i, test in enumerate(problem.tests) if test.partial and len(test.program.nodes) > 2)
    test = problem.tests[index]
    path = _write(tmp_path, "broken.py", FORWARD_RIGHT_BACKWARD_HANGS.replace("__BACKWARD__", backward))
    with Sandbox(sandbox_policy(problem, isolation), [t.to_wire() for t in problem.tests]) as sandbox:
        run = sandbox.run(read_submission(path), tests=[index])
    observed = run.programs[0]
    assert observed.status in (RunStatus.TIMED_OUT, RunStatus.CRASHED)
    want = {name: node.data for name, node in readable(expected[test.name].nodes).items()}
    assert {name: node.data for name, node in readable(observed.nodes).items()} == want
    verdict = judge(test, expected[test.name], observed)
    assert verdict.fraction == test.partial and "before backward()" in verdict.summary


def test_a_set_order_dependent_file_gets_the_same_observations_from_every_fresh_sandbox(isolation, tmp_path):
    """Each sandbox's fork server is started anew (a grade, a batch worker, a regrade): its
    heap, which every run is forked from, must not depend on anything of that start (how the
    configuration's bytes arrived, descriptor numbers, the sandbox's uid)."""
    subject = _write(tmp_path, "carol.py", SET_ORDER_DEPENDENT)
    seen = set()
    for _ in range(4):
        with _sandbox(isolation) as sandbox:
            every = range(len(sandbox.programs))
            run = sandbox.run(read_submission(subject), tests=list(range(sandbox.count)),
                              again=[i for i in every if i < sandbox.count], again_shift=3)
            seen.add((_observed(run), _observed_again(run)))
    assert len(seen) == 1
