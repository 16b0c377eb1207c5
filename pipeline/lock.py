"""``rebuild.lock.json``: what a run read, with what, and what it wrote; and ``verify``.

The lock is computed from the files on disk, not from what the steps believe they did: counts
of kept and removed documents are rows in the shards, ``read`` is what the reader yielded. So a
document lost anywhere shows up as a conservation error.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from collections import Counter
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from apertus_compliance.pipeline.recipe import LoadedRecipe, load_recipe

LOCK_NAME = "rebuild.lock.json"
LOCK_FORMAT = "apertus-compliance/rebuild-lock"
LOCK_FORMAT_VERSION = 1
KEY_LIBRARIES = ("apertus-compliance", "datatrove", "pyarrow", "duckdb", "tokenizers")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in KEY_LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _shard(path: Path, run_dir: Path) -> dict:
    table = pq.read_table(path, columns=["tokens"])
    return {"path": path.relative_to(run_dir).as_posix(), "sha256": file_sha256(path),
            "documents": table.num_rows, "tokens": int(pc.sum(table["tokens"]).as_py() or 0)}


def _stat_total(logs: Path, name: str) -> int:
    """A step counter (``read``, ``redacted``) summed over every task's stats, earlier attempts included."""
    total = 0
    for stats_file in sorted((logs / "stats").glob("*.json")):
        for step in json.loads(stats_file.read_text()):
            counter = step.get("stats", {}).get(name)
            if counter is not None:
                total += counter["total"] if isinstance(counter, dict) else counter
    return total


def write_lock(loaded: LoadedRecipe, plans: list, snapshot: object | None, decisions: dict,
               run_dir: Path, workers: int, deletion_list: dict | None = None, executor: str = "local") -> dict:
    """``deletion_list`` is the verified manifest of the recipe's deletion list, if it has one."""
    from apertus_compliance.pipeline.steps import tokenizer_description

    recipe = loaded.recipe
    outputs, removed, sources = [], [], {}
    for plan in plans:
        source = plan.source
        kept_shards = [_shard(path, run_dir) for path in sorted((run_dir / "mixture" / source.id).glob("*.parquet"))]
        removed_shards = []
        for path in sorted((run_dir / "removed").glob(f"*/{source.id}/*.parquet")):
            removed_shards.append(_shard(path, run_dir) | {"reason": path.parent.parent.name})
        removed_docs, removed_tokens = Counter(), Counter()
        for shard in removed_shards:
            removed_docs[shard["reason"]] += shard["documents"]
            removed_tokens[shard["reason"]] += shard["tokens"]
        inputs = plan.inputs or [
            {"path": Path(os.path.relpath(Path(plan.data_folder, name), loaded.folder)).as_posix(),
             "size": Path(plan.data_folder, name).stat().st_size, "sha256": file_sha256(Path(plan.data_folder, name))}
            for name in plan.files
        ]
        sources[source.id] = {
            "location": source.location,
            "content_type": source.content_type,
            "dataset": source.dataset or (source.hub or {}).get("repo"),
            "revision": (source.hub or {}).get("revision"),
            "homepage": source.homepage,
            "license": source.license,
            "crawled_by_provider": source.crawled_by_provider,
            "format": source.format,
            "steps": {"optout": source.optout, "pii": source.pii, "public_ip_only": source.public_ip_only,
                      "filters": [extra.id for extra in source.filters]},
            "tasks": plan.tasks,
            "inputs": inputs,
            "documents": {"read": _stat_total(run_dir / "logs" / source.id / "filter", "read"),
                          "kept": sum(shard["documents"] for shard in kept_shards),
                          "removed": dict(sorted(removed_docs.items()))},
            "tokens": {"target": source.target_tokens, "kept": sum(shard["tokens"] for shard in kept_shards),
                       "removed": dict(sorted(removed_tokens.items()))},
            "budget": decisions[source.id],
        }
        if recipe.deletion_list is not None and source.deletion_list:
            sources[source.id]["deletion_list_redactions"] = _stat_total(run_dir / "logs" / source.id / "filter",
                                                                         "redacted")
        outputs += kept_shards
        removed += removed_shards
    lock = {
        "format": LOCK_FORMAT,
        "format_version": LOCK_FORMAT_VERSION,
        "recipe": {"name": recipe.name, "path": str(loaded.path), "sha256": loaded.sha256, "seed": recipe.seed},
        "tokenizer": tokenizer_description(recipe.tokenizer, loaded.folder),
        "optout": None if snapshot is None else {
            "snapshot_id": snapshot.snapshot_id, "as_of": snapshot.as_of,
            "agent_list": snapshot.manifest["agent_list"]["name"], "granularity": snapshot.manifest["granularity"],
            "strict": snapshot.manifest["strict"],
        },
        "deletion_list": None if deletion_list is None else {
            key: deletion_list[key] for key in ("list_version", "created", "payload_sha256", "signing_key_id")},
        "executor": {"name": executor, "workers": workers},
        "versions": _versions(),
        "sources": sources,
        "outputs": outputs,
        "removed": removed,
    }
    (run_dir / LOCK_NAME).write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
    return lock


def conservation_errors(lock: dict) -> list[str]:
    """Per source, read must equal kept plus every removed reason; one message per source that fails."""
    problems = []
    for source_id, entry in lock["sources"].items():
        counts = entry["documents"]
        accounted = counts["kept"] + sum(counts["removed"].values())
        if counts["read"] != accounted:
            problems.append(f"{source_id}: read {counts['read']}, kept {counts['kept']} + removed "
                            f"{sum(counts['removed'].values())} = {accounted}")
    return problems


def read_lock(run_dir: Path) -> dict:
    path = Path(run_dir) / LOCK_NAME
    if not path.is_file():
        raise ValueError(f"{run_dir}: no {LOCK_NAME} (not a finished rebuild)")
    try:
        lock = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    if (lock.get("format"), lock.get("format_version")) != (LOCK_FORMAT, LOCK_FORMAT_VERSION):
        raise ValueError(f"{path}: format {lock.get('format')!r} v{lock.get('format_version')}, "
                         f"expected {LOCK_FORMAT} v{LOCK_FORMAT_VERSION}")
    return lock


def check_run_files(lock: dict, run_dir: Path) -> list[str]:
    """Differences between the shards on disk and the lock: changed, missing or extra files."""
    run_dir = Path(run_dir)
    problems = []
    listed = {shard["path"]: shard for shard in lock["outputs"] + lock["removed"]}
    for relative, shard in sorted(listed.items()):
        path = run_dir / relative
        if not path.is_file():
            problems.append(f"{relative}: missing")
        elif file_sha256(path) != shard["sha256"]:
            problems.append(f"{relative}: sha256 differs from the lock")
    on_disk = {path.relative_to(run_dir).as_posix()
               for folder in ("mixture", "removed") for path in (run_dir / folder).glob("**/*.parquet")}
    problems += [f"{relative}: not in the lock" for relative in sorted(on_disk - set(listed))]
    problems += [f"conservation: {problem}" for problem in conservation_errors(lock)]
    return problems


def verify_run(run_dir: str | Path, echo: Callable[[str], None] = print, workers: int | None = None) -> list[str]:
    """Re-run the locked recipe into a temporary directory and list every difference.

    Checks, in order: the shards on disk against the lock, the recipe and each input against
    their hashes, then the fresh run's snapshot, counts and shards against the lock.
    """
    from apertus_compliance.pipeline.rebuild import rebuild

    run_dir = Path(run_dir).resolve()
    lock = read_lock(run_dir)
    problems = check_run_files(lock, run_dir)
    recipe_path = Path(lock["recipe"]["path"])
    if not recipe_path.is_file():
        return problems + [f"recipe {recipe_path}: missing, cannot re-run"]
    loaded = load_recipe(recipe_path)
    if loaded.sha256 != lock["recipe"]["sha256"]:
        return problems + [f"recipe {recipe_path}: sha256 differs from the lock (the recipe changed)"]
    for source_id, entry in sorted(lock["sources"].items()):
        for item in entry["inputs"]:
            if "sha256" not in item:
                continue  # a hub file, pinned by its revision
            path = loaded.folder / item["path"]
            if not path.is_file():
                problems.append(f"input {item['path']} ({source_id}): missing")
            elif file_sha256(path) != item["sha256"]:
                problems.append(f"input {item['path']} ({source_id}): sha256 differs from the lock")
    if problems:
        return problems
    with tempfile.TemporaryDirectory(prefix="apertus-verify-") as scratch:
        echo(f"verify: re-running {loaded.recipe.name} into {scratch}")
        fresh = rebuild(loaded, Path(scratch) / "run", workers=workers or lock["executor"]["workers"],
                        echo=lambda message: echo(f"  {message}"))
    return problems + compare_locks(lock, fresh)


def compare_locks(expected: dict, actual: dict) -> list[str]:
    """What differs between two locks in what the run produced (not in where or with what it ran)."""
    problems = []
    if (expected["optout"] or {}).get("snapshot_id") != (actual["optout"] or {}).get("snapshot_id"):
        problems.append("opt-out snapshot id differs")
    for source_id in sorted(set(expected["sources"]) | set(actual["sources"])):
        old, new = expected["sources"].get(source_id), actual["sources"].get(source_id)
        if old is None or new is None:
            problems.append(f"source {source_id}: only in the {'re-run' if old is None else 'lock'}")
            continue
        for key in ("documents", "tokens"):
            if old[key] != new[key]:
                problems.append(f"source {source_id}: {key} {json.dumps(old[key], sort_keys=True)} "
                                f"in the lock, {json.dumps(new[key], sort_keys=True)} re-run")
    for kind in ("outputs", "removed"):
        old = {shard["path"]: shard["sha256"] for shard in expected[kind]}
        new = {shard["path"]: shard["sha256"] for shard in actual[kind]}
        for path in sorted(set(old) | set(new)):
            if old.get(path) != new.get(path):
                state = "missing in the re-run" if path not in new else "not in the lock" if path not in old else "sha256 differs"
                problems.append(f"{path}: {state}")
    return problems
