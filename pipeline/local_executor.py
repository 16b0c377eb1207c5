"""datatrove's local executor, except that a worker that dies stops the stage instead of hanging it.

``LocalPipelineExecutor`` runs tasks in a ``multiprocess.Pool``; when a worker process is killed
(the OOM killer, a SIGKILL) the pool starts a new worker but the task it held never returns, and
the rebuild waits forever. ``concurrent.futures`` notices the dead process and raises
``BrokenProcessPool``; this executor runs the same tasks through it and turns that into an error
that says what happened. Completed tasks stay completed, so running the command again resumes.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import dill
from datatrove.executor import LocalPipelineExecutor
from datatrove.utils.stats import PipelineStats

from apertus_compliance.errors import ApertusError


class WorkerDied(ApertusError, RuntimeError):
    """A worker process ended without finishing its task (killed, or crashed in native code)."""


class WatchedLocalExecutor(LocalPipelineExecutor):
    def run(self) -> PipelineStats | None:
        if self.workers == 1:
            return super().run()
        ranks = range(self.local_rank_offset, self.local_rank_offset + self.local_tasks)
        to_run = self.get_incomplete_ranks(ranks)
        if not to_run:
            return None
        self._launched = True
        self.save_executor_as_json()
        executor = dill.dumps(self)  # dill, as datatrove's own pool would: pipelines may hold lambdas
        stats = PipelineStats()
        with ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context(self.start_method)) as pool:
            futures = [
                pool.submit(_run_rank, executor, rank, index % self.workers) for index, rank in enumerate(to_run)
            ]
            try:
                for future in futures:
                    stats += future.result()
            except BrokenProcessPool as error:
                missing = self.get_incomplete_ranks(ranks)
                raise WorkerDied(
                    f"a worker process died (killed, or out of memory?) with {len(missing)} task(s) "
                    f"unfinished; completed tasks are kept in {self.logging_dir.path}: run the same "
                    "command again to resume"
                ) from error
        with self.logging_dir.open("stats.json", "wt") as statsfile:
            stats.save_to_disk(statsfile)
        return stats


def _run_rank(executor: bytes, rank: int, local_rank: int) -> PipelineStats:
    return dill.loads(executor)._run_for_rank(rank, local_rank)
