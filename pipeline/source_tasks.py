"""The filter stages of all sources as one executor run: every worker stays busy until the last task
of the last source.

Run one source after another and each stage ends with workers idle while the last tasks finish;
with several sources of a few tasks each that idle time is a large share of the run. Here the
sources' tasks form one list of ranks (source 1's tasks, then source 2's, ...) that one datatrove
executor (``LocalSourcesExecutor``, ``RaySourcesExecutor``) hands to its workers. Rank ``r`` runs
the task of the source it falls in exactly as that source's own stage would (``SourceStage``):
its pipeline sees the source's own rank and task count (readers split files by them, writers and
``ShardHashes`` name files by them), and its logs, stats and completion marker go to the source's
logging folder (``logs/<source>/filter``). So the bytes written, what a resumed run skips, and what
the lock reads are those of one stage per source; only the order in which tasks start differs.
"""

from __future__ import annotations

import bisect
import json
from copy import deepcopy
from dataclasses import dataclass

from datatrove.executor.base import DistributedEnvVars, PipelineExecutor
from datatrove.utils.stats import PipelineStats

from apertus_compliance.pipeline.local_executor import WatchedLocalExecutor
from apertus_compliance.pipeline.ray_workers import ReusedWorkersExecutor


@dataclass(frozen=True)
class SourceStage:
    """One source's stage: its pipeline, its task count and its logging folder (completions, stats,
    logs); ``weights``: the bytes of input of each of its tasks, when known (local files)."""

    source: str
    pipeline: list
    tasks: int
    logging_dir: str
    weights: tuple[int, ...] = ()


class StageTasks(PipelineExecutor):
    """A source's stage as datatrove runs one of its tasks (``_run_for_rank``): its own logging folder and
    world size. Never ``run`` itself: a ``SourceTasks`` executor runs its tasks."""

    def __init__(self, stage: SourceStage, environment: DistributedEnvVars | None = None) -> None:
        super().__init__(stage.pipeline, stage.logging_dir)
        self.tasks = stage.tasks
        self.environment = environment

    @property
    def world_size(self) -> int:
        return self.tasks

    def get_distributed_env(self, node_rank: int = -1) -> DistributedEnvVars:
        return self.environment

    def run(self) -> None:
        raise NotImplementedError("a SourceTasks executor runs a stage's tasks")


class SourceTasks:
    """Mixin for a datatrove executor whose ranks are the tasks of ``stages``, one source after another.

    Tasks are handed out largest first (tasks of unknown size, hub files, before all others): a
    stage ends when its last task does, and a large task started last would leave every other
    worker idle meanwhile. The order changes when a task runs, never what it writes.

    It answers datatrove's questions per rank from the source's own folder (``is_rank_completed``,
    ``get_incomplete_ranks``) and runs rank ``r`` as the source's local rank (``_run_for_rank``), so
    the executor's scheduling (a process pool, Ray actors) works unchanged. The executor's own
    ``logging_dir`` holds nothing: each source's ``executor.json`` and ``stats.json`` go to its folder.
    """

    def __init__(self, stages: list[SourceStage], **options: object) -> None:
        self.stages = list(stages)
        self.offsets = [0]
        for stage in self.stages:
            self.offsets.append(self.offsets[-1] + stage.tasks)
        super().__init__(pipeline=[], tasks=self.offsets[-1], **options)

    def locate(self, rank: int) -> tuple[SourceStage, int]:
        """The stage that rank ``rank`` belongs to, and the rank within it."""
        if not 0 <= rank < self.offsets[-1]:
            raise IndexError(f"rank {rank} out of {self.offsets[-1]} tasks")
        index = bisect.bisect_right(self.offsets, rank) - 1
        return self.stages[index], rank - self.offsets[index]

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1) -> PipelineStats:
        """The source's task on a fresh copy of its pipeline (as datatrove copies a pipeline per task).
        Returns empty stats: the stats of different pipelines do not add up; each source's are in its
        folder (``stats/<rank>.json``, merged by ``save_stats``)."""
        stage, local = self.locate(rank)
        fresh = SourceStage(stage.source, deepcopy(stage.pipeline), stage.tasks, stage.logging_dir, stage.weights)
        StageTasks(fresh, self.get_distributed_env(node_rank))._run_for_rank(local, local_rank, node_rank)
        return PipelineStats()

    def is_rank_completed(self, rank: int) -> bool:
        stage, local = self.locate(rank)
        return self.skip_completed and StageTasks(stage).is_rank_completed(local)

    def mark_rank_as_completed(self, rank: int) -> None:
        stage, local = self.locate(rank)
        StageTasks(stage).mark_rank_as_completed(local)

    def completed(self) -> set[int]:
        """The ranks whose source-local task has a completion marker."""
        done = set()
        for offset, stage in zip(self.offsets, self.stages, strict=False):
            for name in StageTasks(stage).logging_dir.list_files("completions"):
                local = name.rsplit("/", 1)[-1]
                if local.isdigit() and int(local) < stage.tasks:
                    done.add(offset + int(local))
        return done

    def get_incomplete_ranks(self, ranks=None, skip_completed: bool | None = None) -> list[int]:
        skip_completed = self.skip_completed if skip_completed is None else skip_completed
        ranks = range(self.offsets[-1]) if ranks is None else ranks
        done = self.completed() if skip_completed else set()
        return sorted((rank for rank in ranks if rank not in done), key=self._largest_first)

    def _largest_first(self, rank: int) -> tuple[bool, int, int]:
        stage, local = self.locate(rank)
        if not stage.weights:
            return (False, 0, rank)
        return (True, -stage.weights[local], rank)

    def incomplete(self) -> dict[str, list[int]]:
        """The source-local ranks without a completion marker, per source (sources with none left out)."""
        missing: dict[str, list[int]] = {}
        for rank in self.get_incomplete_ranks(skip_completed=True):
            stage, local = self.locate(rank)
            missing.setdefault(stage.source, []).append(local)
        return missing

    def save_executor_as_json(self, indent: int = 4) -> None:
        """Each source's ``executor.json`` in its own folder, as a stage of its own would write it."""
        for stage in self.stages:
            StageTasks(stage).save_executor_as_json(indent)

    def save_stats(self, stats: PipelineStats | None = None) -> None:
        """Each source whose tasks are all complete: its tasks' stats merged into its ``stats.json``."""
        for stage in self.stages:
            folder = StageTasks(stage).logging_dir
            if any(not folder.isfile(f"completions/{rank:05d}") for rank in range(stage.tasks)):
                continue
            total = PipelineStats()
            for rank in range(stage.tasks):
                with folder.open(f"stats/{rank:05d}.json", "r") as handle:
                    total += PipelineStats.from_json(json.load(handle))
            with folder.open("stats.json", "wt") as handle:
                total.save_to_disk(handle)


class LocalSourcesExecutor(SourceTasks, WatchedLocalExecutor):
    """The sources' tasks on the rebuild's local worker processes (``local_executor``)."""


class RaySourcesExecutor(SourceTasks, ReusedWorkersExecutor):
    """The sources' tasks on the Ray session's long-lived workers (``ray_workers``)."""
