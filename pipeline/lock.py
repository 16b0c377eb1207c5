"""``rebuild.lock.json``: what a run read, with what, and what it wrote; and ``verify``.

The lock is computed from the files on disk, not from what the steps believe they did: counts
of kept and removed documents are rows in the shards, ``read`` is what the reader yielded. So a
document lost anywhere shows up as a conservation error.

A lock is self-contained: it carries the recipe's text (and its sha256), the hash of every input
and of everything else the recipe points to (``references``: registry or snapshot, deletion
list, tokenizer, provider file), and paths inside the run relative to it. ``verify`` needs no
recipe file and works on a copied run folder; inputs are looked up where the lock says (a
bundled recipe's, in the installed package). A run with documents is complete only once the
document step recorded them (``documents.complete``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from apertus_compliance.errors import ApertusError
from apertus_compliance.paths import bundled_data
from apertus_compliance.pipeline.recipe import LoadedRecipe, RecipeError, bundled_recipe, load_recipe, recipe_from_text
from apertus_compliance.pipeline.shard_hashes import file_sha256, known_shard, recorded_shards
from apertus_compliance.progress import QUIET, Progress

LOCK_NAME = "rebuild.lock.json"
LOCK_FORMAT = "apertus-compliance/rebuild-lock"
LOCK_FORMAT_VERSION = 2
"""2: the recipe's text, ``references`` and ``documents``. Version 1 locks are still read."""
READABLE_VERSIONS = (1, 2)
BUNDLED = "bundled:"
"""Prefix of a path inside the installed package's data (``bundled:sample/signals``): found again
wherever the package is installed."""
KEY_LIBRARIES = ("apertus-compliance", "datatrove", "pyarrow", "duckdb", "tokenizers")


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in KEY_LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _shards(paths: list[Path], run_dir: Path, known: dict[str, list[dict]]) -> list[dict]:
    """The lock entries of ``paths``: from the tasks' sidecars where they still describe the file,
    else hashed here (see ``shard_hashes``)."""
    return [known_shard(path, run_dir, known)[0] for path in paths]


def _stat_total(logs: Path, name: str) -> int:
    """A step counter (``read``, ``redacted``) summed over every task's stats, earlier attempts included."""
    total = 0
    for stats_file in sorted((logs / "stats").glob("*.json")):
        for step in json.loads(stats_file.read_text()):
            counter = step.get("stats", {}).get(name)
            if counter is not None:
                total += counter["total"] if isinstance(counter, dict) else counter
    return total


def tree_sha256(folder: Path) -> str:
    """A folder's sha256: over its files' relative paths and sha256, in sorted order. The files are
    hashed on as many threads as there are cores (hashlib lets go of the GIL): an opt-out snapshot
    of 10M hosts is some 40 files and 4.7 GB."""
    paths = sorted(item for item in Path(folder).rglob("*") if item.is_file())
    with ThreadPoolExecutor(max(1, min(len(paths), os.cpu_count() or 1))) as pool:
        hashes = list(pool.map(file_sha256, paths))
    digest = hashlib.sha256()
    for path, file_hash in zip(paths, hashes, strict=True):
        digest.update(f"{path.relative_to(folder).as_posix()}\0{file_hash}\n".encode())
    return digest.hexdigest()


def portable_path(path: Path) -> str:
    """How the lock names a file or folder: ``bundled:...`` inside the package's data, else absolute."""
    path, data = Path(path).resolve(), bundled_data().resolve()
    if path == data or data in path.parents:
        return BUNDLED + path.relative_to(data).as_posix()
    return str(path)


def resolve_reference(text: str) -> Path:
    """The file or folder a lock's ``portable_path`` names, on this machine."""
    return bundled_data() / text[len(BUNDLED) :] if text.startswith(BUNDLED) else Path(text)


def _reference(path: Path) -> dict:
    path = Path(path)
    return {"path": portable_path(path), "sha256": tree_sha256(path) if path.is_dir() else file_sha256(path)}


def recipe_references(loaded: LoadedRecipe) -> dict[str, dict]:
    """Everything the recipe points to besides its sources, by hash, keyed by the recipe field:
    the opt-out snapshot or registry (the bundled signals for ``bundled-sample``), the deletion
    list and its public key, a tokenizer file."""
    recipe, references = loaded.recipe, {}
    if recipe.optout is not None:
        if recipe.optout.snapshot is not None:
            references["optout.snapshot"] = _reference(loaded.resolve(recipe.optout.snapshot))
        elif recipe.optout.registry == "bundled-sample":
            references["optout.registry"] = _reference(bundled_data() / "sample" / "signals")
        else:
            references["optout.registry"] = _reference(loaded.resolve(recipe.optout.registry))
    if recipe.deletion_list is not None:
        references["deletion_list.release"] = _reference(loaded.resolve(recipe.deletion_list.release))
        references["deletion_list.public_key"] = _reference(loaded.resolve(recipe.deletion_list.public_key))
    if recipe.tokenizer is not None and (loaded.folder / recipe.tokenizer).is_file():
        references["tokenizer"] = _reference(loaded.folder / recipe.tokenizer)
    return references


def agent_list_name(listed: dict) -> str:
    """The name ``--agents`` and recipes take (``apertus-2025-01``) for a snapshot manifest's agent
    list: a bundled list is recognized by its sha256; a list of one's own keeps its own name."""
    from apertus_compliance.optout import bundled_agent_lists, load_agent_list

    for name in bundled_agent_lists():
        if load_agent_list(name).sha256 == listed.get("sha256"):
            return name
    return listed["name"]


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON to ``path`` through a temporary sibling and a rename: readers see the old file or
    the new one, never half of one."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_lock(
    loaded: LoadedRecipe,
    plans: list,
    snapshot: object | None,
    decisions: dict,
    run_dir: Path,
    workers: int,
    deletion_list: dict | None = None,
    executor: str = "local",
    provider_file: Path | None = None,
) -> dict:
    """``deletion_list`` is the verified manifest of the recipe's deletion list, if it has one.
    ``provider_file``: documents will be written for this run, so it stays incomplete until
    ``record_documents`` says they were."""
    from apertus_compliance.pipeline.tokenizer import tokenizer_description

    recipe = loaded.recipe
    outputs, removed, sources = [], [], {}
    known = recorded_shards(run_dir)
    for plan in plans:
        source = plan.source
        kept_shards = _shards(sorted((run_dir / "mixture" / source.id).glob("*.parquet")), run_dir, known)
        removed_paths = sorted((run_dir / "removed").glob(f"*/{source.id}/*.parquet"))
        removed_shards = [
            entry | {"reason": path.parent.parent.name}
            for entry, path in zip(_shards(removed_paths, run_dir, known), removed_paths, strict=True)
        ]
        removed_docs, removed_tokens = Counter(), Counter()
        for shard in removed_shards:
            removed_docs[shard["reason"]] += shard["documents"]
            removed_tokens[shard["reason"]] += shard["tokens"]
        inputs = plan.inputs or [
            {
                "path": Path(os.path.relpath(Path(plan.data_folder, name), loaded.folder)).as_posix(),
                "size": Path(plan.data_folder, name).stat().st_size,
                "sha256": file_sha256(Path(plan.data_folder, name)),
            }
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
            "steps": {
                "optout": source.optout,
                "pii": source.pii,
                "public_ip_only": source.public_ip_only,
                "filters": [extra.id for extra in source.filters],
            },
            "tasks": plan.tasks,
            "inputs": inputs,
            "documents": {
                "read": _stat_total(run_dir / "logs" / source.id / "filter", "read"),
                "kept": sum(shard["documents"] for shard in kept_shards),
                "removed": dict(sorted(removed_docs.items())),
            },
            "tokens": {
                "target": source.target_tokens,
                "kept": sum(shard["tokens"] for shard in kept_shards),
                "kept_with_repetition": source.epochs * sum(shard["tokens"] for shard in kept_shards),
                "removed": dict(sorted(removed_tokens.items())),
            },
            "epochs": source.epochs,
            "budget": decisions[source.id],
        }
        if recipe.deletion_list is not None and source.deletion_list:
            sources[source.id]["deletion_list_redactions"] = _stat_total(
                run_dir / "logs" / source.id / "filter", "redacted"
            )
        if source.format == "warc":  # the HTML extractor decides the text, so its version is part of the run
            from apertus_compliance.pipeline.web import extractor_description

            sources[source.id]["extractor"] = extractor_description()
        outputs += kept_shards
        removed += removed_shards
    lock = {
        "format": LOCK_FORMAT,
        "format_version": LOCK_FORMAT_VERSION,
        "recipe": {
            "name": recipe.name,
            "path": str(loaded.path),
            "bundled": loaded.bundled,
            "sha256": loaded.sha256,
            "seed": recipe.seed,
            "text": loaded.text,
        },
        "references": recipe_references(loaded),
        "tokenizer": tokenizer_description(recipe.tokenizer, loaded.folder),
        "optout": None
        if snapshot is None
        else {
            "snapshot_id": snapshot.snapshot_id,
            "as_of": snapshot.as_of,
            "agent_list": agent_list_name(snapshot.manifest["agent_list"]),
            "granularity": snapshot.manifest["granularity"],
            "strict": snapshot.manifest["strict"],
        },
        "deletion_list": None
        if deletion_list is None
        else {key: deletion_list[key] for key in ("list_version", "created", "payload_sha256", "signing_key_id")},
        "executor": {"name": executor, "workers": workers},
        "versions": _versions(),
        "sources": sources,
        "totals": {
            "documents_kept": sum(entry["documents"]["kept"] for entry in sources.values()),
            "tokens_kept": sum(entry["tokens"]["kept"] for entry in sources.values()),
            "tokens_kept_with_repetition": sum(entry["tokens"]["kept_with_repetition"] for entry in sources.values()),
        },
        "outputs": outputs,
        "removed": removed,
        "documents": None
        if provider_file is None
        else {"provider": _reference(provider_file), "complete": False, "files": []},
    }
    write_json_atomic(run_dir / LOCK_NAME, lock)
    return lock


def record_documents(run_dir: Path, files: list[Path]) -> dict:
    """The document step's last act: list the documents written (with their sha256) in the lock
    and mark the run complete. Until then the lock says ``documents.complete: false``."""
    run_dir = Path(run_dir).resolve()
    lock = read_lock(run_dir)
    if lock.get("documents") is None:
        raise LockError(f"{run_dir / LOCK_NAME}: the rebuild did not announce documents (no provider file)")
    lock["documents"]["files"] = sorted(
        ({"path": os.path.relpath(Path(path).resolve(), run_dir), "sha256": file_sha256(Path(path))} for path in files),
        key=lambda item: item["path"],
    )
    lock["documents"]["complete"] = True
    write_json_atomic(run_dir / LOCK_NAME, lock)
    return lock


def documents_problems(lock: dict, run_dir: Path) -> list[str]:
    """An interrupted document step, or documents missing or changed since it recorded them."""
    documents = lock.get("documents")
    if documents is None:
        return []
    if not documents.get("complete"):
        return [
            "documents: incomplete (the document step did not finish); run the same rebuild command "
            "again to complete them"
        ]
    problems = []
    for item in documents["files"]:
        path = Path(run_dir) / item["path"]
        if not path.is_file():
            problems.append(f"{item['path']}: missing (a document of the run)")
        elif file_sha256(path) != item["sha256"]:
            problems.append(f"{item['path']}: sha256 differs from the lock (a document rewritten after the run)")
    return problems


def run_complete(lock: dict) -> bool:
    """A run is complete when its lock exists and, if it has documents, the document step finished."""
    return lock.get("documents") is None or bool(lock["documents"].get("complete"))


def conservation_errors(lock: dict) -> list[str]:
    """Per source, read must equal kept plus every removed reason, and no input is listed twice (a file
    read twice would double its documents and still add up); one message per problem."""
    problems = []
    for source_id, entry in lock["sources"].items():
        paths = Counter(item["path"] for item in entry.get("inputs", []))
        problems += [f"{source_id}: input {path} listed {count} times" for path, count in paths.items() if count > 1]
        counts = entry["documents"]
        accounted = counts["kept"] + sum(counts["removed"].values())
        if counts["read"] != accounted:
            problems.append(
                f"{source_id}: read {counts['read']}, kept {counts['kept']} + removed "
                f"{sum(counts['removed'].values())} = {accounted}"
            )
    return problems


class LockError(ApertusError, ValueError):
    """A run folder without a readable lock of this format; the message names the file."""


def read_lock(run_dir: Path) -> dict:
    """The run's lock as JSON data, for the checks that compare it key by key; read through the
    typed lock, so a malformed one is refused naming the file and every wrong field."""
    from apertus_compliance.pipeline.lock_schema import RunLock

    return RunLock.read(run_dir).to_dict()


def check_run_files(lock: dict, run_dir: Path, progress: Progress = QUIET) -> list[str]:
    """Differences between the shards on disk and the lock: changed, missing or extra files."""
    run_dir = Path(run_dir)
    problems = []
    listed = {shard["path"]: shard for shard in lock["outputs"] + lock["removed"]}
    for number, (relative, shard) in enumerate(sorted(listed.items()), start=1):
        progress.update(f"verify: shards {number}/{len(listed)}")
        path = run_dir / relative
        if not path.is_file():
            problems.append(f"{relative}: missing")
        elif file_sha256(path) != shard["sha256"]:
            problems.append(f"{relative}: sha256 differs from the lock")
    on_disk = {
        path.relative_to(run_dir).as_posix()
        for folder in ("mixture", "removed")
        for path in (run_dir / folder).glob("**/*.parquet")
    }
    problems += [f"{relative}: not in the lock" for relative in sorted(on_disk - set(listed))]
    problems += [f"conservation: {problem}" for problem in conservation_errors(lock)]
    return problems


def locked_recipe(lock: dict) -> LoadedRecipe:
    """The recipe a lock ran, from the lock alone: its text, checked against its sha256, read as if
    from where it was (a bundled recipe: from the installed package, by name). A version 1 lock
    carries no text: its recipe file must still be where the lock says, unchanged."""
    entry = lock["recipe"]
    if "text" not in entry:  # a version 1 lock
        recipe_path = Path(entry["path"])
        if not recipe_path.is_file():
            raise LockError(f"recipe: missing, expected at {recipe_path} (a version 1 lock does not carry it)")
        loaded = load_recipe(recipe_path)
        if loaded.sha256 != entry["sha256"]:
            raise LockError(f"recipe {recipe_path}: sha256 differs from the lock (the recipe changed)")
        return loaded
    path = Path(entry["path"])
    if entry.get("bundled"):
        try:
            path = bundled_recipe(entry["bundled"])
        except RecipeError as error:
            raise LockError(f"recipe: {error} (this installation does not ship the locked recipe)") from error
    loaded = recipe_from_text(entry["text"], path, entry.get("bundled"))
    if loaded.sha256 != entry["sha256"]:
        raise LockError("recipe: the text in the lock does not match its sha256 (the lock was edited)")
    return loaded


def input_problems(lock: dict, loaded: LoadedRecipe, progress: Progress = QUIET) -> list[str]:
    """Every input and reference of the lock that is missing (saying where it was expected) or changed."""
    problems = []
    items = [(source_id, item) for source_id, entry in sorted(lock["sources"].items()) for item in entry["inputs"]]
    for number, (source_id, item) in enumerate(items, start=1):
        progress.update(f"verify: inputs {number}/{len(items)}")
        if "sha256" not in item:
            continue  # a hub file, pinned by its revision
        path = loaded.folder / item["path"]
        if not path.is_file():
            problems.append(f"input {item['path']} (source {source_id}): missing, expected at {path.resolve()}")
        elif file_sha256(path) != item["sha256"]:
            problems.append(f"input {item['path']} (source {source_id}): sha256 differs from the lock")
    for key, reference in sorted(lock.get("references", {}).items()):
        progress.update(f"verify: {key}")
        path = resolve_reference(reference["path"])
        if not path.exists():
            problems.append(f"{key}: missing, expected at {path}")
        elif (tree_sha256(path) if path.is_dir() else file_sha256(path)) != reference["sha256"]:
            problems.append(f"{key} {path}: sha256 differs from the lock")
    return problems


def verify_run(
    run_dir: str | Path, echo: Callable[[str], None] = print, workers: int | None = None, progress: Progress = QUIET
) -> list[str]:
    """Re-run the locked recipe into a temporary directory and list every difference.

    Checks, in order: the shards on disk against the lock, the documents (an interrupted document
    step is reported), the recipe the lock carries and every input and reference against their
    hashes, then the fresh run's snapshot, counts and shards against the lock. Needs no recipe
    file, and works on a run folder copied anywhere.
    """
    from apertus_compliance.pipeline.rebuild import rebuild

    run_dir = Path(run_dir).resolve()
    lock = read_lock(run_dir)
    problems = check_run_files(lock, run_dir, progress)
    documents = documents_problems(lock, run_dir)
    try:
        loaded = locked_recipe(lock)
    except (LockError, RecipeError) as error:
        return problems + documents + [str(error)]
    problems += input_problems(lock, loaded, progress)
    if problems:
        return problems + documents
    problems = documents
    with tempfile.TemporaryDirectory(prefix="apertus-verify-") as scratch:
        echo(f"verify: re-running {loaded.recipe.name} into {scratch}")
        fresh = rebuild(
            loaded,
            Path(scratch) / "run",
            workers=workers or lock["executor"]["workers"],
            echo=lambda message: echo(f"  {message}"),
            progress=progress,
            stage_prefix="verify: re-run",
        )
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
                problems.append(
                    f"source {source_id}: {key} {json.dumps(old[key], sort_keys=True)} "
                    f"in the lock, {json.dumps(new[key], sort_keys=True)} re-run"
                )
    for kind in ("outputs", "removed"):
        old = {shard["path"]: shard["sha256"] for shard in expected[kind]}
        new = {shard["path"]: shard["sha256"] for shard in actual[kind]}
        for path in sorted(set(old) | set(new)):
            if old.get(path) != new.get(path):
                state = (
                    "missing in the re-run"
                    if path not in new
                    else "not in the lock"
                    if path not in old
                    else "sha256 differs"
                )
                problems.append(f"{path}: {state}")
    return problems
