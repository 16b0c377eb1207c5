"""The typed lock: it reads the locks ``pipeline.lock`` writes (version 1 and 2), keeps fields
added by newer rebuilds, and names the file and field of every problem."""

import copy
import json

import pytest

from apertus_compliance.pipeline import LockError, RunLock
from apertus_compliance.pipeline.lock import LOCK_NAME, check_run_files, conservation_errors


@pytest.fixture(scope="session")
def raw_lock(sample_dir) -> dict:
    return json.loads((sample_dir / LOCK_NAME).read_text())


def test_reads_the_lock_a_rebuild_writes_and_gives_it_back_unchanged(sample_dir, raw_lock):
    lock = RunLock.read(sample_dir)
    assert lock.recipe.name == "apertus-sample" and lock.recipe.bundled == "sample"
    assert lock.optout is not None and lock.optout.as_of == "2025-01-31"
    assert set(lock.sources) == set(raw_lock["sources"])
    for source_id, entry in lock.sources.items():
        raw = raw_lock["sources"][source_id]
        assert entry.documents.read == raw["documents"]["read"]
        assert entry.documents.removed == raw["documents"]["removed"]
        assert entry.tokens.kept == raw["tokens"]["kept"] and entry.steps.pii == raw["steps"]["pii"]
    assert [shard.path for shard in lock.outputs] == [shard["path"] for shard in raw_lock["outputs"]]
    assert {shard.reason for shard in lock.removed} >= {"robots", "budget", "invalid"}
    assert lock.to_dict() == raw_lock  # the dict-based checks of pipeline.lock read it as before
    assert check_run_files(lock.to_dict(), sample_dir) == [] and conservation_errors(lock.to_dict()) == []


def test_shard_source_ids(sample_dir):
    lock = RunLock.read(sample_dir)
    assert {shard.source_id for shard in lock.outputs} <= set(lock.sources)
    assert all(shard.path.split("/")[2] == shard.source_id for shard in lock.removed)


def test_fields_of_newer_rebuilds_are_kept_and_new_optional_fields_read(raw_lock):
    newer = copy.deepcopy(raw_lock)
    newer["tokenizer"] |= {"name": "apertus", "kind": "builtin", "sha256": "ab" * 32, "version": "v1"}
    newer["sources"]["starcoder"] |= {"epochs": 2, "extractor": {"name": "trafilatura", "version": "2.0"}}
    newer["sources"]["starcoder"]["tokens"] |= {"kept_with_repetition": 246, "unforeseen": 123}
    newer["sources"]["dclm-edu"]["documents"]["removed"]["content-type"] = 3
    newer["telemetry"] = {"anything": True}
    lock = RunLock.from_dict(newer)
    assert lock.tokenizer.version == "v1" and lock.tokenizer.sha256 == "ab" * 32
    starcoder = lock.sources["starcoder"]
    assert starcoder.epochs == 2 and starcoder.tokens.kept_with_repetition == 246
    assert starcoder.extractor.name == "trafilatura" and starcoder.extractor.version == "2.0"
    assert starcoder.tokens.model_extra["unforeseen"] == 123 and lock.model_extra["telemetry"] == {"anything": True}
    assert lock.sources["dclm-edu"].documents.removed["content-type"] == 3
    assert lock.to_dict() == newer


def test_a_version_1_lock_reads(raw_lock):
    old = copy.deepcopy(raw_lock)
    old["format_version"] = 1
    for key in ("references", "documents"):
        old.pop(key)
    old["recipe"].pop("text")
    for entry in old["sources"].values():  # written before repetition existed
        entry.pop("epochs", None)
        entry["tokens"].pop("kept_with_repetition", None)
    lock = RunLock.from_dict(old)
    assert lock.recipe.text is None and lock.references == {} and lock.documents is None
    assert all(entry.epochs == 1 and entry.tokens.kept_with_repetition is None for entry in lock.sources.values())


def test_pinned_revision_is_the_resolved_commit_not_the_branch(raw_lock):
    hub = copy.deepcopy(raw_lock)
    entry = hub["sources"]["fineweb2-hq"]
    entry["revision"] = "main"
    entry["inputs"] = [{"path": "data/part-0.parquet", "revision": "4f1c" * 10}]
    lock = RunLock.from_dict(hub)
    assert lock.sources["fineweb2-hq"].revision == "main"
    assert lock.sources["fineweb2-hq"].pinned_revision == "4f1c" * 10


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda lock: lock["sources"]["dclm-edu"]["documents"].pop("kept"), "sources.dclm-edu.documents.kept"),
        (lambda lock: lock["sources"]["finemath"]["tokens"].update(kept="many"), "sources.finemath.tokens.kept"),
        (lambda lock: lock["recipe"].pop("sha256"), "recipe.sha256"),
        (lambda lock: lock["outputs"][0].pop("sha256"), "outputs.0.sha256"),
        (lambda lock: lock.update(format_version=99), "v99"),
        (lambda lock: lock.update(format="something-else"), "something-else"),
    ],
)
def test_errors_name_the_field(raw_lock, change, message):
    broken = copy.deepcopy(raw_lock)
    change(broken)
    with pytest.raises(LockError, match=message.replace(".", r"\.")) as caught:
        RunLock.from_dict(broken, "run/rebuild.lock.json")
    assert str(caught.value).startswith("run/rebuild.lock.json: ")


def test_missing_or_unreadable_lock_files(tmp_path):
    with pytest.raises(LockError, match="no rebuild.lock.json"):
        RunLock.read(tmp_path)
    (tmp_path / LOCK_NAME).write_text("{not json")
    with pytest.raises(LockError, match="not readable JSON"):
        RunLock.read(tmp_path)
    (tmp_path / LOCK_NAME).write_text("[]")
    with pytest.raises(LockError, match="a JSON object, not list"):
        RunLock.read(tmp_path)


def test_the_lock_is_frozen(sample_dir):
    lock = RunLock.read(sample_dir)
    with pytest.raises(ValueError, match="frozen"):
        lock.recipe = None
