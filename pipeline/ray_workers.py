"""Ray workers that start once and run many datatrove tasks.

datatrove's ``RayPipelineExecutor`` makes a placement group and a new actor process for every task,
which then forks a pool of one: every task pays a process start, the imports, and reloads the
opt-out snapshot and the tokenizer (~2.8 s per task here). ``RayWorkers`` starts ``workers`` actors
once per Ray cluster session and hands them ranks one at a time; each actor runs
``executor._run_for_rank`` in its own process, so the process-level caches (``steps._snapshot``,
``tokenizer.token_counter``, the PII patterns) are loaded once per worker and kept for every later
task and stage. Each worker reserves its CPUs and memory once (``cpus_per_task``, ``mem_per_cpu_gb``
per CPU) instead of once per task.

The bytes written are the local executor's: the same ``_run_for_rank`` runs the same pipeline.
"""

from __future__ import annotations

import json
import resource
from collections import Counter, deque
from pathlib import Path

from datatrove.executor import RayPipelineExecutor
from datatrove.utils.logging import logger
from datatrove.utils.stats import PipelineStats

ATTEMPTS = 3
"""Times a rank is tried when its worker process dies under it (killed, out of memory); an error
raised by the pipeline itself is not retried (it would fail again), as in datatrove."""


def reservation(cpus_per_task: int, mem_per_cpu_gb: float) -> dict:
    """What one worker reserves on the cluster, once for all the tasks it runs."""
    return {"num_cpus": cpus_per_task, "memory": int(mem_per_cpu_gb * cpus_per_task * 1024**3)}


class RankWorker:
    """A Ray actor: one long-lived process that runs one datatrove task after another."""

    def __init__(self) -> None:
        import apertus_compliance.pipeline.steps  # noqa: F401  (imported while the driver still prepares)

    def run_rank(self, executor: bytes, rank: int) -> PipelineStats:
        """``executor`` pickled: unpickled here for each task, so every task gets fresh steps (their
        stats and writers are per task) while the module-level caches stay."""
        from ray import cloudpickle

        return cloudpickle.loads(executor)._run_for_rank(rank)

    def peak_memory(self) -> int:
        """The process's peak resident memory in bytes (``ru_maxrss``, KiB on Linux)."""
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def private_memory(self) -> int:
        """Memory of this process that no file backs, in bytes (``Anonymous`` in Linux's smaps): USS
        would also count the mapped snapshot pages only this worker happened to touch, which are
        page cache that any other worker would share."""
        rollup = Path("/proc/self/smaps_rollup")
        if not rollup.is_file():  # not Linux: USS, an upper bound
            import psutil

            return psutil.Process().memory_full_info().uss
        fields = dict(line.split(":", 1) for line in rollup.read_text().splitlines()[1:])
        return int(fields["Anonymous"].split()[0]) * 1024

    def cpu_seconds(self) -> float:
        """CPU time the process has used (user + system), for per-core throughput under other load."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime


class RayWorkers:
    """The actors of this process's Ray session, started on first use and reused by every stage (and,
    in a session the caller started, by every rebuild until ``ray.shutdown``); ``close`` ends them.

    ``peak_memory`` keeps, per worker ended by ``close``, its peak resident memory, for the logs and
    the scale benchmark; ``peaks`` asks the live ones."""

    def __init__(self) -> None:
        self.actors: list = []
        self.options: dict | None = None
        self.session: tuple[str, str] | None = None
        self.peak_memory: list[int] = []

    def take(self, count: int, options: dict) -> list:
        """``count`` workers reserving ``options`` (``num_cpus``, ``memory``); started as needed."""
        import ray

        context = ray.get_runtime_context()
        session = (context.get_job_id(), context.get_node_id())
        if session != self.session:  # ray.shutdown and ray.init since: the handles are of a finished session
            self.actors, self.session = [], session
        if options != self.options:  # another reservation: these workers do not fit it
            self.close()
            self.options = options
        while len(self.actors) < count:
            self.actors.append(ray.remote(RankWorker).options(**options).remote())
        return self.actors[:count]

    def replace(self, dead: object) -> object:
        """A new worker in place of one whose process died."""
        import ray

        fresh = ray.remote(RankWorker).options(**self.options).remote()
        self.actors[self.actors.index(dead)] = fresh
        return fresh

    def peaks(self) -> list[int]:
        """The peak resident memory of each live worker, in bytes (0: a worker that did not answer)."""
        import ray

        figures = []
        for actor in self.actors:
            try:
                figures.append(ray.get(actor.peak_memory.remote(), timeout=30))
            except Exception:  # a dead or stuck worker has no figure to give
                figures.append(0)
        return figures

    def close(self) -> None:
        import ray

        if self.actors and ray.is_initialized():
            self.peak_memory += [peak for peak in self.peaks() if peak]
            for actor in self.actors:
                ray.kill(actor)
        self.actors = []


_SESSION = RayWorkers()
"""The workers of the Ray session this process drives (``rebuild.ray_cluster`` closes them)."""


def session_workers() -> RayWorkers:
    return _SESSION


class ReusedWorkersExecutor(RayPipelineExecutor):
    """datatrove's Ray executor (same logs, stats, completions, resume), with the tasks run on the
    session's long-lived workers instead of one new actor per task."""

    def run(self) -> None:
        import ray
        from ray import cloudpickle
        from ray.exceptions import RayActorError, RayTaskError

        self._launched = True
        to_run = self.get_incomplete_ranks(range(self.world_size))
        if not to_run:
            return
        self.save_executor_as_json()
        executor_ref = ray.put(cloudpickle.dumps(self))
        options = reservation(self.cpus_per_task, self.mem_per_cpu_gb)
        workers = _SESSION.take(min(self.workers, len(to_run)), options)
        pending, idle, running, attempts = deque(to_run), list(workers), {}, Counter()
        while pending or running:
            while pending and idle:
                worker, rank = idle.pop(), pending.popleft()
                running[worker.run_rank.remote(executor_ref, rank)] = (worker, rank)
            finished, _ = ray.wait(list(running), num_returns=1)
            for reference in finished:
                worker, rank = running.pop(reference)
                try:
                    ray.get(reference)
                    idle.append(worker)
                except RayTaskError as error:  # the pipeline raised: the rank stays incomplete, the worker lives
                    logger.warning(f"task {rank} failed: {error}")
                    idle.append(worker)
                except RayActorError as error:  # the process died under the task
                    attempts[rank] += 1
                    logger.warning(f"task {rank}: its worker died (attempt {attempts[rank]} of {ATTEMPTS}): {error}")
                    idle.append(_SESSION.replace(worker))
                    if attempts[rank] < ATTEMPTS:
                        pending.append(rank)
        if not self.get_incomplete_ranks(range(self.world_size), skip_completed=True):
            self.save_stats()

    def save_stats(self, stats: PipelineStats | None = None) -> None:
        """``stats.json``: every task's stats merged, once all tasks are complete."""
        total = PipelineStats()
        for rank in range(self.world_size):
            with self.logging_dir.open(f"stats/{rank:05d}.json", "r") as handle:
                total += PipelineStats.from_json(json.load(handle))
        with self.logging_dir.open("stats.json", "wt") as handle:
            total.save_to_disk(handle)
