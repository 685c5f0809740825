"""A warm fork server: runs inside the sandbox, forks one fresh process per submission run.

Starting Python, and bubblewrap around it, costs far more than grading a submission. So each
grading session starts this server once, inside its sandbox, and asks it for one child per
run. The server never runs submission code itself: every child is forked from a process that
has only imported the standard library and ``interpreter.py``, so each run starts as fresh as
a new interpreter would, and nothing one submission did can reach the next one:

- the child gets its own session, resource limits, scrubbed environment, stdin from
  /dev/null, and exactly three descriptors from the grader (result channel, stdout, stderr);
- the server is a child subreaper (Linux), so whatever the child started, however detached,
  becomes the server's child and is killed when the run ends;
- every place a run may write (the working directory, and inside namespaces /tmp, /dev/shm
  and new entries of /dev) is wiped before the next run;
- the server makes itself non-dumpable, so a child (same user) cannot ptrace it or read its
  descriptors through /proc.

Like ``interpreter.py`` this file is copied into the sandbox and imports only the standard
library. Protocol on the control socket (descriptor given on the command line), one JSON
line per message, request then reply:

    {"op": "spawn", "submission": path, "tests": [i, ...], "again": [i, ...], "again_shift": n}
        + 3 descriptors  ->  {"pid": n}
    {"op": "finish", "pid": n, "grace": seconds}  ->  {"status": wait status or null}

``finish`` waits up to ``grace`` seconds for the child to end on its own, then kills it,
kills every straggler, wipes the writable places and answers with the child's wait status.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import resource
import select
import shutil
import signal
import socket
import sys
import traceback

CHANNEL_FD = 3
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
MAX_REQUEST = 1 << 20
SPAWN_SECONDS = 10.0


def _prctl(option, value):
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: stragglers are then caught by their process group only


def _load_interpreter(path):
    spec = importlib.util.spec_from_file_location("grader_interpreter", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Server:
    def __init__(self, config, control):
        self.config = config
        self.control = control
        self.programs = config["programs"]
        self.interpreter = _load_interpreter(config["interpreter"])
        self.wiped = config["wipe"]
        self.dev_entries = set(os.listdir("/dev")) if config.get("wipe_dev") else None
        self.buffer = b""
        self.template = None
        self.current = None
        """The run under way, if any."""

    # ---------------------------------------------------------------- requests
    def serve(self):
        try:
            self._serve()
        finally:
            # the grader is gone (killed, even with SIGKILL, its socket closes) or this server
            # failed: no run it started may outlive it, least of all one stuck in a loop
            for pid in (self.current, self.template):
                if pid is not None:
                    _kill(pid)
            self.template = None
            self.kill_stragglers()

    def _serve(self):
        while True:
            request, fds = self.receive()
            if request is None:
                return
            if request.get("op") == "spawn" and len(fds) == 3:
                reply = {"pid": self.spawn(request, fds)}
            elif request.get("op") == "finish":
                reply = {"status": self.finish(request["pid"], float(request.get("grace", 0)))}
            else:
                reply = {"error": "bad request"}
            for fd in fds:
                os.close(fd)
            self.control.sendall((json.dumps(reply) + "\n").encode())

    def receive(self):
        fds = []
        while b"\n" not in self.buffer:
            data, more, _flags, _address = socket.recv_fds(self.control, 65536, 3)
            fds += more
            if not data:
                return None, fds
            self.buffer += data
            if len(self.buffer) > MAX_REQUEST:
                return None, fds
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line), fds

    # ---------------------------------------------------------------- one run
    def start_template(self):
        """Fork the template every run is forked from (see ``_template``)."""
        go_read, self.go = os.pipe()
        self.statuses, status_write = os.pipe()
        self.requests, theirs = socket.socketpair()
        self.template = os.fork()
        if self.template == 0:
            try:
                self.requests.close()
                os.close(self.go)
                os.close(self.statuses)
                _template(self, go_read, status_write, theirs)
            finally:
                os._exit(0)
        os.close(go_read)
        os.close(status_write)
        theirs.close()

    def spawn(self, request, fds):
        """Hand the request to the next child, have the template fork it, learn its pid."""
        try:
            socket.send_fds(self.requests, [json.dumps(request).encode() + b"\n"], fds)
            os.write(self.go, b"g")
            if not select.select([self.requests], [], [], SPAWN_SECONDS)[0]:
                return None
            self.current = int(self.requests.recv(64).split(b"\n")[0])
            return self.current
        except (OSError, ValueError):
            return None

    def become_child_of_template(self, requests):
        data, fds = b"", []
        while not data.endswith(b"\n"):
            chunk, more, _flags, _address = socket.recv_fds(requests, 65536, 3)
            if not chunk:
                os._exit(71)
            data, fds = data + chunk, fds + more
        requests.sendall(f"{os.getpid()}\n".encode())
        gc.enable()
        self.become_child(json.loads(data), fds)

    def become_child(self, request, fds):
        os.setsid()
        channel, stdout, stderr = fds
        null = os.open(os.devnull, os.O_RDONLY)
        for source, target in ((null, 0), (stdout, 1), (stderr, 2), (channel, CHANNEL_FD)):
            os.dup2(source, target)
        os.closerange(CHANNEL_FD + 1, _max_fd())
        _set_limits(self.config["limits"])
        os.chdir(self.config["work"])
        os.environ.clear()
        os.environ.update(self.config["environment"])
        sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
        run = dict(self.config["submission"], submission=request["submission"], channel_fd=CHANNEL_FD,
                   again_shift=int(request.get("again_shift", 1)))
        run["programs"] = self.selected(request.get("tests", []))
        run["again"] = self.selected(request.get("again", []))
        self.interpreter.run_in_this_process(run)

    def selected(self, indices):
        return [[i, self.programs[i]] for i in indices if 0 <= i < len(self.programs)]

    def finish(self, pid, grace):
        status = self.wait_for(grace)
        if status is None:
            _kill(pid)
            status = self.wait_for(5)
        self.current = None
        self.kill_stragglers()
        self.wipe()
        return status

    def wait_for(self, seconds):
        """The child's wait status, which the template sends once the child has ended; None
        if it does not end in time (or the template is gone)."""
        if not select.select([self.statuses], [], [], seconds)[0]:
            return None
        data = os.read(self.statuses, 4)
        return int.from_bytes(data, "little") if len(data) == 4 else None

    def kill_stragglers(self):
        """Everything the run left behind, however it detached: orphans come to the server."""
        for _ in range(1000):
            children = [pid for pid in _children() if pid != self.template]
            if not children:
                break
            for pid in children:
                _kill(pid)
            for pid in children:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
        while True:  # reap what died without being listed
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == self.template:  # a run killed it: its successor is forked now
                self.start_template()

    def wipe(self):
        for folder in self.wiped:
            _empty(folder)
        if self.dev_entries is not None:
            for name in set(os.listdir("/dev")) - self.dev_entries:
                _remove("/dev/" + name)


def _template(server, go, statuses, requests):
    """The process every run is forked from. It is forked from the server once, before any
    run, and does nothing but wait for a byte, fork, wait for the child and report its
    status, freeing everything it allocated each time: so every child starts from the very
    same heap, whatever ran before it (see interpreter.settle_memory_layout)."""
    gc.disable()  # no collection at a moment that depends on history
    while os.read(go, 1):
        pid = os.fork()
        if pid == 0:
            try:
                os.close(go)
                os.close(statuses)
                server.become_child_of_template(requests)
            finally:
                os._exit(70)
        status = os.waitpid(pid, 0)[1]
        os.write(statuses, status.to_bytes(4, "little"))
        del pid, status


def _children():
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children") as handle:
            return [int(pid) for pid in handle.read().split()]
    except OSError:
        pass
    found = []
    for name in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as handle:
                    stat = handle.read()
                if int(stat[stat.rindex(")") + 2 :].split()[1]) == me:
                    found.append(int(name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def _kill(pid):
    """The process and its process group (a run is the leader of its own session)."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _empty(folder):
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        _remove(os.path.join(folder, name))


def _remove(path):
    """Remove whatever a run left, even a folder it made read-only (it is the same user)."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            for root, folders, _files in os.walk(path):
                for name in folders:
                    try:
                        os.chmod(os.path.join(root, name), 0o700)
                    except OSError:
                        pass
            os.chmod(path, 0o700)
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


def _max_fd():
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if 0 < soft < 1 << 20 else 4096


def _set_limits(limits):
    mb = 1024 * 1024
    values = [
        (resource.RLIMIT_CPU, limits["cpu_seconds"]),
        (resource.RLIMIT_AS, limits["memory_mb"] * mb),
        (resource.RLIMIT_FSIZE, limits["file_size_mb"] * mb),
        (resource.RLIMIT_NOFILE, limits["open_files"]),
        (resource.RLIMIT_CORE, 0),
    ]
    if limits.get("nproc") is not None:
        values.append((resource.RLIMIT_NPROC, limits["nproc"]))
    for which, value in values:
        resource.setrlimit(which, (value, value))


def _warm_up():
    """Do once, here, what the standard library does lazily the first time: otherwise the
    first child would do it while the submission runs, and lay its objects out differently
    from every later child (see interpreter.settle_memory_layout)."""
    sample = {"event": "result", "test": 0, "values": [1.5, 2, "nan", {"other": "str", "text": "x"}],
              "error": {"type": "ValueError", "message": "m", "line": 1}}
    json.loads(json.dumps(sample, separators=(",", ":")))
    try:
        raise ValueError("warm-up")
    except ValueError as error:
        list(traceback.walk_tb(error.__traceback__))
        str(error)


def main(config_path, control_fd):
    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_DUMPABLE, 0)
    control = socket.socket(fileno=control_fd)
    server = Server(config, control)
    _warm_up()
    gc.freeze()
    server.start_template()  # what the server holds is never collected again: a child's collections stay small
    control.sendall(b'{"ready": true}\n')
    server.serve()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
