"""Time budgets from the reference: what each test may cost a submission.

A test's limit is CPU time (a loaded machine does not fail a correct file), a floor plus a
generous multiple of what the program costs the trusted reference: ``TIMES_PER_NODE`` times
its cost for every node of the program, so that a correct ``backward()`` that is quadratic in
the graph's size (it rebuilds the order for every node) still passes on the largest
generated graphs, while an exponential walk or a loop that never ends is stopped long before
the fixed wall limit (``Limits.test_seconds``, kept as the backstop). The interpreter's watch
enforces it inside the submission's process; ``observations.Budget`` carries it there.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from grader import interpreter
from grader.observations import Budget
from grader.reference import load_reference_class
from grader.spec import Problem, ProblemTest

FLOOR_SECONDS = 0.03
"""CPU time any test may take, however cheap it is for the reference (a first call's
imports, the collector, a slower but sound style): hundreds of times the reference's cost
of a small program."""
TIMES_PER_NODE = 0.25
"""Times the reference's cost, for every node of the program: quadratic work, with room.
(The reference's cost includes building and observing every node, so a ``backward()`` that
rebuilds the order for every node costs less than 0.02 of it per node on these problems'
largest graphs: measured with the benchmark's quadratic class and ``benchmarks/blowups``.)"""
MEASURED_RUNS = 3
"""The reference's cost is the least of this many runs: the machine's noise only adds."""


def reference_costs(problem: Problem) -> Mapping[str, float]:
    """The CPU time each test's program costs the reference, by test name (the least of
    ``MEASURED_RUNS`` runs in the grader's own process, as ``reference.expected_observations``
    runs it)."""
    value_class = load_reference_class(problem)
    costs = {}
    for test in problem.tests:
        wire = test.to_wire()
        runs = []
        for _ in range(MEASURED_RUNS):
            started = time.process_time()
            interpreter.run_program(value_class, wire)
            runs.append(time.process_time() - started)
        costs[test.name] = min(runs)
    return costs


def budget_for(test: ProblemTest, reference_seconds: float, wall_seconds: float) -> Budget:
    """The test's CPU-time budget; never above the wall limit, which stops it anyway."""
    nodes = max(1, len(test.program.nodes))
    seconds = min(wall_seconds, FLOOR_SECONDS + TIMES_PER_NODE * nodes * reference_seconds)
    return Budget(round(seconds, 4), round(reference_seconds, 6))


def budgeted_programs(tests: Sequence[ProblemTest], costs: Mapping[str, float] | None,
                      wall_seconds: float) -> list[dict[str, Any]]:
    """Each test's program as the sandbox gets it, with its budget where the reference's cost
    is known (a student kit may not know it: then only the wall limit holds)."""
    programs = []
    for test in tests:
        wire = test.to_wire()
        cost = costs.get(test.name) if costs is not None else None
        if cost is not None:
            wire.update(budget_for(test, cost, wall_seconds).to_wire())
        programs.append(wire)
    return programs
