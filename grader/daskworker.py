"""A batch on a Dask cluster: the pool that sends it chunks, and what a worker holds for a
batch (one grading session for as long as it lives).

Imported only for ``--executor dask`` (``dask.distributed`` is an optional extra). A local
pool's worker keeps its session in a local variable for its whole life; a Dask worker keeps
it in this plugin, which the batch registers on the cluster and which every task of the
batch finds on its worker. Tasks on one worker take turns: a pytest session, and a sandbox,
serve one chunk at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from dask.distributed import Client, LocalCluster, as_completed
from distributed import Worker, WorkerPlugin, get_worker

from grader.grading import GradingSession
from grader.workers import BatchEntry, GradedSubmission, WorkerSpec, grade_chunk


class GradingSessionPlugin(WorkerPlugin):
    """A session per worker, opened when the plugin is set up there and closed with the worker.
    The name carries the problem's digest: a cluster serving two batches keeps them apart."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.name = plugin_name(spec)
        self.session: GradingSession | None = None
        self.turn = threading.Lock()

    def setup(self, worker: Worker) -> None:
        self.session = GradingSession(self.spec.problem, isolation=self.spec.isolation)
        self.session.load_library()

    def teardown(self, worker: Worker) -> None:
        if self.session is not None:
            self.session.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec, "name": self.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.spec, self.name = state["spec"], state["name"]
        self.session, self.turn = None, threading.Lock()


def plugin_name(spec: WorkerSpec) -> str:
    return f"grader-session-{spec.problem.id}-{spec.problem.digest[:16]}-{spec.isolation.value}"


def grade_chunk_on_worker(name: str, entries: Sequence[BatchEntry], formats: tuple[str, ...]) -> list[GradedSubmission]:
    """A Dask task: one chunk through the session its worker holds."""
    plugin = get_worker().plugins[name]
    assert isinstance(plugin, GradingSessionPlugin) and plugin.session is not None, "set up on every worker"
    with plugin.turn:
        return grade_chunk(plugin.session, entries, formats)


class DaskPool:
    """Chunks as tasks on a Dask cluster (``dask.distributed``, the ``dask`` extra): an
    existing scheduler, or a LocalCluster of ``jobs`` single-threaded worker processes. Each
    worker holds one GradingSession for the batch (``GradingSessionPlugin``), so it
    needs only this package, the course files and the submissions at the same paths (a shared
    file system); reports come back to the batch, which writes them."""

    def __init__(self, spec: WorkerSpec, jobs: int, scheduler: str | None = None) -> None:
        self.spec, self.jobs, self.scheduler = spec, max(1, jobs), scheduler

    def map(self, chunks: Iterable[list[BatchEntry]]) -> Iterator[list[GradedSubmission]]:
        cluster = None
        if self.scheduler is None:
            # processes, one thread each: pytest sessions are not thread-safe
            cluster = LocalCluster(n_workers=self.jobs, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=50)
        client = Client(self.scheduler or cluster)
        plugin = GradingSessionPlugin(self.spec)
        try:
            client.register_plugin(plugin)
            futures = [client.submit(grade_chunk_on_worker, plugin.name, chunk, self.spec.formats, pure=False)
                       for chunk in chunks]
            for future in as_completed(futures):
                yield future.result()
        finally:
            if cluster is None:
                client.unregister_worker_plugin(plugin.name)  # an existing cluster's workers close their sessions
            client.close()
            if cluster is not None:
                cluster.close()
