"""The bundled sample recipe end to end: conservation, planted PII, code left alone, the lock."""

import pyarrow.parquet as pq
import pytest

from apertus_compliance.paths import bundled_data
from apertus_compliance.pipeline.lock import check_run_files, conservation_errors

SOURCES = bundled_data() / "sample" / "sources"
MASKED = {
    "email": "<email-pii>",
    "ipv4-public": "<ip-pii>",
    "ipv4-private": "<ip-pii>",
    "ipv6": "<ip-pii>",
    "iban": "<iban-pii>",
}
LEFT_ALONE = ("phone", "false-positive-isbn", "false-positive-doi", "false-positive-version", "false-positive-bad-iban")


def texts(run_dir, pattern: str) -> dict[str, str]:
    return {
        row["id"]: row["text"]
        for path in sorted(run_dir.glob(pattern))
        for row in pq.read_table(path, columns=["id", "text"]).to_pylist()
    }


def test_every_document_read_is_kept_or_removed(sample_run):
    assert conservation_errors(sample_run.lock) == []
    assert check_run_files(sample_run.lock, sample_run.dir) == []
    for source_id, entry in sample_run.lock["sources"].items():
        input_rows = sum(pq.ParquetFile(path).metadata.num_rows for path in (SOURCES / source_id).glob("*.parquet"))
        assert entry["documents"]["read"] == input_rows, source_id
        kept = texts(sample_run.dir, f"mixture/{source_id}/*.parquet")
        removed = texts(sample_run.dir, f"removed/*/{source_id}/*.parquet")
        assert len(kept) + len(removed) == input_rows and not set(kept) & set(removed)


def test_lock_figures_match_the_shards_and_the_recipe(sample_run):
    lock = sample_run.lock
    assert lock["optout"]["as_of"] == "2025-01-31" and lock["tokenizer"]["name"] == "utf8-bytes/4"
    for source_id, entry in lock["sources"].items():
        shards = [shard for shard in lock["outputs"] if shard["path"].startswith(f"mixture/{source_id}/")]
        assert entry["tokens"]["kept"] == sum(shard["tokens"] for shard in shards)
        assert entry["documents"]["kept"] == sum(shard["documents"] for shard in shards)
        budget = entry["budget"]
        if budget["binding"]:  # filled, not overfilled by more than one document
            assert entry["tokens"]["kept"] >= entry["tokens"]["target"] and entry["documents"]["removed"]["budget"]
        else:
            assert entry["tokens"]["kept"] == budget["candidate_tokens"] <= entry["tokens"]["target"]
    web = lock["sources"]["fineweb2-hq"]["documents"]
    assert web["removed"]["invalid"] == 6 and web["removed"]["robots"] > 50
    assert lock["sources"]["dclm-edu"]["documents"]["removed"]["invalid"] == 2
    assert "invalid" not in lock["sources"]["starcoder"]["documents"]["removed"]


@pytest.mark.parametrize("source_id", ["fineweb2-hq", "dclm-edu"])
def test_planted_pii_is_masked_in_web_text(sample_run, source_id):
    kept = texts(sample_run.dir, f"mixture/{source_id}/*.parquet")
    checked = {"masked": 0, "left": 0}
    for item in sample_run.planted:
        if item["source"] != source_id or item["id"] not in kept:
            continue
        text = kept[item["id"]]
        if item["kind"] in MASKED:
            assert item["value"] not in text and MASKED[item["kind"]] in text, item
            checked["masked"] += 1
        else:
            assert item["kind"] in LEFT_ALONE and item["value"] in text, item
            checked["left"] += 1
    assert checked["masked"] > 50 and checked["left"] > 30


def test_code_is_not_masked(sample_run):
    code = texts(sample_run.dir, "mixture/starcoder/*.parquet")
    assert code and not any("-pii>" in text for text in code.values())
    assert sum("@" in text for text in code.values()) > 50  # license-header emails stay in code


@pytest.mark.slow
def test_two_workers_give_the_same_bytes_as_one(sample_run, tmp_path, hashes):
    from apertus_compliance.pipeline.rebuild import rebuild
    from apertus_compliance.pipeline.recipe import bundled_recipe, load_recipe

    lock = rebuild(load_recipe(bundled_recipe("sample")), tmp_path / "two", workers=2, echo=lambda message: None)
    assert hashes(tmp_path / "two") == hashes(sample_run.dir)
    assert lock["outputs"] == sample_run.lock["outputs"] and lock["sources"] == sample_run.lock["sources"]


def test_recipe_filters_drop_into_their_own_folder(sample_run):
    import json

    dropped = [
        row
        for path in sorted(sample_run.dir.glob("removed/too-short/dclm-edu/*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]
    assert len(dropped) == sample_run.lock["sources"]["dclm-edu"]["documents"]["removed"]["too-short"] > 0
    assert all(len(row["text"]) < 600 and row["reason"] == "too-short" for row in dropped)
    assert json.loads(dropped[0]["detail"])["filter"] == "🕵 Regex"
