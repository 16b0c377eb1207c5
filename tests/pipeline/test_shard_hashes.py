"""Shard hashes where the bytes are: every task records the shards it wrote, the lock takes them from
there only while they still describe the file, a resumed run keeps them, ``verify`` ignores them; and
the per-process caches that let one worker run many tasks."""

from __future__ import annotations

import json
import os
import shutil

import pyarrow.parquet as pq

from apertus_compliance.pipeline.lock import LOCK_NAME, check_run_files, file_sha256, read_lock
from apertus_compliance.pipeline.rebuild import rebuild
from apertus_compliance.pipeline.recipe import load_recipe
from apertus_compliance.pipeline.shard_hashes import known_shard, recorded_shards
from apertus_compliance.pipeline.slurm import RANKS_PER_JOB, ranks_per_job
from apertus_compliance.pipeline.steps import _snapshot


def web_source(**overrides) -> dict:
    return {
        "id": "web",
        "location": "sources/*.parquet",
        "format": "parquet",
        "target_tokens": 10**9,
        "fields": {"text": "text", "id": "id", "url": "url", "date": "date", "language": "language"},
    } | overrides


def three_part_run(kit, target_tokens: int = 10**9) -> tuple[dict, object]:
    rows = kit.web_rows(600, seed=3)
    for part in range(3):
        kit.write_parquet(f"part-{part}.parquet", rows[part::3])
    recipe = kit.write_recipe([web_source(target_tokens=target_tokens)])
    return kit.run(recipe), recipe


def test_every_shard_of_the_lock_was_hashed_by_the_task_that_wrote_it(kit):
    lock, _ = three_part_run(kit)
    run_dir = kit.root / "run"
    known = recorded_shards(run_dir)
    shards = lock["outputs"] + lock["removed"]
    assert len(lock["outputs"]) == 3 and lock["removed"]
    for shard in shards:
        entry, recorded = known_shard(run_dir / shard["path"], run_dir, known)
        assert recorded, shard["path"]
        assert entry == {key: shard[key] for key in ("path", "sha256", "documents", "tokens")}
        assert shard["sha256"] == file_sha256(run_dir / shard["path"])
    sidecars = sorted(path.name for path in (run_dir / "logs" / "web" / "filter" / "shards").iterdir())
    assert sidecars == ["00000.json", "00001.json", "00002.json"]


def test_a_binding_budget_hashes_its_own_shards(kit):
    lock, _ = three_part_run(kit, target_tokens=3000)
    run_dir = kit.root / "run"
    assert lock["sources"]["web"]["budget"]["binding"]
    budget = json.loads((run_dir / "logs" / "web" / "budget" / "shards" / "00000.json").read_text())
    assert {record["path"] for record in budget} == {"mixture/web/00000.parquet", "removed/budget/web/00000.parquet"}
    known = recorded_shards(run_dir)
    assert all(known_shard(run_dir / shard["path"], run_dir, known)[1] for shard in lock["outputs"] + lock["removed"])


def test_a_shard_rewritten_after_its_task_is_hashed_again(kit):
    three_part_run(kit)
    run_dir = kit.root / "run"
    shard = run_dir / "mixture" / "web" / "00001.parquet"
    known = recorded_shards(run_dir)
    recorded_entry, _ = known_shard(shard, run_dir, known)
    table = pq.read_table(shard)
    pq.write_table(table.slice(0, table.num_rows - 1), shard, compression="zstd")
    entry, recorded = known_shard(shard, run_dir, known)
    assert not recorded
    assert entry["sha256"] == file_sha256(shard) != recorded_entry["sha256"]
    assert entry["documents"] == recorded_entry["documents"] - 1

    copied = run_dir / "mixture" / "web" / "00002.parquet"  # same bytes, another mtime: hashed again, same hash
    recorded_entry, _ = known_shard(copied, run_dir, known)
    os.utime(copied, ns=(copied.stat().st_atime_ns, copied.stat().st_mtime_ns + 1))
    entry, recorded = known_shard(copied, run_dir, known)
    assert not recorded and entry == recorded_entry


def test_a_resumed_run_keeps_the_hashes_of_the_tasks_it_skips(kit):
    first, recipe = three_part_run(kit)
    run_dir = kit.root / "run"
    (run_dir / LOCK_NAME).unlink()  # interrupted after the stages, before the lock
    resumed = rebuild(load_recipe(recipe), run_dir, workers=1, echo=lambda message: None)
    assert resumed["outputs"] == first["outputs"] and resumed["removed"] == first["removed"]
    known = recorded_shards(run_dir)
    assert all(known_shard(run_dir / shard["path"], run_dir, known)[1] for shard in resumed["outputs"])


def test_verify_rehashes_every_shard_whatever_the_sidecars_say(kit):
    """A sidecar that lies (a hash the file does not have, with the file's size and mtime) goes into the
    lock, since the lock trusts a matching record; the shard check of ``verify`` hashes the file and says so."""
    three_part_run(kit)
    run_dir = kit.root / "run"
    sidecar = run_dir / "logs" / "web" / "filter" / "shards" / "00000.json"
    records = json.loads(sidecar.read_text())
    for record in records:
        record["sha256"] = "0" * 64
    sidecar.write_text(json.dumps(records))
    (run_dir / LOCK_NAME).unlink()
    lock = kit.run(kit.root / "recipe.yaml")
    assert {shard["sha256"] for shard in lock["outputs"] if shard["path"].endswith("00000.parquet")} == {"0" * 64}
    problems = check_run_files(read_lock(run_dir), run_dir)
    assert "mixture/web/00000.parquet: sha256 differs from the lock" in problems


def test_a_process_opens_a_snapshot_once_per_folder(bundled_snapshot, tmp_path):
    assert _snapshot(str(bundled_snapshot)) is _snapshot(str(bundled_snapshot))
    copy = tmp_path / "copy"
    shutil.copytree(bundled_snapshot, copy)
    assert _snapshot(str(copy)) is not _snapshot(str(bundled_snapshot))
    assert _snapshot(str(copy)).snapshot_id == _snapshot(str(bundled_snapshot)).snapshot_id


def test_slurm_array_tasks_share_a_sources_tasks():
    assert ranks_per_job(10, 3) == 4  # 3 array tasks: 4 + 4 + 2
    assert ranks_per_job(10, 20) == 1
    assert ranks_per_job(3, None) == 3 and ranks_per_job(100, None) == RANKS_PER_JOB
