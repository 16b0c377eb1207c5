"""The filter stages of all sources run as one executor run: same bytes with 1 or 2 workers, one run
for every source's tasks, per-source completion markers that resume, and incomplete tasks named by
source and rank."""

from __future__ import annotations

from pathlib import Path

import pytest

from apertus_compliance.pipeline import local_executor
from apertus_compliance.pipeline.lock import compare_locks, conservation_errors
from apertus_compliance.pipeline.rebuild import IncompleteStage, rebuild
from apertus_compliance.pipeline.recipe import load_recipe
from apertus_compliance.pipeline.source_tasks import LocalSourcesExecutor, SourceStage

FILES = {"a": 1, "b": 2, "c": 3}
"""Three sources with different task counts (one task per file)."""


def three_sources(kit, **extra: dict) -> Path:
    """Sources a, b, c of 1, 2 and 3 files; b's budget binds. ``extra``: more settings per source id."""
    sources = []
    for index, (name, files) in enumerate(FILES.items()):
        rows = kit.web_rows(120 * files, seed=20 + index, prefix=name)
        for part in range(files):
            kit.write_parquet(f"{name}/part-{part}.parquet", rows[part::files])
        sources.append(
            {
                "id": name,
                "location": f"sources/{name}/*.parquet",
                "format": "parquet",
                "target_tokens": 4000 if name == "b" else 10**9,
                "pii": name != "c",
            }
            | extra.get(name, {})
        )
    return kit.write_recipe(sources)


def without_executor(lock: dict) -> dict:
    """The lock less what says how it ran (``executor``: name and workers)."""
    return {key: value for key, value in lock.items() if key != "executor"}


def plant_failure(kit, monkeypatch) -> tuple[dict, Path]:
    """A filter that raises once, importable here and in spawned workers, for source b's second file."""
    entry, marker = kit.planted_filter("raise", "b-00001")
    monkeypatch.syspath_prepend(str(kit.root / "plugins"))
    return {"b": {"filters": [entry]}}, marker


def test_ranks_map_to_each_sources_own_ranks_and_completion_markers(tmp_path):
    stages = [SourceStage(name, [], files, str(tmp_path / name / "filter")) for name, files in FILES.items()]
    executor = LocalSourcesExecutor(stages, workers=2, logging_dir=str(tmp_path))
    assert executor.world_size == 6
    assert [(stage.source, local) for stage, local in map(executor.locate, range(6))] == [
        ("a", 0),
        ("b", 0),
        ("b", 1),
        ("c", 0),
        ("c", 1),
        ("c", 2),
    ]
    with pytest.raises(IndexError):
        executor.locate(6)
    for name, local in (("b", 1), ("c", 0), ("c", 7)):  # c's rank 7: a marker from another task count
        (tmp_path / name / "filter" / "completions").mkdir(parents=True, exist_ok=True)
        (tmp_path / name / "filter" / "completions" / f"{local:05d}").touch()
    assert executor.get_incomplete_ranks() == [0, 1, 4, 5]
    assert executor.get_incomplete_ranks(skip_completed=False) == list(range(6))
    assert executor.is_rank_completed(2) and not executor.is_rank_completed(1)
    assert executor.incomplete() == {"a": [0], "b": [0], "c": [1, 2]}
    executor.mark_rank_as_completed(0)
    assert (tmp_path / "a" / "filter" / "completions" / "00000").is_file()


def test_tasks_start_largest_first_and_those_of_unknown_size_before_all(tmp_path):
    stages = [
        SourceStage("hub", [], 2, str(tmp_path / "hub")),  # ranks 0, 1: sizes unknown
        SourceStage("a", [], 3, str(tmp_path / "a"), (10, 300, 20)),  # ranks 2, 3, 4
        SourceStage("b", [], 2, str(tmp_path / "b"), (200, 5)),  # ranks 5, 6
    ]
    executor = LocalSourcesExecutor(stages, workers=2, logging_dir=str(tmp_path))
    assert executor.get_incomplete_ranks() == [0, 1, 3, 5, 4, 2, 6]
    (tmp_path / "a" / "completions").mkdir(parents=True)
    (tmp_path / "a" / "completions" / "00001").touch()
    assert executor.get_incomplete_ranks() == [0, 1, 5, 4, 2, 6]


@pytest.mark.slow
def test_three_sources_on_one_and_two_workers_give_identical_bytes_in_one_executor_run(kit, hashes, monkeypatch):
    runs, weights = [], []
    original = LocalSourcesExecutor.run

    def counted(executor):
        runs.append([(stage.source, stage.tasks) for stage in executor.stages])
        weights.append([stage.weights for stage in executor.stages])
        return original(executor)

    monkeypatch.setattr(LocalSourcesExecutor, "run", counted)
    pools = []

    class CountedPool(local_executor.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(local_executor, "ProcessPoolExecutor", CountedPool)
    recipe = three_sources(kit)
    one, two = kit.run(recipe, "one", workers=1), kit.run(recipe, "two", workers=2)

    filtering, budget = [("a", 1), ("b", 2), ("c", 3)], [("b", 2)]  # b's budget binds: its stage runs after
    assert runs == [filtering, budget] * 2  # one executor run for every source's filter tasks, per rebuild
    inputs = {name: sorted(path.stat().st_size for path in (kit.root / "sources" / name).iterdir()) for name in FILES}
    assert [sorted(task_bytes) for task_bytes in weights[0]] == list(inputs.values())  # one file per task
    assert weights[1] == [()]  # the budget stage's tasks read staging shards: no sizes, source order
    assert len(pools) == 1  # w=2: one pool for the filter stage and b's budget stage after it
    assert hashes(kit.root / "one") == hashes(kit.root / "two") and len(hashes(kit.root / "one")) > 10
    assert without_executor(one) == without_executor(two) and conservation_errors(two) == []
    assert one["sources"]["b"]["budget"]["binding"] and not one["sources"]["a"]["budget"]["binding"]
    assert {name: entry["tasks"] for name, entry in two["sources"].items()} == FILES
    for name, files in FILES.items():  # each source's folder as a stage of its own leaves it
        folder = kit.root / "two" / "logs" / name / "filter"
        for kind in ("completions", "stats", "shards"):
            assert len(list((folder / kind).iterdir())) == files, (name, kind)
        assert (folder / "stats.json").is_file() and (folder / "executor.json").is_file()
        assert two["sources"][name]["documents"]["read"] == 120 * files  # the lock reads each source's stats
    assert not (kit.root / "two" / "logs" / "stats.json").exists()


@pytest.mark.slow
def test_a_failed_task_of_one_source_stops_the_run_and_the_rerun_resumes_it(kit, hashes, monkeypatch):
    failing, marker = plant_failure(kit, monkeypatch)
    recipe = three_sources(kit, **failing)
    with pytest.raises(RuntimeError, match="planted failure at b-00001"):
        kit.run(recipe, "run", workers=2)
    assert marker.exists() and not (kit.root / "run" / "rebuild.lock.json").exists()
    logs = kit.root / "run" / "logs"
    assert not (logs / "b" / "filter" / "completions" / "00001").exists()
    done = {path: path.stat().st_mtime_ns for path in sorted(logs.glob("*/filter/completions/*"))}

    lock = kit.run(recipe, "run", workers=2)
    assert all(path.stat().st_mtime_ns == mtime for path, mtime in done.items())  # not run again
    assert (logs / "b" / "filter" / "completions" / "00001").is_file()
    whole = kit.run(recipe, "whole", workers=1)
    assert hashes(kit.root / "run") == hashes(kit.root / "whole")
    assert without_executor(lock) == without_executor(whole) and conservation_errors(lock) == []


@pytest.mark.slow
@pytest.mark.ray
def test_on_ray_an_incomplete_task_is_named_by_source_and_rank_and_the_rerun_resumes(
    kit, hashes, monkeypatch, start_ray
):
    """Ray gives up on a task whose pipeline raised (it would fail again): the stage stops with
    ``IncompleteStage`` naming the source and its rank; the rerun runs only that task."""
    failing, marker = plant_failure(kit, monkeypatch)
    recipe = three_sources(kit, **failing)
    ray = start_ray(kit.root / "plugins")
    try:
        with pytest.raises(IncompleteStage, match=r"filtering: 1 of 6 task\(s\) did not complete \(b rank 1, logs in "):
            rebuild(load_recipe(recipe), kit.root / "ray", workers=2, executor="ray", echo=lambda message: None)
        assert marker.exists() and not (kit.root / "ray" / "rebuild.lock.json").exists()
        lock = rebuild(load_recipe(recipe), kit.root / "ray", workers=2, executor="ray", echo=lambda message: None)
    finally:
        ray.shutdown()
    local = kit.run(recipe, "local", workers=1)
    assert hashes(kit.root / "ray") == hashes(kit.root / "local")
    assert compare_locks(local, lock) == [] and conservation_errors(lock) == []
