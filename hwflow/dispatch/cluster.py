"""Where accuracy evaluations run besides in-process: local worker processes or a Dask cluster.

Both are ``AccuracyDispatch``es (hwflow.dispatch.protocol) on dask.distributed: each accuracy
evaluation of a generation is one task, and the hardware estimates never leave the driver.
What a task carries is a ``WorkerJob`` (the ``AccuracySettings`` and torch threads) and a
``Strategy``; a worker rebuilds the evaluator from them (the model from its catalog entry or
file path, the data set, the float baseline from its cache) once per process and keeps it.
No ``nn.Module`` is ever pickled.

No work is lost or done twice:
- the driver alone writes run.sqlite, one row per result it receives; Dask runs a task whose
  worker died again on another worker and hands the driver one result per task;
- the driver serves strategies already in its accuracy cache without dispatching them (and
  copies results trained on other machines into it), and a strategy asked for twice is one
  task;
- workers of one machine share the SQLite accuracy cache, whose claims let one worker train
  a strategy while any other asked for it waits (a dead worker's claim is taken over).

A worker asked for ``cuda`` (or ``auto``) takes the least shared GPU it sees, so N workers on
a machine with N GPUs own one each (see ``claim_gpu``).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Protocol, Sequence

from hwflow.accuracy.evaluator import AccuracyEvaluator, AccuracyResult, AccuracySettings
from hwflow.accuracy.store import ResultStore, StoredResult
from hwflow.dispatch.protocol import AccuracySource
from hwflow.errors import HwflowError
from hwflow.strategy import Strategy

if TYPE_CHECKING:
    from distributed import Client

CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler and to see its first worker


class ParallelError(HwflowError):
    """A cluster that cannot be used as asked."""


class CachedSource(AccuracySource, Protocol):
    """What a worker evaluates with: ``AccuracyEvaluator`` (or a test double with its cache)."""

    store: ResultStore

    def strategy_key(self, strategy: Strategy) -> str: ...


@dataclass(frozen=True)
class WorkerJob:
    """Everything a worker needs to rebuild the evaluator; equal jobs share one per process."""

    settings: AccuracySettings
    threads: int | None = None  # torch CPU threads per worker; None: torch's (1 under a nanny)
    source: Callable[[AccuracySettings], CachedSource] = AccuracyEvaluator


# --- the worker side ---------------------------------------------------------------------

_held_gpu_locks: list[int] = []  # open for the life of the worker process


def claim_gpu(visible: Sequence[str], lock_dir: Path) -> int:
    """Index in ``visible`` (physical GPU ids) of the GPU this process takes: the first one
    with the fewest holders on this machine. Holders are exclusive ``flock``s on one lock
    file per (GPU, slot), which the kernel releases when a holder dies."""
    user, slot = os.getuid(), 0
    while True:
        for index, physical in enumerate(visible):
            name = re.sub(r"[^\w.-]", "_", f"hwflow-{user}-gpu-{physical}-{slot}.lock")
            fd = os.open(lock_dir / name, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            _held_gpu_locks.append(fd)
            return index
        slot += 1


@functools.cache
def worker_device(requested: str) -> str:
    """The device this worker process trains on: a named one (``cpu``, ``cuda:1``) as given;
    ``cuda`` or ``auto`` become one GPU of those it sees, claimed for this process."""
    if requested not in ("cuda", "auto"):
        return requested
    import torch

    count = torch.cuda.device_count()
    if count == 0:  # "cuda" then fails in the evaluator with its one-line error
        return "cpu" if requested == "auto" else requested
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    visible = env.split(",")[:count] if env else [str(i) for i in range(count)]
    return f"cuda:{claim_gpu(visible, Path(tempfile.gettempdir()))}"


_sources: dict[WorkerJob, CachedSource] = {}  # per worker process: baseline and data stay loaded


def _source_for(job: WorkerJob) -> CachedSource:
    source = _sources.get(job)
    if source is None:
        from hwflow.accuracy.train import use_threads

        use_threads(job.threads)
        settings = replace(job.settings, device=worker_device(job.settings.device))
        source = _sources[job] = job.source(settings)
    return source


def evaluate_task(job: WorkerJob, strategy: Strategy) -> AccuracyResult:
    return _source_for(job).evaluate([strategy])[0]


def float_accuracy_task(job: WorkerJob) -> float:
    return _source_for(job).float_accuracy()


# --- the driver side ---------------------------------------------------------------------

class DaskDispatch:
    """Accuracy evaluations as tasks on a Dask cluster; this process keeps run.sqlite."""

    def __init__(self, client: Client, job: WorkerJob, owns_cluster: bool = False) -> None:
        self.client, self.job, self._owns_cluster = client, job, owns_cluster
        # keys and this machine's accuracy cache; it trains nothing here
        self.local = job.source(job.settings)
        # each worker sets up now (torch, the float baseline: pretrained once per machine)
        # while the driver builds its hardware tables
        resources, workers = self._resources()
        self._warm_up = [client.submit(float_accuracy_task, job, pure=False, workers=[w],
                                       resources=resources) for w in workers]

    def _resources(self) -> tuple[dict[str, float] | None, list[str]]:
        """(what each task asks for, the workers that have it): GPU=1 when training on GPUs
        and some workers say they have one."""
        workers = self.client.scheduler_info()["workers"]
        with_gpu = [w for w, info in workers.items() if "GPU" in info.get("resources", {})]
        if self.job.settings.device == "cpu" or not with_gpu:
            return None, list(workers)
        return {"GPU": 1}, with_gpu

    def float_accuracy(self) -> float:
        future = self.client.submit(float_accuracy_task, self.job, pure=False,
                                    resources=self._resources()[0])
        with _workers_died("training the float baseline", "fix the cause and run the command again"):
            return future.result()

    def run(self, strategies: Sequence[Strategy]) -> Iterator[tuple[int, AccuracyResult]]:
        from distributed import as_completed

        positions: dict[str, list[int]] = {}
        for i, strategy in enumerate(strategies):
            positions.setdefault(self.local.strategy_key(strategy), []).append(i)
        cached: list[tuple[str, AccuracyResult]] = []
        futures = {}
        resources = self._resources()[0]
        for key, where in positions.items():
            found = self.local.store.get(key)
            if found is not None:
                cached.append((key, AccuracyResult(found.accuracy, found.status, 0.0, True)))
            else:
                future = self.client.submit(evaluate_task, self.job, strategies[where[0]],
                                            key=f"hwflow-psi-{key}", resources=resources)
                futures[future] = key
        try:
            for key, result in cached:
                for i in positions[key]:
                    yield i, result
            for future in as_completed(futures):
                key = futures[future]
                with _workers_died(f"fine-tuning w_bits {list(strategies[positions[key][0]].w_bits)}",
                                   "every result so far is stored: fix the cause and run the "
                                   "same command with --resume"):
                    result = future.result()
                self._keep(key, strategies[positions[key][0]], result)
                for i in positions[key]:
                    yield i, result
        finally:  # stopped or failed: leave nothing of this batch running on the cluster
            # (only what is unfinished: a cancel still in flight would also cancel the same
            # key submitted again later)
            self.client.cancel([f for f in futures if not f.done()])

    def _keep(self, key: str, strategy: Strategy, result: AccuracyResult) -> None:
        """A result trained on another machine goes into this machine's cache too, so a later
        run driven from here never sends it out again (on this machine the worker stored it)."""
        if self.local.store.get(key) is None:
            info = {"kind": "finetune", "model": strategy.model, "w_bits": list(strategy.w_bits),
                    "a_bits": list(strategy.a_bits), "trained_by": "a Dask worker"}
            self.local.store.put(key, info, StoredResult(result.accuracy, result.status,
                                                         result.seconds))

    def close(self) -> None:
        cluster = self.client.cluster if self._owns_cluster else None
        self.client.close()
        if cluster is not None:
            cluster.close()


@contextlib.contextmanager
def _workers_died(task: str, then: str) -> Iterator[None]:
    """Dask gives up on a task after its workers died three times (``KilledWorker``): one
    line for the user, saying what to do ``then`` (results stored before it stay)."""
    from distributed import KilledWorker

    try:
        yield
    except KilledWorker:
        raise ParallelError(f"Dask workers died three times {task} (out of memory? killed?); "
                            f"{then}") from None


def local_processes(workers: int, job: WorkerJob) -> DaskDispatch:
    """A LocalCluster of ``workers`` single-threaded worker processes on this machine."""
    from distributed import Client, LocalCluster

    # memory_limit=0: workers hold models and data sets, not Dask data; nothing to spill.
    # Quiet workers: a task's error comes back to the driver, a dead worker's task reruns.
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, memory_limit=0,
                           silence_logs=logging.CRITICAL)
    return DaskDispatch(Client(cluster), job, owns_cluster=True)


def connect(scheduler: str, job: WorkerJob, timeout: float | None = None) -> DaskDispatch:
    """A running Dask cluster: ``tcp://host:8786`` or the path of a scheduler file."""
    from distributed import Client

    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    fix = ("start one with `dask scheduler` and workers with `dask worker ADDRESS "
           "--nthreads 1`; see docs/parallel.md")
    as_file = Path(scheduler).expanduser()
    try:
        client = (Client(scheduler_file=str(as_file), timeout=timeout) if as_file.is_file()
                  else Client(scheduler, timeout=timeout))
    except (OSError, ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ParallelError(f"cannot reach a Dask scheduler at {scheduler!r} ({reason}); "
                            f"{fix}") from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        client.close()
        raise ParallelError(f"the Dask scheduler at {scheduler} has no workers after "
                            f"{timeout:g} s; {fix}") from None
    return DaskDispatch(client, job)


def open_dispatch(settings: AccuracySettings, threads: int | None = None,
                  workers: int | None = None, scheduler: str | None = None,
                  source: Callable[[AccuracySettings], CachedSource] = AccuracyEvaluator,
                  ) -> DaskDispatch:
    """Local worker processes (``workers``) or a running cluster (``scheduler``)."""
    if (workers is None) == (scheduler is None):
        raise ParallelError("give the number of local worker processes or a Dask scheduler "
                            "address, exactly one of them")
    job = WorkerJob(settings, threads, source)
    return local_processes(workers, job) if workers is not None else connect(scheduler, job)
