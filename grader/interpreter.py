"""The one interpreter of test programs, run against any Value class.

This file is copied, alone, into the sandbox of a submission and run there as a script,
so it imports nothing but the standard library and nothing from ``grader``. The grader
also imports it to run the trusted reference in its own process: the same code produces
expected and observed values.

In the sandbox, ``forkserver.py`` calls ``run_in_this_process`` in a freshly forked child.
Every message is one JSON line written to the result channel (file descriptor given in the
config), never to stdout or stderr, which belong to the submission::

    {"event": "loaded", "missing": [...]}             the submission imported; attributes it lacks
    {"event": "load_error", "error": {...}}           it did not import
    {"event": "result", "test": i, "values": [...], "error": {...} | null}
    {"event": "result", "test": i, "again": true, "values": [...], "error": ...}
    {"event": "result", "test": i, "again": true, "same": true}
                                                      ... exactly what the first pass sent
    {"event": "done"}

Programs run in the order the config lists them, each as soon as the one before it has sent
its result (the first once "loaded" is sent): the grader times each from that moment.
The second pass runs some programs once more in the same process, after moving where new
objects land (``shift_memory_layout``): a submission whose results depend on the iteration
order of a set of Values shows it there.

Everything in these messages is plain numbers and strings; the grader parses them
defensively and judges them itself.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import math
import operator
import os
import signal
import sys
import time
import traceback

MAX_TEXT = 500  # characters kept of any repr or message

_OPERATORS = ("add", "sub", "mul", "truediv", "pow", "floordiv", "mod")
BINARY = {**{stem: getattr(operator, stem) for stem in _OPERATORS},
          **{f"r{stem}": getattr(operator, stem) for stem in _OPERATORS}}
"""Python's binary operators, by the stem of the special method they call (``__add__``): a
step's ``op``. ``radd`` is ``+`` with a number on the left, where Python calls ``__radd__``."""
UNARY = {"neg": operator.neg, "pos": operator.pos}


def run_program(value_class, program, source_file=None):
    """Run one program; return (values, error) as plain data.

    ``program`` is its list of steps, or ``{"steps": [...], "repr": false}`` to leave the
    repr out (and ``"label": true`` to read back what ``label=`` stored), and ``"budget":
    seconds`` for a limit on the CPU time it may take (see ``_Watch``; only where the program
    runs in a process of its own). ``values`` is one flat list: each node's observed data,
    grad, (unless left out) repr and (if asked) label, node after node in the order the steps
    create them (the grader knows their names: the steps' targets); a node created without
    ``label=`` has None for its label. ``error`` is None, or the exception a step raised (the
    program stops there; nodes created before it are still observed); a program stopped by
    its watch has ``"stopped"`` in its error.
    """
    steps, with_repr = (program["steps"], program.get("repr", True)) if isinstance(program, dict) else (program, True)
    budget = program.get("budget") if isinstance(program, dict) else None
    env = {}
    error = None
    watch = _Watch(env, budget) if budget else None
    try:
        for index, step in enumerate(steps):
            try:
                if watch is not None:
                    watch.armed = True
                execute_step(value_class, step, env)
            except BaseException as exc:  # noqa: BLE001 - a SystemExit in student code is data too
                error = describe_exception(exc, source_file, step=index)
            finally:
                if watch is not None:
                    watch.armed = False
            if watch is not None and watch.stopped is not None:  # even if the submission swallowed it
                error = {"type": "WatchStopped", "message": "", "step": index, "stopped": watch.stopped}
            if error is not None:
                break
        labelled = ({step["target"] for step in steps if step.get("label") is not None}
                    if isinstance(program, dict) and program.get("label") else None)
        values = _observed(env, with_repr, watch, labelled)  # reading a node runs the submission's code too
        if watch is not None and watch.stopped is not None and error is None:
            error = {"type": "WatchStopped", "message": "", "stopped": watch.stopped}
    finally:
        if watch is not None:
            watch.stop()
    return values, error


HUGE_NUMBER_BITS = 10_000
"""An int this long (about 3,000 decimal digits) has grown without bound: no program of
these problems comes near, and arithmetic on such numbers slows without end."""
WATCH_PERIOD_SECONDS = 0.01


class WatchStopped(BaseException):
    """Raised into the program by its watch (a BaseException: ``except Exception`` in the
    submission does not swallow it)."""


class _Watch:
    """A program's CPU time and its numbers, looked at every ``WATCH_PERIOD_SECONDS`` of CPU
    time (a profiling timer): past its budget, or with a number that grew past
    ``HUGE_NUMBER_BITS``, the program is stopped at once, and ``stopped`` says why, as data
    the grader reads (``{"why": "budget"}`` or ``{"why": "unbounded", "node", "field",
    "digits"}``)."""

    def __init__(self, env, budget):
        self.env, self.budget = env, float(budget)
        self.started = time.process_time()
        self.stopped = None
        self.armed = False
        """Whether the submission's code runs (a step, or reading a node): only then may the
        watch raise into it. Once it stopped the program, it raises again at every tick while
        armed, so code that swallows the first raise is interrupted again."""
        self.interrupted_again = False
        signal.signal(signal.SIGPROF, self._look)
        signal.setitimer(signal.ITIMER_PROF, WATCH_PERIOD_SECONDS, WATCH_PERIOD_SECONDS)

    def stop(self):
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, signal.SIG_IGN)

    def _look(self, _signum, _frame):
        if not self.armed:
            return
        if self.stopped is not None:
            self.interrupted_again = True
            raise WatchStopped(self.stopped["why"])
        for name, node in list(self.env.items()):
            for field in ("data", "grad"):
                value = _plain_attribute(node, field)
                if type(value) is int and value.bit_length() > HUGE_NUMBER_BITS:
                    self._stop({"why": "unbounded", "node": name, "field": field,
                                "digits": int(value.bit_length() * 0.30103)})
        if time.process_time() - self.started > self.budget:
            self._stop({"why": "budget"})

    def _stop(self, why):
        self.stopped = why
        raise WatchStopped(why["why"])


def _plain_attribute(node, name):
    """An attribute as stored (no property of the submission's runs from a signal handler)."""
    try:
        return object.__getattribute__(node, "__dict__").get(name)
    except BaseException:  # noqa: BLE001 - slotted: read through the class's descriptor
        try:
            slot = type(node).__dict__.get(name)
            return slot.__get__(node) if type(slot).__name__ == "member_descriptor" else None
        except BaseException:  # noqa: BLE001
            return None


def _observed(env, with_repr, watch=None, labelled=None):
    """Every node's observation, in order, each followed by its label when ``labelled`` (the
    targets created with ``label=``) is given: None for a node without one. Under a watch,
    reading a node is watched too: a field whose reading runs past the budget (or, once the
    program was stopped, takes more than a tick) is observed as the error it raised."""
    values = []
    for name, node in env.items():
        if watch is not None:
            if watch.interrupted_again:
                break  # reading nodes hangs too: the rest are not read (the grader sees them missing)
            watch.armed = True
        try:
            values += observe(node, with_repr)
            if labelled is not None:
                values.append(_observe_label(node) if name in labelled else None)
        finally:
            if watch is not None:
                watch.armed = False
    return values


def _observe_label(node):
    """What ``label=`` stored, read back: the text, or what was there instead."""
    try:
        label = node.label
        if type(label) is str:
            return _short(label)
        return {"other": type(label).__name__, "text": _short(repr(label))}
    except BaseException as exc:  # noqa: BLE001
        return {"error": describe_exception(exc)}


def execute_step(value_class, step, env):
    """Run one step (``Step.to_wire()``) on the nodes in ``env``, by name; what it creates goes
    into ``env``. The step says only which Python operator or method to call: what that
    operation means is the class's business."""
    kind, call, target = step["kind"], step["op"], step["target"]
    args = [env[value] if kind_ == "ref" else value for kind_, value in step["operands"]]
    if kind == "leaf":
        if step.get("label") is not None:
            env[target] = value_class(args[0], label=step["label"])
        else:
            env[target] = value_class(args[0])
    elif kind == "binary":
        env[target] = BINARY[call](args[0], args[1])
    elif kind == "unary":
        env[target] = UNARY[call](args[0])
    elif kind == "method":
        # no slice of the arguments when there are none: an object allocated between two of
        # the submission's moves where its objects land, and so the order of its sets
        env[target] = getattr(args[0], call)(*args[1:]) if len(args) > 1 else getattr(args[0], call)()
    elif kind == "sum":
        env[target] = sum(args)  # Python's own: 0 + args[0] + args[1] ...
    elif kind == "backward":
        getattr(env[target], call)()
    else:
        raise ValueError(f"unknown step kind {kind!r}")


def observe(node, with_repr=True):
    """What the grader may see of a node, compactly: ``[data, grad]`` or ``[data, grad, repr]``.

    data and grad: a plain number (NaN and infinities as "nan", "inf", "-inf"), or a dict
    ``{"other": type, "text": repr}`` for anything that is not a number, or ``{"error": ...}``.
    repr: the text, or ``{"error": ...}``."""
    try:  # the common case, two plain numbers, without a call per field
        data, grad = node.data, node.grad
        if type(data) in _PLAIN and type(grad) in _PLAIN and abs(data) < 2**63 and abs(grad) < 2**63:
            seen = [_float(data) if type(data) is float else data, _float(grad) if type(grad) is float else grad]
            if with_repr:
                seen.append(_observe_text(node))
            return seen
    except BaseException:  # noqa: BLE001 - observed field by field below, errors and all
        pass
    seen = [_observe_number(node, "data"), _observe_number(node, "grad")]
    if with_repr:
        seen.append(_observe_text(node))
    return seen


_PLAIN = (int, float)


def _observe_number(node, name):
    try:
        value = getattr(node, name)
        if type(value) is int or type(value) is bool:
            return int(value) if abs(value) < 2**63 else float(value)
        if type(value) is float:
            return _float(value)
        # anything else (a Value, a string, an object that claims equality with everything)
        # is reported as what it is; the grader never compares it as a number
        return {"other": _short(type(value).__name__)[:100], "text": _short(repr(value))}
    except BaseException as exc:  # noqa: BLE001
        return {"error": describe_exception(exc)}


def _observe_text(node):
    try:
        text = repr(node)
        if type(text) is not str:
            return {"error": {"type": "TypeError", "message": "__repr__ did not return a string"}}
        return _short(text)
    except BaseException as exc:  # noqa: BLE001
        return {"error": describe_exception(exc)}


def _float(value):
    """Floats as JSON can carry them: NaN and infinities as strings."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _short(text):
    text = str(text)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def describe_exception(exc, source_file=None, step=None):
    """Type, message, and the line of the submission where it was raised."""
    try:
        message = _short(str(exc))
    except BaseException:  # noqa: BLE001 - a __str__ that raises
        message = "(the exception's message could not be read)"
    described = {"type": type(exc).__name__, "message": message}
    if step is not None:
        described["step"] = step
    line = _submission_line(exc, source_file)
    if line is not None:
        described["line"] = line
    if isinstance(exc, SyntaxError):
        described["line"] = exc.lineno
        described["message"] = _short(exc.msg)
        described["text"] = _short((exc.text or "").rstrip())
    return described


def _submission_line(exc, source_file):
    if source_file is None:
        return None
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if os.path.abspath(frame.f_code.co_filename) == source_file:
            line = lineno
    return line


# ---------------------------------------------------------------- script mode (untrusted side)


class ForbiddenImport(ImportError):
    """Raised by the hook below; the grader recognises a forbidden import by this type."""


class _ForbiddenImports:
    """A meta path finder that refuses the modules a problem forbids (the grader also finds
    them in the source before the run: see ``grader/forbidden.py``)."""

    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            raise ForbiddenImport(f"importing {fullname} is not allowed in this exercise")
        return None


def _load_submission(path, code, forbidden):
    """Run the submission's compiled code as the module ``submission`` (compiled once: with
    no bytecode cache, letting the import system load the file would compile it again)."""
    sys.meta_path.insert(0, _ForbiddenImports(forbidden))
    spec = importlib.util.spec_from_file_location("submission", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = module
    exec(code, module.__dict__)
    return module


def _flush_output():
    """The submission's last prints belong in its captured output."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass


DRAINED_SIZE_CLASSES = range(48, 513, 16)
"""CPython's small-object size classes (bytes) that Values, slotted or not, fall into."""
POOL_SIZE, POOL_HEADER = 16384, 48
"""pymalloc's pools (CPython 3.10+ on 64-bit): where the first block of a fresh pool sits."""


def settle_memory_layout():
    """Make where the submission's objects land depend on nothing but the submission.

    A forked child inherits its server's heap, free blocks and all, and those differ with
    what the server did before. Code whose results depend on the iteration order of a set of
    Values (an order set by their addresses) would then be graded differently depending on
    which submission came before it. So, for each small size class, blocks are taken until
    the next one is the first block of a fresh pool: from there on, what the submission
    allocates is laid out the same way every time. Returns the ballast, which must stay
    alive."""
    gc.collect()  # the collector's counters, inherited too, start from zero
    ballast = [None] * (len(DRAINED_SIZE_CLASSES) * 2 * POOL_SIZE // 48)  # never a pymalloc block
    used = 0
    for size in DRAINED_SIZE_CLASSES:
        for _ in range(2 * POOL_SIZE // size):
            block = bytes(size - 40)  # 33 + len bytes: exactly this size class
            if id(block) % POOL_SIZE == POOL_HEADER:
                break  # freed below: the next object of this size takes this very block
            ballast[used] = block
            used += 1
        del block
    return ballast


def shift_memory_layout(shift):
    """Move everything created from now on to other addresses: ``shift`` blocks of every
    small size class are taken. The second pass does this before it runs programs again, to
    see whether their results depend on set order. Returns the ballast, which must stay
    alive."""
    ballast = [None] * (len(DRAINED_SIZE_CLASSES) * shift)  # allocated before any block is taken
    used = 0
    for size in DRAINED_SIZE_CLASSES:
        for _ in range(shift):
            ballast[used] = bytes(size - 40)
            used += 1
    return ballast


def run_in_this_process(config):
    """Load the submission and run the configured programs, then the second pass, reporting
    on the channel; never returns."""
    ballast = settle_memory_layout()  # noqa: F841 - kept alive on purpose
    channel = os.fdopen(config["channel_fd"], "w", encoding="utf-8", buffering=1)
    send = lambda message: channel.write(json.dumps(message, separators=(",", ":")) + "\n")  # noqa: E731
    # the name the submission's code sees for its own file is the same wherever the sandbox
    # keeps it (a path's length moves where objects land, and so set order)
    source_file = config.get("shown_as") or os.path.abspath(config["submission"])
    try:
        with open(config["submission"], "rb") as handle:
            source = handle.read()
        code = compile(source, source_file, "exec")  # a syntax error is reported before anything runs
        module = _load_submission(source_file, code, config["forbidden_imports"])
    except BaseException as exc:  # noqa: BLE001
        _flush_output()
        send({"event": "load_error", "error": describe_exception(exc, source_file)})
        _end_run(channel)
    value_class = getattr(module, config["class_name"], None)
    if not isinstance(value_class, type):
        found = sorted(n for n, v in vars(module).items() if isinstance(v, type) and not n.startswith("_"))
        also = f" (it defines {', '.join(found)})" if found else ""
        message = f"the file defines no class named {config['class_name']}{also}"
        send({"event": "load_error", "error": {"type": "MissingClass", "message": message}})
        _end_run(channel)
    missing = [name for name in config["required_attributes"] if not hasattr(value_class, name)]
    send({"event": "loaded", "missing": missing})
    again = config.get("again", [])
    kept = {index for index, _steps in again}
    first = {}
    for index, steps in config["programs"]:
        values, error = run_program(value_class, steps, source_file)
        send({"event": "result", "test": index, "values": values, "error": error})
        if index in kept:
            first[index] = (values, error)
    if again:
        shifted = shift_memory_layout(config.get("again_shift", 1))  # noqa: F841 - kept alive on purpose
        for index, steps in again:
            if index in first and first[index][1] is not None and "stopped" in first[index][1]:
                first.pop(index)  # stopped by its watch: a second run would only take as long
                send({"event": "result", "test": index, "again": True, "same": True})
                continue
            values, error = run_program(value_class, steps, source_file)
            if index in first and first.pop(index) == (values, error):
                send({"event": "result", "test": index, "again": True, "same": True})
            else:
                send({"event": "result", "test": index, "again": True, "values": values, "error": error})
    _flush_output()
    send({"event": "done"})
    _end_run(channel)


def _end_run(channel):
    """Flush the last message, close the output pipes and the channel, so the grader reads
    their ends at once rather than when this process has unmapped its memory, and exit: no
    atexit handlers or finalizers of the submission run after the results."""
    try:
        channel.flush()
    except BaseException:  # noqa: BLE001
        pass
    os.closerange(0, 3)
    try:
        os.close(channel.fileno())
    except (OSError, ValueError):
        pass
    os._exit(0)

