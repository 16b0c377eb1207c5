"""Shard hashes computed where the bytes are: each task hashes the shards it wrote.

The lock lists every output shard with its sha256, documents and tokens. Computed on the driver
after the last task, that is one serial read of every byte written (~45 min for 3 TB on one core).
``ShardHashes``, the last step of a stage, does it in each task right after its writers closed,
while the file is still in the page cache, and records it in a sidecar,
``logs/<source>/<stage>/shards/<rank>.json``. ``write_lock`` takes a shard's figures from a sidecar
only when the file's size and modification time (ns) are still the ones recorded; otherwise (a shard
rewritten after its task, a run folder copied without times, a task from before sidecars) it hashes
the file itself. ``verify`` never uses sidecars: it re-hashes everything.

A resumed run keeps the sidecars of the tasks it skips (they live beside their completion markers).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

SIDECARS = "logs/*/*/shards/*.json"
"""Where the sidecars of a run are, relative to the run folder."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def shard_record(path: Path, run_dir: Path) -> dict:
    """A shard as the lock lists it (path relative to the run, sha256, documents, tokens), with the
    size and mtime it had when read, which tell whether the record still describes the file."""
    path = Path(path)
    stat = path.stat()
    table = pq.read_table(path, columns=["tokens"])
    return {
        "path": path.relative_to(run_dir).as_posix(),
        "sha256": file_sha256(path),
        "documents": table.num_rows,
        "tokens": int(pc.sum(table["tokens"]).as_py() or 0),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
    }


class ShardHashes(PipelineStep):
    """The stage's last step: once every writer of the task has closed (the documents have all
    passed), hashes the task's shards (``patterns``, relative to ``run_dir``, ``{rank}`` the task's
    five-digit rank) and writes ``<logging_dir>/shards/<rank>.json``."""

    name = "#️⃣ Shard hashes"
    type = "#️⃣ - HASHES"

    def __init__(self, run_dir: str, logging_dir: str, patterns: list[str]) -> None:
        super().__init__()
        self.run_dir = str(run_dir)
        self.logging_dir = str(logging_dir)
        self.patterns = list(patterns)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data  # the writers before this step close when their input ends, i.e. here
        run_dir = Path(self.run_dir)
        records = [
            shard_record(path, run_dir)
            for pattern in self.patterns
            for path in sorted(run_dir.glob(pattern.format(rank=f"{rank:05d}")))
        ]
        sidecar = Path(self.logging_dir) / "shards" / f"{rank:05d}.json"
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        temporary = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(records, indent=1) + "\n")
        os.replace(temporary, sidecar)
        self.stat_update("shards", value=len(records))


def recorded_shards(run_dir: Path) -> dict[str, list[dict]]:
    """Every sidecar record of the run, by shard path. A staging shard is also listed under the
    mixture path it is renamed to when its source's budget does not bind (a rename keeps the file's
    size and mtime); which record applies is decided by ``known_shard``."""
    known: dict[str, list[dict]] = {}
    for sidecar in sorted(Path(run_dir).glob(SIDECARS)):
        try:
            records = json.loads(sidecar.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # an unreadable sidecar only means hashing those shards here
        for record in records:
            known.setdefault(record["path"], []).append(record)
            if record["path"].startswith("staging/"):
                renamed = "mixture/" + record["path"].removeprefix("staging/")
                known.setdefault(renamed, []).append(record | {"path": renamed})
    return known


LOCK_FIELDS = ("path", "sha256", "documents", "tokens")


def known_shard(path: Path, run_dir: Path, known: dict[str, list[dict]]) -> tuple[dict, bool]:
    """The lock's entry for the shard at ``path``, and whether a task's record supplied it (False:
    hashed here, no record or none with the file's current size and mtime)."""
    relative = Path(path).relative_to(run_dir).as_posix()
    stat = Path(path).stat()
    for record in known.get(relative, []):
        if record.get("size") == stat.st_size and record.get("mtime_ns") == stat.st_mtime_ns:
            return {key: record[key] for key in LOCK_FIELDS}, True
    record = shard_record(path, run_dir)
    return {key: record[key] for key in LOCK_FIELDS}, False
