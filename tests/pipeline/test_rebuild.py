"""The rebuild on small sources the tests write: determinism, budgets, resume, bad input, verify."""

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from apertus_compliance.folders import OutputExistsError
from apertus_compliance.optout import Snapshot
from apertus_compliance.paths import bundled_data
from apertus_compliance.pipeline.lock import check_run_files, conservation_errors, verify_run
from apertus_compliance.pipeline.rebuild import budget_cutoff, rebuild, run_folder
from apertus_compliance.pipeline.recipe import RecipeError, load_recipe
from apertus_compliance.pipeline.steps import sample_key

COMMAND = str(Path(sys.executable).parent / "apertus-compliance")


def web_source(**overrides) -> dict:
    return {
        "id": "web",
        "location": "sources/*.parquet",
        "format": "parquet",
        "target_tokens": 10**9,
        "pii": False,
    } | overrides


def read_rows(run_dir: Path, pattern: str) -> list[dict]:
    return [row for path in sorted(run_dir.glob(pattern)) for row in pq.read_table(path).to_pylist()]


def test_opt_outs_apply_to_every_crawl_and_removed_rows_carry_evidence(kit, bundled_snapshot):
    rows = kit.web_rows(600)
    kit.write_parquet("a.parquet", rows[:300])
    kit.write_parquet("b.parquet", rows[300:])
    lock = kit.run(kit.write_recipe([web_source()]))
    run_dir = kit.root / "run"
    snapshot = Snapshot(bundled_snapshot)

    kept = read_rows(run_dir, "mixture/web/*.parquet")
    assert snapshot.lookup([row["url"] for row in kept]) == [None] * len(kept)
    removed = read_rows(run_dir, "removed/*/web/*.parquet")
    assert removed and all(reservation is not None for reservation in snapshot.lookup([row["url"] for row in removed]))
    assert {row["date"][:4] for row in removed} >= {"2013", "2016", "2019"}  # retroactive: old crawls go too
    robots = [row for row in removed if row["reason"] == "robots"]
    detail = json.loads(robots[0]["detail"])
    assert detail["signal"] == "robots" and "allow" in detail["rule"].lower() and detail["line"] >= 1
    assert detail["observed_at"].startswith(("2024", "2025")) and len(detail["evidence_sha256"]) == 64

    documents = lock["sources"]["web"]["documents"]
    assert documents["read"] == 600 == documents["kept"] + sum(documents["removed"].values())
    assert documents["kept"] == len(kept) and {row["id"] for row in kept} | {row["id"] for row in removed} == {
        row["id"] for row in rows
    }


@pytest.mark.slow
def test_one_and_two_workers_and_two_runs_give_identical_bytes(kit, hashes):
    rows = kit.web_rows(900, seed=3)
    for part in range(3):
        kit.write_parquet(f"part-{part}.parquet", rows[part * 300 : (part + 1) * 300])
    recipe = kit.write_recipe([web_source(target_tokens=20_000, pii=True)])
    first, again, parallel = kit.run(recipe, "one"), kit.run(recipe, "again"), kit.run(recipe, "two", workers=2)
    assert hashes(kit.root / "one") == hashes(kit.root / "again") == hashes(kit.root / "two")
    assert len(hashes(kit.root / "one")) > 5
    assert first["outputs"] == again["outputs"] == parallel["outputs"]
    assert first["sources"] == parallel["sources"]


def test_budget_is_exact_and_independent_of_how_files_are_split(kit):
    rows = kit.web_rows(500, seed=5)
    kit.write_parquet("all.parquet", rows)
    one_file = kit.run(kit.write_recipe([web_source(target_tokens=15_000)], "one.yaml"), "one")
    shutil.rmtree(kit.root / "sources")
    for part in range(4):
        kit.write_parquet(f"p{part}.parquet", list(reversed(rows))[part::4])
    four_files = kit.run(kit.write_recipe([web_source(target_tokens=15_000)], "four.yaml"), "four")

    def kept_ids(run: str) -> set[str]:
        return {row["id"] for row in read_rows(kit.root / run, "mixture/web/*.parquet")}

    assert kept_ids("one") == kept_ids("four")
    for lock in (one_file, four_files):
        assert lock["sources"]["web"]["budget"]["binding"]
    # exact: the kept documents are the smallest keys, and without the last one the budget is not reached
    kept = sorted(read_rows(kit.root / "one", "mixture/web/*.parquet"), key=lambda row: (row["sample_key"], row["id"]))
    budget_removed = read_rows(kit.root / "one", "removed/budget/web/*.parquet")
    assert all(row["sample_key"] == sample_key(row["id"], 7) for row in kept)
    assert max((row["sample_key"], row["id"]) for row in kept) < min(
        (sample_key(row["id"], 7), row["id"]) for row in budget_removed
    )
    tokens = sum(row["tokens"] for row in kept)
    assert tokens >= 15_000 > tokens - kept[-1]["tokens"]
    assert one_file["sources"]["web"]["tokens"]["kept"] == tokens


def test_budget_cutoff_when_everything_fits(tmp_path):
    assert budget_cutoff(tmp_path, 100) == {"candidates": 0, "candidate_tokens": 0, "binding": False}


def test_bad_documents_are_counted_in_removed_invalid(kit):
    good = kit.web_rows(20, seed=9)
    lines = [json.dumps(row).encode() for row in good]
    lines += [
        b'{"text": "caf\xe9 ohne utf-8", "id": "latin1", "url": "https://a.example/"}',  # not UTF-8
        b'{"text": "unterminated',  # bad JSON
        b"",  # blank line
        b'["a", "list"]',  # not an object
        json.dumps({"text": "   ", "id": "blank", "url": "https://a.example/b"}).encode(),
        json.dumps({"id": "no-text", "url": "https://a.example/c"}).encode(),
        json.dumps({"text": "no url here", "id": "no-url"}).encode(),
        json.dumps({"text": "relative", "id": "relative", "url": "/just/a/path"}).encode(),
    ]
    source = kit.root / "sources" / "docs.jsonl.gz"
    source.parent.mkdir(parents=True)
    source.write_bytes(gzip.compress(b"\n".join(lines) + b"\n", mtime=0))
    binary_text = pa.schema([("text", pa.binary()), ("id", pa.string()), ("url", pa.string())])
    kit.write_parquet(
        "binary.parquet",
        [
            {"text": b"ok text", "id": "b-ok", "url": "https://a.example/d"},
            {"text": b"bad \xff\xfe", "id": "b-bad", "url": "https://a.example/e"},
        ],
        schema=binary_text,
    )
    warc = bundled_data() / "sample" / "signals" / "warc" / "truncated.warc.gz"
    shutil.copy(warc, kit.root / "sources" / "cut.warc.gz")
    recipe = kit.write_recipe(
        [
            web_source(
                id="jsonl",
                location="sources/*.jsonl.gz",
                format="jsonl",
                fields={"text": "text", "id": "id", "url": "url", "date": None, "language": None},
            ),
            web_source(
                id="binary",
                fields={"text": "text", "id": "id", "url": "url", "date": None, "language": None},
                location="sources/binary.parquet",
            ),
            web_source(id="warc", location="sources/*.warc.gz", format="warc"),
        ]
    )
    lock = kit.run(recipe)
    assert conservation_errors(lock) == []
    jsonl = lock["sources"]["jsonl"]["documents"]
    assert jsonl["read"] == len(lines) and jsonl["removed"]["invalid"] == 8
    invalid = {
        row["id"]: json.loads(row["detail"])["invalid"]
        for row in read_rows(kit.root / "run", "removed/invalid/*/*.parquet")
    }
    assert invalid["blank"] == "empty-text" and invalid["no-text"] == "missing-text"
    assert invalid["no-url"] == "no url" and invalid["relative"].startswith("url without a host")
    assert "line 21" in invalid["jsonl/docs.jsonl.gz#20"]  # the non-UTF-8 line, named by its number
    assert invalid["b-bad"].startswith("non-utf8 text")
    assert lock["sources"]["binary"]["documents"]["read"] == 2
    warc_counts = lock["sources"]["warc"]["documents"]
    assert warc_counts["read"] >= 10 and warc_counts["removed"].get("invalid", 0) >= 1


@pytest.mark.slow
def test_resume_after_a_kill_gives_the_uninterrupted_output(kit, hashes):
    rows = kit.web_rows(4000, seed=11)
    for part in range(8):
        kit.write_parquet(f"part-{part}.parquet", rows[part::8])
    recipe = kit.write_recipe([web_source(target_tokens=50_000, pii=True)])
    kit.run(recipe, "whole")

    run_dir = kit.root / "killed"
    process = subprocess.Popen(
        [COMMAND, "rebuild", "--recipe", str(recipe), "--out", str(run_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    completions = run_dir / "logs" / "web" / "filter" / "completions"
    deadline = time.monotonic() + 60
    while not (completions.is_dir() and any(completions.iterdir())) and process.poll() is None:
        assert time.monotonic() < deadline, "the rebuild never completed a task"
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (run_dir / "rebuild.lock.json").exists(), "killed too late to test a resume"
    done = len(list(completions.iterdir()))
    assert 0 < done < 8

    kit.run(recipe, "killed")
    assert hashes(run_dir) == hashes(kit.root / "whole")
    assert (
        json.loads((run_dir / "rebuild.lock.json").read_text())["outputs"]
        == json.loads((kit.root / "whole" / "rebuild.lock.json").read_text())["outputs"]
    )


def test_rerun_is_idempotent_and_a_run_dir_belongs_to_one_recipe(kit, hashes):
    kit.write_parquet("a.parquet", kit.web_rows(100))
    recipe = kit.write_recipe([web_source()])
    first = kit.run(recipe)
    before = hashes(kit.root / "run")
    assert kit.run(recipe) == first and hashes(kit.root / "run") == before
    other = kit.write_recipe([web_source(target_tokens=5)], "other.yaml")
    with pytest.raises(OutputExistsError, match=f"{kit.root / 'run'}: holds a run of another recipe.*--force"):
        kit.run(other)
    (kit.root / "stray").mkdir()
    (kit.root / "stray" / "file.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=f"{kit.root / 'stray'}: the folder exists and is not empty"):
        kit.run(recipe, "stray")
    assert (kit.root / "stray" / "file.txt").read_text() == "mine"


def test_force_replaces_the_run_folder_only_when_the_new_run_succeeds(kit, hashes):
    kit.write_parquet("a.parquet", kit.web_rows(100))
    recipe, other = kit.write_recipe([web_source()]), kit.write_recipe([web_source(target_tokens=5)], "other.yaml")
    kit.run(recipe)
    before = hashes(kit.root / "run")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), run_folder(kit.root / "run", force=True) as target:
        assert target != kit.root / "run" and target.parent == kit.root  # a sibling, on the same filesystem
        rebuild(load_recipe(other), target, echo=lambda message: None)
        interrupted()
    assert hashes(kit.root / "run") == before  # untouched
    assert sorted(path.name for path in kit.root.iterdir() if path.name.startswith(".")) == []  # nothing left over

    with run_folder(kit.root / "run", force=True) as target:
        lock = rebuild(load_recipe(other), target, echo=lambda message: None)
    assert json.loads((kit.root / "run" / "rebuild.lock.json").read_text()) == lock
    assert lock["recipe"]["sha256"] == load_recipe(other).sha256 and hashes(kit.root / "run") != before
    assert check_run_files(lock, kit.root / "run") == []


def test_verify_detects_changed_shards_inputs_and_recipes(kit):
    kit.write_parquet("a.parquet", kit.web_rows(200))
    recipe = kit.write_recipe([web_source(target_tokens=3000)])
    kit.run(recipe)
    run_dir = kit.root / "run"
    assert verify_run(run_dir, echo=lambda message: None) == []
    lock = json.loads((run_dir / "rebuild.lock.json").read_text())
    assert lock["recipe"]["text"] == recipe.read_text() and lock["references"]["optout.snapshot"]["sha256"]

    shard = next((run_dir / "mixture" / "web").glob("*.parquet"))
    original = shard.read_bytes()
    pq.write_table(pq.read_table(shard).slice(1), shard)
    (run_dir / "removed" / "extra.parquet").write_bytes(b"")
    problems = check_run_files(json.loads((run_dir / "rebuild.lock.json").read_text()), run_dir)
    assert f"mixture/web/{shard.name}: sha256 differs from the lock" in problems
    assert "removed/extra.parquet: not in the lock" in problems
    shard.write_bytes(original)
    (run_dir / "removed" / "extra.parquet").unlink()

    original = (kit.root / "sources" / "a.parquet").read_bytes()
    kit.write_parquet("a.parquet", kit.web_rows(200, seed=99))
    assert verify_run(run_dir, echo=lambda message: None) == [
        "input sources/a.parquet (source web): sha256 differs from the lock"
    ]
    (kit.root / "sources" / "a.parquet").unlink()
    assert verify_run(run_dir, echo=lambda message: None) == [
        f"input sources/a.parquet (source web): missing, expected at {kit.root / 'sources' / 'a.parquet'}"
    ]
    (kit.root / "sources" / "a.parquet").write_bytes(original)

    recipe.unlink()  # the lock carries the recipe: its file is not needed
    assert verify_run(run_dir, echo=lambda message: None) == []
    edited = lock | {"recipe": lock["recipe"] | {"text": lock["recipe"]["text"].replace("3000", "4000")}}
    (run_dir / "rebuild.lock.json").write_text(json.dumps(edited))
    assert verify_run(run_dir, echo=lambda message: None) == [
        "recipe: the text in the lock does not match its sha256 (the lock was edited)"
    ]
    (run_dir / "rebuild.lock.json").write_text(json.dumps(lock))


def test_a_copied_run_verifies_and_missing_references_are_named(kit, tmp_path_factory):
    kit.write_parquet("a.parquet", kit.web_rows(200))
    tokenizer = kit.root / "tokenizer.json"
    _word_tokenizer(tokenizer)
    recipe = kit.write_recipe([web_source(target_tokens=3000)], tokenizer="tokenizer.json")
    kit.run(recipe)
    copy = tmp_path_factory.mktemp("elsewhere") / "copied-run"
    shutil.copytree(kit.root / "run", copy)
    shutil.rmtree(kit.root / "run")
    assert verify_run(copy, echo=lambda message: None) == []
    lock = json.loads((copy / "rebuild.lock.json").read_text())
    assert set(lock["references"]) == {"optout.snapshot", "tokenizer"}
    assert lock["references"]["tokenizer"] == {"path": str(tokenizer), "sha256": lock["tokenizer"]["sha256"]}

    tokenizer.rename(kit.root / "moved.json")
    assert verify_run(copy, echo=lambda message: None) == [f"tokenizer: missing, expected at {tokenizer}"]


def _word_tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(["river mountain village"], trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    tokenizer.save(str(path))


def test_token_counts_use_a_named_tokenizer(kit):
    _word_tokenizer(kit.root / "tokenizer.json")
    rows = kit.web_rows(30)
    kit.write_parquet("a.parquet", rows)
    lock = kit.run(kit.write_recipe([web_source(optout=False)], tokenizer="tokenizer.json"))
    assert lock["tokenizer"]["kind"] == "file" and len(lock["tokenizer"]["sha256"]) == 64
    assert lock["sources"]["web"]["tokens"]["kept"] == sum(len(row["text"].split()) for row in rows)

    with pytest.raises(ValueError, match="tokenizer missing.json: no such file"):
        kit.run(kit.write_recipe([web_source()], "r2.yaml", tokenizer="missing.json"), "r2")


def test_a_corrupt_row_group_is_counted_row_by_row(kit):
    rows = kit.web_rows(400, seed=4)
    path = kit.root / "sources" / "two-groups.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=200, compression="zstd")
    first = pq.ParquetFile(path).metadata.row_group(0).column(0)
    data = bytearray(path.read_bytes())
    middle = first.data_page_offset + first.total_compressed_size // 2
    data[middle : middle + 64] = b"\x00" * 64  # the footer still reads; the first text pages do not
    path.write_bytes(bytes(data))
    lock = kit.run(kit.write_recipe([web_source()]))
    documents = lock["sources"]["web"]["documents"]
    assert documents["read"] == 400 and documents["removed"]["invalid"] == 200
    assert conservation_errors(lock) == []
    invalid = read_rows(kit.root / "run", "removed/invalid/web/*.parquet")
    groups = {json.loads(row["detail"])["invalid"][:23] for row in invalid}
    assert len(groups) == 1 and groups.pop().startswith("unreadable row group ")  # one group lost, the other read


def test_a_deletion_list_reaches_the_training_text(kit):
    from apertus_compliance.filters import build_release, generate_keypair

    requests = kit.root / "requests.csv"
    requests.write_text("value,category\nHans Müller,name\nanna.muster@beispiel.de,email\n")
    generate_keypair(kit.root / "keys")
    build_release(requests, kit.root / "keys" / "private.key", kit.root / "release", "2026.11")
    rows = kit.web_rows(60, seed=8)
    for number, row in enumerate(rows[:20]):
        row["text"] += " Interview mit Hans Mueller." if number % 2 else " Kontakt: Anna.Muster@beispiel.de"
    kit.write_parquet("a.parquet", rows)
    listed = {"release": "release", "public_key": "keys/public.key"}
    lock = kit.run(kit.write_recipe([web_source(optout=False)], deletion_list=listed))
    assert lock["deletion_list"]["list_version"] == "2026.11"
    assert lock["sources"]["web"]["deletion_list_redactions"] == 20
    texts = [row["text"] for row in read_rows(kit.root / "run", "mixture/web/*.parquet")]
    assert not any("Mueller" in text or "Muster@" in text for text in texts)
    assert sum("[REDACTED]" in text for text in texts) == 20

    payload = kit.root / "release" / "payload.bin"
    payload.write_bytes(payload.read_bytes()[:-1] + b"\x00")
    with pytest.raises(RecipeError, match="deletion_list: .*payload.bin"):
        kit.run(kit.write_recipe([web_source(optout=False)], "r2.yaml", deletion_list=listed), "tampered")
    assert not (kit.root / "tampered").exists()


def test_a_snapshot_file_changed_in_place_stops_the_rebuild_before_any_work(kit, bundled_snapshot):
    """Opening a mapped snapshot checks sizes only; the rebuild re-hashes every file once."""
    changed = kit.root / "changed-snapshot"
    shutil.copytree(bundled_snapshot, changed)
    pattern = changed / "rules.pattern.utf8"
    data = bytearray(pattern.read_bytes())
    data[0] ^= 0x20  # same size, one byte different: a rule that no longer says what it said
    pattern.write_bytes(bytes(data))
    kit.write_parquet("a.parquet", kit.web_rows(20))
    recipe = kit.write_recipe([web_source()], optout={"snapshot": str(changed)})
    with pytest.raises(RecipeError, match="rules.pattern.utf8 does not match"):
        kit.run(recipe)
    assert not (kit.root / "run" / "mixture").exists()


def test_verify_names_every_wrong_field_of_a_malformed_lock(sample_run, tmp_path):
    from apertus_compliance.pipeline.lock import LOCK_NAME, LockError

    lock = json.loads((sample_run.dir / LOCK_NAME).read_text())
    lock["sources"]["wikipedia"]["documents"]["kept"] = "many"
    del lock["sources"]["starcoder"]["tokens"]
    (tmp_path / LOCK_NAME).write_text(json.dumps(lock))
    with pytest.raises(LockError) as raised:
        verify_run(tmp_path, echo=lambda message: None)
    assert "sources.wikipedia.documents.kept" in str(raised.value) and "sources.starcoder.tokens" in str(raised.value)
