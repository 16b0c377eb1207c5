"""datatrove's local executor, with worker processes that start once per rebuild, and a worker that
dies stopping the stage instead of hanging it.

``LocalPipelineExecutor`` runs each stage's tasks in a new ``multiprocess.Pool``: every stage of
every source spawns its workers again (imports, tokenizer, snapshot: seconds per worker and stage),
and when a worker process is killed (the OOM killer, a SIGKILL) the pool starts a new worker but
the task it held never returns, and the rebuild waits forever. Here the tasks run on one
``concurrent.futures`` pool that ``local_workers`` keeps for the whole rebuild, so the process-level
caches stay loaded from one stage to the next; ``concurrent.futures`` notices a dead process and
raises ``BrokenProcessPool``, which becomes an error that says what happened. Completed tasks stay
completed, so running the command again resumes.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from copy import deepcopy

import dill
from datatrove.executor import LocalPipelineExecutor
from datatrove.utils.stats import PipelineStats

from apertus_compliance.errors import ApertusError


class WorkerDied(ApertusError, RuntimeError):
    """A worker process ended without finishing its task (killed, or crashed in native code)."""


class LocalWorkers:
    """The worker processes of one rebuild: started by the first stage that needs them, reused by
    the next ones (same count and start method), shut down by ``close``."""

    def __init__(self) -> None:
        self.pool: ProcessPoolExecutor | None = None
        self.shape: tuple[int, str] | None = None
        self.held = False
        """True inside ``local_workers``: the pool outlives a stage."""

    def take(self, workers: int, start_method: str) -> ProcessPoolExecutor:
        if self.pool is None or self.shape != (workers, start_method):
            self.close()
            self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(start_method))
            self.shape = (workers, start_method)
        return self.pool

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool, self.shape = None, None


_SESSION = LocalWorkers()


@contextlib.contextmanager
def local_workers() -> Iterator[LocalWorkers]:
    """Keep the local worker processes from one stage to the next until the block ends. Outside such
    a block each stage starts and ends its own."""
    _SESSION.held = True
    try:
        yield _SESSION
    finally:
        _SESSION.held = False
        _SESSION.close()


class WatchedLocalExecutor(LocalPipelineExecutor):
    """datatrove's local executor on the rebuild's worker pool (``local_workers``); one worker runs the
    tasks in this process, one after another, each on a fresh copy of the pipeline (as datatrove does)."""

    def run(self) -> PipelineStats | None:
        ranks = range(self.local_rank_offset, self.local_rank_offset + self.local_tasks)
        to_run = self.get_incomplete_ranks(ranks)
        if not to_run:
            return None
        self._launched = True
        self.save_executor_as_json()
        stats = self._run_here(to_run) if self.workers == 1 else self._run_in_pool(to_run, ranks)
        self.save_stats(stats)
        return stats

    def _run_here(self, to_run: list[int]) -> PipelineStats:
        pipeline, stats = self.pipeline, PipelineStats()
        try:
            for rank in to_run:
                self.pipeline = deepcopy(pipeline)
                stats += self._run_for_rank(rank)
        finally:
            self.pipeline = pipeline
        return stats

    def _run_in_pool(self, to_run: list[int], ranks: range) -> PipelineStats:
        executor = dill.dumps(self)  # dill, as datatrove's own pool would: pipelines may hold lambdas
        stats = PipelineStats()
        pool = _SESSION.take(self.workers, self.start_method)
        try:
            futures = [
                pool.submit(_run_rank, executor, rank, index % self.workers) for index, rank in enumerate(to_run)
            ]
            for future in futures:
                stats += future.result()
        except BrokenProcessPool as error:
            _SESSION.close()
            missing = self.get_incomplete_ranks(ranks)
            raise WorkerDied(
                f"a worker process died (killed, or out of memory?) with {len(missing)} task(s) "
                f"unfinished; completed tasks are kept in {self.logging_dir.path}: run the same "
                "command again to resume"
            ) from error
        finally:
            if not _SESSION.held:
                _SESSION.close()
        return stats

    def save_stats(self, stats: PipelineStats) -> None:
        """``stats.json``: the stats of the tasks this run ran, merged (datatrove's local executor's)."""
        with self.logging_dir.open("stats.json", "wt") as statsfile:
            stats.save_to_disk(statsfile)


def _run_rank(executor: bytes, rank: int, local_rank: int) -> PipelineStats:
    return dill.loads(executor)._run_for_rank(rank, local_rank)
