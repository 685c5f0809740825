"""One submission's run in one compartment: as many child processes as crashes and timeouts
require, each followed message by message until it is done, dies or runs out of time."""

from __future__ import annotations

import os
import selectors
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeGuard

from grader.limits import Limits
from grader.observations import (
    Budget,
    LoadFailure,
    LoadFailureKind,
    ProgramObservation,
    ResultLayout,
    RunStatus,
    parse_error,
    parse_program,
)
from grader.sandbox.channel import (
    CappedBuffer,
    LineReader,
    describe_exit,
    load_failure_from,
    names_from,
    parse_message,
)
from grader.sandbox.server import Server

OUTPUT_DRAIN_SECONDS = 0.5
EXIT_GRACE_SECONDS = 2.0
"""How long a child whose result channel closed may take to exit before it is killed."""
REPLY_SLACK_SECONDS = 10.0
OVER_BUDGET_TIMES_PER_FAMILY = 2
"""After this many programs of one family (a generated shape) ran over their time, the rest
of that family is not run."""
SKIPPED = "not run: the same shape already ran over its time budget twice"
LOAD_MESSAGE_BYTES = 65536
"""The longest line before the submission loaded: "loaded" or "load_error" with its texts."""
GARBAGE_LINES = 1000
"""Lines a run may write to the channel beyond its messages (ignored: whatever they say)."""
"""The longest line before the submission loaded: "loaded" or "load_error" with its texts."""


class Compartment(Protocol):
    """Where a session runs: a fork server holding some of the programs."""

    limits: Limits
    layouts: dict[int, ResultLayout]
    budgets: dict[int, Budget | None]
    families: dict[int, str]
    """A program's family (its generated shape), if it has one."""
    required_attributes: frozenset[str]

    def server(self) -> Server: ...

    def discard_server(self) -> None: ...


class Child:
    """One forked run inside the server: ends exactly once, with its wait status."""

    def __init__(self, server: Server, pid: int) -> None:
        self.server, self.pid = server, pid
        self.ended = False
        self.status: int | None = None

    def end(self, grace: float) -> int | None:
        """Let the run end on its own within ``grace`` seconds, else kill it; then the server
        kills its stragglers and wipes its traces. None if the server did not answer."""
        if not self.ended:
            self.ended = True
            reply = self.server.request({"op": "finish", "pid": self.pid, "grace": grace}, grace + REPLY_SLACK_SECONDS)
            self.status = reply.get("status") if reply else None
        return self.status


_Key = tuple[int, bool]
"""A program's place in a run: its test index, and whether it is the second pass's."""


class Session:
    """One submission's run: as many child processes as crashes and timeouts require."""

    def __init__(self, compartment: Compartment, submission: str, indices: list[int], again: list[int], again_shift: int,
                 deadline: float, output_kb: int, on_program: Callable[[int, bool], None] | None = None):
        self.compartment, self.submission, self.deadline = compartment, submission, deadline
        self.on_program = on_program
        """Told each program as the child starts it (its index, and whether this is its second
        pass): for a person waiting, what runs now."""
        self.keys: list[_Key] = [(i, False) for i in indices] + [(i, True) for i in again]
        self.wanted = set(self.keys)
        self.again_shift = again_shift
        self.limits = compartment.limits
        self.results: dict[_Key, ProgramObservation] = {}
        self.load_failure: LoadFailure | None = None
        self.missing: tuple[str, ...] = ()
        cap = output_kb * 1024
        self.stdout, self.stderr = CappedBuffer(cap), CappedBuffer(cap)
        self.over_time: dict[str, int] = {}
        """Programs of each family that ran over their time so far."""
        self.given_up = False
        """Whether a family was just given up: the run under way is ended, and the next one
        runs what is left."""

    def run(self) -> None:
        while self.load_failure is None and self.pending():
            if time.monotonic() >= self.deadline:
                self.fill_pending(self.out_of_time())
                return
            progressed = self.attempt(self.pending())
            if not progressed and self.pending():
                # a process that dies between tests must not loop forever
                first = self.pending()[0]
                self.results[first] = ProgramObservation(
                    RunStatus.CRASHED, detail="the submission's process died before this test could run"
                )
        if self.load_failure is not None:
            self.fill_pending(ProgramObservation(RunStatus.NOT_RUN, detail=self.load_failure.detail))

    def pending(self) -> list[_Key]:
        return [key for key in self.keys if key not in self.results]

    def is_pending(self, key: object) -> TypeGuard[_Key]:
        """Without building the list: a run reports on each of its programs."""
        return key in self.wanted and key not in self.results

    def fill_pending(self, observation: ProgramObservation) -> None:
        for key in self.pending():
            self.results[key] = observation

    def out_of_time(self) -> ProgramObservation:
        seconds = self.limits.submission_seconds
        return ProgramObservation(
            RunStatus.NOT_RUN, detail=f"not run: the submission used up its {seconds:g} s in total"
        )

    def attempt(self, pending: list[_Key]) -> bool:
        """One forked child over the pending programs. Returns whether anything was decided."""
        before = len(self.results)
        server = self.compartment.server()
        pipes = [os.pipe() for _ in range(3)]  # result channel, stdout, stderr
        try:
            reply = server.request(
                {"op": "spawn", "submission": self.submission,
                 "tests": [i for i, again in pending if not again], "again": [i for i, again in pending if again],
                 "again_shift": self.again_shift},
                REPLY_SLACK_SECONDS,
                fds=[write for _read, write in pipes],
            )
        finally:
            for _read, write in pipes:
                os.close(write)
        if reply is None or not isinstance(reply.get("pid"), int):
            for read, _write in pipes:
                os.close(read)
            self.compartment.discard_server()
            return False
        child = Child(server, reply["pid"])
        try:
            self.follow(child, pending, *(read for read, _write in pipes))
        finally:
            for read, _write in pipes:
                os.close(read)
            child.end(grace=0)
        if child.status is None:
            self.compartment.discard_server()  # it stopped answering: the next run gets a new one
        return len(self.results) > before or self.load_failure is not None

    def follow(self, child: Child, order: list[_Key], channel: int, stdout: int, stderr: int) -> None:
        """Read the child's messages and output until it is done, dies, or runs out of time.
        The child runs the programs in ``order``, each once the one before it has reported."""
        state = _AttemptState(time.monotonic() + self.limits.test_seconds, order)
        selector = selectors.DefaultSelector()
        selector.register(channel, selectors.EVENT_READ, "channel")
        selector.register(stdout, selectors.EVENT_READ, self.stdout)
        selector.register(stderr, selectors.EVENT_READ, self.stderr)
        reader = LineReader(max(layout.most_bytes for layout in self.compartment.layouts.values()))
        while selector.get_map():
            deadline = state.drain_deadline or min(state.test_deadline, self.deadline)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if state.drain_deadline is None:
                    self.on_timeout(state.loaded, state.current, state.test_deadline <= self.deadline)
                return
            for key, _ in selector.select(timeout=remaining):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    if key.data == "channel" and state.drain_deadline is None:
                        self.on_exit(child, state.loaded, state.current)
                        return
                elif key.data == "channel":
                    for line in reader.feed(chunk):
                        if self.flooded(line, state):
                            self.on_flood(state)
                            return
                        if line is not None and len(line) <= self.most_bytes(state):
                            self.handle(parse_message(line), state)
                    if self.given_up:
                        self.given_up = False
                        return
                    if state.finished:
                        # what the submission printed last is still in the pipes: read it briefly
                        state.drain_deadline = state.drain_deadline or time.monotonic() + OUTPUT_DRAIN_SECONDS
                else:
                    key.data.add(chunk)

    def most_bytes(self, state: _AttemptState) -> int:
        """The longest line the interpreter can send now: a result of the program under way,
        or (before it loaded) a load error."""
        current = state.current
        return self.compartment.layouts[current[0]].most_bytes if current is not None else LOAD_MESSAGE_BYTES

    def flooded(self, line: bytes | None, state: _AttemptState) -> bool:
        """Whether the channel has carried more than the grader reads of one run: a line longer
        than any result of the program under way (such a line is never parsed), or more lines
        or bytes than the run's programs can send, with room for some garbage (which is ignored,
        and which a submission could write before it loaded: those lines are only skipped)."""
        state.lines += 1
        state.parsed_bytes += len(line) if line is not None else 0
        if (line is None or len(line) > self.most_bytes(state)) and state.current is not None:
            return True
        if state.budget_bytes is None:
            state.budget_bytes = sum(self.compartment.layouts[key[0]].most_bytes for key in state.order) \
                + 4 * LOAD_MESSAGE_BYTES
        return state.lines > len(state.order) + GARBAGE_LINES or state.parsed_bytes > state.budget_bytes

    def on_flood(self, state: _AttemptState) -> None:
        """The channel carried more, or longer lines, than the interpreter sends: the run is
        ended (its program is charged with it) before the grader's own memory and time pay."""
        detail = "the submission's process wrote to the grader's result channel what no test asked for"
        if not state.loaded:
            self.load_failure = LoadFailure(LoadFailureKind.CRASHED, None, detail)
        elif self.is_pending(state.current):
            self.results[state.current] = ProgramObservation(RunStatus.CRASHED, detail=detail)

    def handle(self, message: dict[str, Any] | None, state: _AttemptState) -> None:
        """One message of the protocol; anything out of order is ignored."""
        if message is None or state.finished:
            return
        event = message["event"]
        if event == "loaded" and not state.loaded:
            state.loaded = True
            required = self.compartment.required_attributes
            self.missing = tuple(name for name in names_from(message.get("missing")) if name in required)
            self.next_program(state)
        elif event == "load_error" and not state.loaded:
            self.load_failure = load_failure_from(parse_error(message.get("error")))
            state.finished = True
        elif event == "result" and state.loaded and (message.get("test"), message.get("again") is True) == state.current:
            if self.is_pending(state.current):
                self.record(state.current, message)
            self.next_program(state)
        elif event == "done" and state.loaded:
            state.finished = True

    def next_program(self, state: _AttemptState) -> None:
        """The program the child runs now: it has its own time limit from this moment."""
        state.current = state.order[state.started] if state.started < len(state.order) else None
        state.started += 1
        state.test_deadline = time.monotonic() + self.limits.test_seconds
        if state.current is not None and self.on_program is not None:
            self.on_program(*state.current)

    def record(self, key: _Key, message: dict[str, Any]) -> None:
        index, again = key
        if again and message.get("same") is True:
            # the child ran this program twice and saw the same both times; it can only claim
            # this about its own first pass, which this session then holds
            first = self.results.get((index, False))
            self.results[key] = first if first is not None else ProgramObservation(
                RunStatus.NOT_RUN, detail="the second pass had nothing to compare with")
            return
        observation = parse_program(message.get("values"), message.get("error"), self.compartment.layouts[index],
                                    self.compartment.budgets.get(index))
        self.results[key] = observation
        if observation.status is RunStatus.TIMED_OUT:
            self.count_over_time(index)

    def count_over_time(self, index: int) -> None:
        """One more program of its family over its time; at the limit, the family's programs
        still pending are marked not run (the run under way is then ended: it would run them)."""
        family = self.compartment.families.get(index)
        if not family:
            return
        self.over_time[family] = self.over_time.get(family, 0) + 1
        if self.over_time[family] != OVER_BUDGET_TIMES_PER_FAMILY:
            return
        skipped = [key for key in self.pending() if self.compartment.families.get(key[0]) == family]
        for key in skipped:
            self.results[key] = ProgramObservation(RunStatus.TIMED_OUT, detail=SKIPPED)
        self.given_up = bool(skipped)

    def on_timeout(self, loaded: bool, current: _Key | None, test_limit: bool) -> None:
        limits = self.limits
        if not loaded:
            seconds = min(limits.test_seconds, limits.submission_seconds)
            self.load_failure = LoadFailure(
                LoadFailureKind.TIMED_OUT, None,
                f"importing the submission did not finish within {seconds:g} s "
                "(is there a loop or a long computation at the top level?)",
            )
        elif self.is_pending(current):
            detail = (
                f"this test did not finish within {limits.test_seconds:g} s (an infinite loop?)"
                if test_limit
                else f"the submission used up its {limits.submission_seconds:g} s in total during this test"
            )
            self.results[current] = ProgramObservation(RunStatus.TIMED_OUT, detail=detail)
            if not current[1] and self.is_pending((current[0], True)):
                self.results[(current[0], True)] = self.results[current]  # a second run would hang too
            self.count_over_time(current[0])
            self.given_up = False  # this run is ended anyway

    def on_exit(self, child: Child, loaded: bool, current: _Key | None) -> None:
        status = child.end(grace=EXIT_GRACE_SECONDS)
        how = describe_exit(None if status is None else os.waitstatus_to_exitcode(status))
        if not loaded:
            self.load_failure = LoadFailure(
                LoadFailureKind.CRASHED, None, f"the submission's process {how} while it was being imported"
            )
        elif self.is_pending(current):
            self.results[current] = ProgramObservation(
                RunStatus.CRASHED, detail=f"the submission's process {how} during this test"
            )


@dataclass(slots=True)
class _AttemptState:
    test_deadline: float
    order: list[_Key]
    """The programs the child runs, in its order."""
    started: int = 0
    lines: int = 0
    """Lines the channel carried so far: the interpreter sends one per program and two more."""
    parsed_bytes: int = 0
    budget_bytes: int | None = None
    """The most the channel may carry in this run (``Session.flooded``)."""
    loaded: bool = False
    current: _Key | None = None
    finished: bool = False
    drain_deadline: float | None = None


