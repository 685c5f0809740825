"""Batch grading speed and memory, against the naive approach, measured in the same run.

    python benchmarks/batch.py [--class realistic|blowups|both] [--problem value-basic] [--submissions 1000] [--jobs 2] [--naive-sample 40]

Two classes of submissions, each file unique (a header comment):

- ``realistic``: submissions of ``--problem`` (value-basic unless said): correct ones in
  several styles, known-buggy ones (the problem's misconception variants), broken ones
  (syntax errors, missing class, raising methods) and slow ones (a correct class whose
  backward() rebuilds the topological order for every node: quadratic).
- ``blowups`` (issue 18; value-basic only): files written independently of the grader and of its
  misconception library (``tests/diagnosis_set``: correct and buggy; ``benchmarks/blowups``:
  blow-ups), with the blow-ups at realistic rates: numbers that grow without bound, topological
  sorts without a visited set (exponential where the graph has diamonds), loops in
  ``backward()`` that never end, about 3% each, and correct but quadratic backward passes.

For each class:
1. The naive baseline: one `pytest --json-report` process per submission, importing the file
   into the test process, with one test function per test of the problem (the same programs,
   expected values written into the test file) and the same per-test time limit as the grader
   (pytest-timeout), in a clean virtual environment holding only pytest, pytest-json-report and
   pytest-timeout; run on a sample drawn kind by kind in the class's proportions (at least one
   of each kind), with the same number of parallel jobs, and scaled to the class size.
2. `grader batch` on 100 and on all the submissions (full hidden suite, namespace isolation
   where bubblewrap works), with a warm misconception cache; wall time, submissions per
   second, the peak memory of the grader's own process and of its largest worker, the worst
   single file's time and the share of the workers' time the slowest 5% of files take.
3. `grader check` on one correct and one failing file: the median of five runs.

Prints its figures and where the grader and its Python live; asserts nothing. Targets on 2
cores: realistic (issue 6): 1,000 in <= 30 s, >= 15x the naive throughput, peak memory at 1,000
within 10% of that at 100, `grader check` <= 1 s; blowups (issue 18): 1,000 in <= 40 s, the
worst file <= 3 s, >= 20x the naive throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader.reference import expected_observations  # noqa: E402
from grader.spec import find_course  # noqa: E402

DEFAULT_PROBLEM = "value-basic"
BLOWUP_PROBLEM = "value-basic"
"""The one problem the blow-up class has files for."""
MIXES = {
    "realistic": {"correct": 0.55, "buggy": 0.30, "broken": 0.10, "slow": 0.05},
    "blowups": {"correct": 0.52, "buggy": 0.28, "broken": 0.07, "quadratic": 0.04, "unbounded": 0.03,
                "exponential": 0.03, "endless": 0.03},
}
BLOWUPS = REPO / "benchmarks" / "blowups" / BLOWUP_PROBLEM
INDEPENDENT = REPO / "tests" / "diagnosis_set"
NAIVE_VENV = REPO / "benchmarks" / ".naive-venv"

SLOW_BACKWARD = '''
    def backward(self):
        # correct, but rebuilds the order for every node: quadratic in the graph's size
        def order(root):
            topo, seen = [], set()
            def build(v):
                if v not in seen:
                    seen.add(v)
                    for child in v._prev:
                        build(child)
                    topo.append(v)
            build(root)
            return topo
        self.grad = 1
        done = set()
        for v in reversed(order(self)):
            for _ in order(v):
                pass
            if v not in done:
                done.add(v)
                v._backward()
'''


def sources(problem_id: str) -> dict[str, list[str]]:
    """The class's files: the reference and the fixtures' correct styles, the problem's
    misconceptions, its broken fixtures (or the reference with a syntax error), and the
    reference with a quadratic backward()."""
    fixtures = REPO / "tests" / "fixtures" / "submissions" / problem_id
    reference = find_course(REPO).load(problem_id, visible_only=True).reference_path.read_text()
    correct = [reference] + [p.read_text() for p in sorted(fixtures.glob("correct_*.py"))]
    start = reference.index("    def backward(self):")
    end = reference.find("\n    def ", start + 1)
    end = len(reference) if end == -1 else end + 1
    slow_base = reference[:start] + SLOW_BACKWARD.lstrip("\n") + "\n" + reference[end:]
    broken = [p.read_text() for p in sorted(fixtures.glob("broken_*.py"))]
    return {
        "correct": correct,
        "buggy": [p.read_text() for p in sorted((REPO / "problems" / problem_id / "misconceptions").glob("*.py"))],
        "broken": broken or [reference.replace("def backward(self):", "def backward(self)", 1)],
        "slow": [slow_base],
    }


def blowup_sources() -> dict[str, list[str]]:
    """The blow-up class's files, by kind: none of them written alongside the grader."""
    def texts(folder: Path, pattern: str) -> list[str]:
        return [p.read_text() for p in sorted(folder.glob(pattern))]

    return {
        "correct": texts(INDEPENDENT / "correct" / BLOWUP_PROBLEM, "*.py"),
        "buggy": texts(INDEPENDENT / BLOWUP_PROBLEM, "*.py"),
        "broken": texts(REPO / "tests" / "fixtures" / "submissions" / BLOWUP_PROBLEM, "broken_*.py"),
        "quadratic": texts(BLOWUPS, "quad_*.py"),
        "unbounded": texts(BLOWUPS, "grow_*.py"),
        "exponential": texts(BLOWUPS, "exp_*.py"),
        "endless": texts(BLOWUPS, "loop_*.py"),
    }


def generate_class(folder: Path, count: int, problem_id: str, kind_of_class: str = "realistic",
                   seed: int = 6) -> dict[str, int]:
    rng = random.Random(seed)
    pools = sources(problem_id) if kind_of_class == "realistic" else blowup_sources()
    mix = MIXES[kind_of_class]
    kinds = list(mix)
    made = {kind: 0 for kind in kinds}
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        kind = rng.choices(kinds, weights=[mix[k] for k in kinds])[0]
        text = rng.choice(pools[kind])
        (folder / f"student{index:04d}.py").write_text(f"# student {index:04d} ({kind})\n{text}")
        made[kind] += 1
    return made


def kind_of(path: Path) -> str:
    return path.read_text().splitlines()[0].rsplit("(", 1)[1].rstrip(")")


def naive_sample(files: list[Path], size: int, mix: dict[str, float], seed: int = 1) -> list[Path]:
    """``size`` files drawn kind by kind in the class's proportions, at least one of each kind
    the class has: a rare kind that costs a hundred times the others is neither missed nor
    drawn twice by luck."""
    rng = random.Random(seed)
    by_kind: dict[str, list[Path]] = {}
    for path in files:
        by_kind.setdefault(kind_of(path), []).append(path)
    sample = []
    for kind, paths in sorted(by_kind.items()):
        wanted = max(1, round(size * mix[kind]))
        sample += rng.sample(paths, min(wanted, len(paths)))
    return sample


# ------------------------------------------------------------------ the naive baseline

def naive_test_file(path: Path, problem_id: str) -> None:
    """One pytest function per test of the problem, expected values from the reference."""
    problem = find_course(REPO).load(problem_id)
    expected = expected_observations(problem)
    lines = [
        "import importlib.util, math, os",
        "spec = importlib.util.spec_from_file_location('submission', os.environ['SUBMISSION'])",
        "submission = importlib.util.module_from_spec(spec)",
        "spec.loader.exec_module(submission)",
        "Value = submission.Value",
        "def close(a, b):",
        "    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)",
    ]
    for number, test in enumerate(problem.tests):
        wanted = {name: (n.data.number, n.grad.number) for name, n in expected[test.name].nodes.items()
                  if not name.startswith("_")}
        lines += [
            f"def test_{number}():",
            # the program written into the test as it is (not exec'd: pytest-timeout cannot
            # report a timeout in exec'd code, and ends the whole session instead)
            *(f"    {line}" for line in test.program.source.splitlines()),
            "    nodes = locals()",
            f"    for name, (data, grad) in {wanted!r}.items():",
            "        assert close(nodes[name].data, data), name",
            "        assert close(nodes[name].grad, grad), name",
        ]
    path.write_text("\n".join(lines) + "\n")


def naive_python() -> str:
    python = NAIVE_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(NAIVE_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "pytest", "pytest-json-report", "pytest-timeout"],
                       check=True)
    elif subprocess.run([str(python), "-c", "import pytest_timeout"], capture_output=True).returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "pytest-timeout"], check=True)
    return str(python)


def time_naive(files: list[Path], jobs: int, work: Path, problem_id: str) -> float:
    python = naive_python()
    test_file = work / "test_naive.py"
    naive_test_file(test_file, problem_id)
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work)}

    limit = find_course(REPO).load(problem_id).limits.test_seconds

    def one(path: Path) -> None:
        report = work / f"{path.stem}.json"
        subprocess.run(
            [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file), "--json-report",
             f"--json-report-file={report}", f"--timeout={limit:g}"],  # the grader's per-test wall limit
            cwd=work, env={**environment, "SUBMISSION": str(path)}, capture_output=True, timeout=3600,
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, files))
    return time.perf_counter() - started


# ------------------------------------------------------------------ grader batch

MEASURE = textwrap.dedent("""
    import json, resource, sys
    from grader.cli import main
    code = main(sys.argv[1:])
    mine = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"code": code, "self_kb": mine}), file=sys.stderr)
""")


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        found += [int(child) for child in children]
        todo += [int(child) for child in children]
    return found


def _peak_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def time_batch(folder: Path, out: Path, jobs: int, cache: Path, problem_id: str) -> dict:
    """Wall time of `grader batch`, the peak RSS of its own process, and the peak RSS of its
    largest worker (sampled from /proc: worker processes run the batch's own command line;
    the sandboxes' processes, which run submissions, are not the grader's memory)."""
    environment = {**os.environ, "GRADER_CACHE_DIR": str(cache)}
    command = [sys.executable, "-c", MEASURE, "batch", str(folder), "--problem", problem_id, "--out", str(out),
               "--jobs", str(jobs), "--regrade"]
    with tempfile.TemporaryFile("w+") as errors:  # a file, not a pipe: nothing can block on it
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=subprocess.DEVNULL, stderr=errors, text=True)
        own_command = "\0".join(command).encode() + b"\0"  # what /proc shows once it has executed
        workers_kb = 0
        while process.poll() is None:
            for pid in _descendants(process.pid):
                try:
                    if Path(f"/proc/{pid}/cmdline").read_bytes() == own_command:
                        workers_kb = max(workers_kb, _peak_kb(pid))
                except OSError:
                    continue
            time.sleep(0.1)
        wall = time.perf_counter() - started
        errors.seek(0)
        stderr = errors.read()
    measured = json.loads(stderr.strip().splitlines()[-1])
    if measured["code"] != 0:
        raise SystemExit(f"grader batch failed:\n{stderr[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    costs = sorted((json.loads(report.read_text())["duration_s"] for report in out.glob("*/report.json")), reverse=True)
    slowest = costs[: max(1, len(costs) // 20)]
    return {"wall": wall, "statuses": summary["statuses"], "workers_kb": workers_kb, "worst": costs[0] if costs else 0.0,
            "slowest_share": sum(slowest) / sum(costs) if costs and sum(costs) else 0.0, **measured}


def time_check(path: Path, cache: Path, problem_id: str, runs: int = 5) -> float:
    environment = {**os.environ, "GRADER_CACHE_DIR": str(cache)}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "grader", "check", str(path), "--problem", problem_id],
                       cwd=REPO, env=environment, capture_output=True, timeout=60)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--class", dest="classes", choices=("realistic", "blowups", "both"), default="both")
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--naive-sample", type=int, default=40)
    parser.add_argument("--problem", default=DEFAULT_PROBLEM, help="the problem the class is graded for")
    args = parser.parse_args()
    if args.classes != "realistic" and args.problem != BLOWUP_PROBLEM:
        parser.error(f"the blowups class has files for {BLOWUP_PROBLEM} only: use --class realistic")
    print(f"grader at {REPO}; its Python {sys.prefix}; temporary folders under {tempfile.gettempdir()}; "
          f"load average {os.getloadavg()[0]:.2f}")
    for kind_of_class in (("realistic", "blowups") if args.classes == "both" else (args.classes,)):
        bench_class(kind_of_class, args)


def bench_class(kind_of_class: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as temporary:
        work = Path(temporary)
        problem_id = args.problem
        made = generate_class(work / "class", args.submissions, problem_id, kind_of_class)
        files = sorted((work / "class").glob("*.py"))
        small = work / "class100"
        small.mkdir()
        for path in files[:100]:
            (small / path.name).write_bytes(path.read_bytes())
        print(f"\n{kind_of_class} class: {args.submissions} submissions of {problem_id}: {made}; jobs {args.jobs}; "
              f"{os.cpu_count()} cores")

        cache = work / "cache"
        warm = time_batch(small, work / "warmup", args.jobs, cache, problem_id)
        print(f"warm-up (100, cold misconception cache): {warm['wall']:.1f} s")

        sample = naive_sample(files, args.naive_sample, MIXES[kind_of_class])
        naive_work = work / "naive"
        naive_work.mkdir()
        naive_seconds = time_naive(sample, args.jobs, naive_work, problem_id)
        naive_rate = len(sample) / naive_seconds
        print(f"naive: {len(sample)} sampled files in {naive_seconds:.1f} s = {naive_rate:.2f} submissions/s "
              f"({naive_seconds / len(sample) * args.jobs:.2f} s per file per job); "
              f"{args.submissions} would take {args.submissions / naive_rate:.0f} s")

        hundred = time_batch(small, work / "out100", args.jobs, cache, problem_id)
        full = time_batch(work / "class", work / "out", args.jobs, cache, problem_id)
        for label, run, count in (("100", hundred, 100), (str(args.submissions), full, args.submissions)):
            rate = count / run["wall"]
            print(f"grader batch {label}: {run['wall']:.1f} s wall = {rate:.1f} submissions/s "
                  f"({rate / naive_rate:.1f}x naive); statuses {run['statuses']}; peak RSS: grader "
                  f"{run['self_kb'] / 1024:.0f} MB, largest worker {run['workers_kb'] / 1024:.0f} MB; "
                  f"worst file {run['worst']:.2f} s; the slowest 5% take {100 * run['slowest_share']:.0f}% "
                  "of the workers' time")
        for key, what in (("self_kb", "grader process"), ("workers_kb", "largest worker")):
            growth = 100.0 * (full[key] - hundred[key]) / hundred[key]
            print(f"peak memory of the {what} at {args.submissions} vs 100: {growth:+.1f}%")

        correct = next(path for path in files if kind_of(path) == "correct")
        failing = next(path for path in files if kind_of(path) == "buggy")
        print(f"grader check: correct file {time_check(correct, cache, problem_id):.2f} s, failing file "
              f"{time_check(failing, cache, problem_id):.2f} s (median of 5, warm cache)")


if __name__ == "__main__":
    main()
