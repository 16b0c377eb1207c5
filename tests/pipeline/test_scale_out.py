"""Scale-out and faults: Ray gives the local executor's bytes; crashes and bad input end in a clear error
or a counted ``removed/invalid`` entry, never in a hang or a silent loss."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from apertus_compliance.pipeline.lock import compare_locks, conservation_errors
from apertus_compliance.pipeline.ray_workers import session_workers
from apertus_compliance.pipeline.rebuild import rebuild
from apertus_compliance.pipeline.recipe import bundled_recipe, load_recipe
from apertus_compliance.pipeline.steps import QUIET_ENV

COMMAND = str(Path(sys.executable).parent / "apertus-compliance")


def web_source(**overrides) -> dict:
    return {
        "id": "web",
        "location": "sources/*.parquet",
        "format": "parquet",
        "target_tokens": 10**9,
        "fields": {"text": "text", "id": "id", "url": "url", "date": "date", "language": "language"},
    } | overrides


def run_cli(*arguments: str, env: dict | None = None, user: str | None = None) -> subprocess.CompletedProcess:
    prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] if user else []
    return subprocess.run(
        [*prefix, COMMAND, *arguments], capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})}
    )


@pytest.mark.slow
@pytest.mark.ray
def test_ray_with_two_workers_writes_the_local_executors_bytes(sample_run, tmp_path, hashes, start_ray):
    ray = start_ray()
    workers = session_workers()
    workers.peak_memory.clear()
    try:
        lock = rebuild(
            load_recipe(bundled_recipe("sample")),
            tmp_path / "ray",
            workers=2,
            executor="ray",
            echo=lambda message: None,
        )
        started = [actor._actor_id for actor in workers.actors]
        again = rebuild(  # in a session the caller started, the next rebuild finds the same workers
            load_recipe(bundled_recipe("sample")),
            tmp_path / "again",
            workers=2,
            executor="ray",
            echo=lambda message: None,
        )
        assert [actor._actor_id for actor in workers.actors] == started
        workers.close()
    finally:
        ray.shutdown()
    assert lock["executor"] == {"name": "ray", "workers": 2}
    assert compare_locks(lock, again) == [] and hashes(tmp_path / "again") == hashes(sample_run.dir)
    tasks = sum(source["tasks"] for source in lock["sources"].values())
    assert tasks > 2 and len(workers.peak_memory) == 2  # every task of every source ran on the same 2 workers
    assert all(peak > 50 * 2**20 for peak in workers.peak_memory)
    assert hashes(tmp_path / "ray") == hashes(sample_run.dir)
    assert compare_locks(sample_run.lock, lock) == []
    assert conservation_errors(lock) == []


@pytest.mark.slow
def test_a_worker_killed_mid_run_stops_with_an_error_and_the_rerun_resumes(kit, hashes):
    """datatrove's local pool would wait forever for the task of a killed worker; ours stops and says so."""
    rows = kit.web_rows(2000, seed=5)
    for part in range(6):
        kit.write_parquet(f"part-{part}.parquet", rows[part::6])
    kill_filter, killed = kit.planted_filter("kill", "doc-00003")
    env = {"PYTHONPATH": str(kit.root / "plugins"), QUIET_ENV: "1"}
    recipe = kit.write_recipe([web_source(filters=[kill_filter])])

    first = run_cli("rebuild", "--recipe", str(recipe), "--out", str(kit.root / "run"), "--workers", "2", env=env)
    assert first.returncode == 1 and killed.exists()
    assert "a worker process died" in first.stderr and "run the same command again to resume" in first.stderr
    assert "Traceback" not in first.stderr
    assert not (kit.root / "run" / "rebuild.lock.json").exists()

    second = run_cli("rebuild", "--recipe", str(recipe), "--out", str(kit.root / "run"), "--workers", "2", env=env)
    assert second.returncode == 0, second.stderr
    third = run_cli("rebuild", "--recipe", str(recipe), "--out", str(kit.root / "whole"), "--workers", "1", env=env)
    assert third.returncode == 0, third.stderr
    assert hashes(kit.root / "run") == hashes(kit.root / "whole")
    lock = json.loads((kit.root / "run" / "rebuild.lock.json").read_text())
    assert lock["sources"]["web"]["documents"]["read"] == 2000 and conservation_errors(lock) == []


@pytest.mark.slow
@pytest.mark.ray
def test_a_ray_worker_killed_mid_task_is_replaced_and_the_task_run_again(kit, hashes, monkeypatch, start_ray):
    """A long-lived worker dying takes its task with it; a new worker runs the task again, the other
    tasks are not repeated, and the bytes are those of an undisturbed local run."""
    rows = kit.web_rows(900, seed=6)
    for part in range(3):
        kit.write_parquet(f"part-{part}.parquet", rows[part::3])
    kill_filter, killed = kit.planted_filter("kill", "doc-00004")
    monkeypatch.syspath_prepend(str(kit.root / "plugins"))
    recipe = kit.write_recipe([web_source(filters=[kill_filter])])
    ray = start_ray(kit.root / "plugins")
    workers = session_workers()
    workers.peak_memory.clear()
    try:
        lock = rebuild(load_recipe(recipe), kit.root / "ray", workers=2, executor="ray", echo=lambda message: None)
        workers.close()
    finally:
        ray.shutdown()
    assert killed.exists() and len(workers.peak_memory) == 2  # the dead worker has no figure; its replacement has
    assert conservation_errors(lock) == [] and lock["sources"]["web"]["documents"]["read"] == 900
    local = kit.run(recipe, out="local")
    assert hashes(kit.root / "ray") == hashes(kit.root / "local")
    assert compare_locks(local, lock) == []


PID_RECORDER = '''
"""A recipe filter that keeps every document and notes the process it ran in (a file named by its pid)."""
import os
from pathlib import Path

from datatrove.pipeline.filters.base_filter import BaseFilter


class RecordPid(BaseFilter):
    name = "record-pid"

    def __init__(self, folder: str, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.folder = folder

    def filter(self, doc):
        Path(self.folder, str(os.getpid())).touch()
        return True
'''


@pytest.mark.slow
def test_local_workers_start_once_for_every_stage_of_every_source(kit, monkeypatch):
    """Two sources with binding budgets: the filter tasks of both sources (3 each, one executor run) run
    in the same 2 worker processes; a pool per source would show 4."""
    rows = kit.web_rows(600, seed=8)
    for part in range(3):
        kit.write_parquet(f"a/part-{part}.parquet", rows[part::3])
        kit.write_parquet(f"b/part-{part}.parquet", rows[part::3])
    plugins, pids = kit.root / "plugins", kit.root / "pids"
    plugins.mkdir()
    pids.mkdir()
    (plugins / "recorder.py").write_text(textwrap.dedent(PID_RECORDER))
    monkeypatch.syspath_prepend(str(plugins))
    recorder = {"id": "record-pid", "step": "recorder.RecordPid", "args": {"folder": str(pids)}}
    recipe = kit.write_recipe(
        [
            web_source(id=name, location=f"sources/{name}/*.parquet", target_tokens=3000, filters=[recorder])
            for name in ("a", "b")
        ]
    )
    lock = kit.run(recipe, workers=2)
    assert all(entry["budget"]["binding"] for entry in lock["sources"].values())
    assert conservation_errors(lock) == []
    workers = {int(path.name) for path in pids.iterdir()}
    assert len(workers) == 2 and os.getpid() not in workers


def test_a_truncated_parquet_input_is_a_clear_error_before_any_work(kit):
    kit.write_parquet("good.parquet", kit.web_rows(50))
    broken = kit.write_parquet("broken.parquet", kit.web_rows(50, seed=2, prefix="b"))
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])
    recipe = kit.write_recipe([web_source()])
    done = run_cli("rebuild", "--recipe", str(recipe), "--out", str(kit.root / "run"))
    assert done.returncode == 1
    assert f"source web: {broken}: not a readable parquet file" in done.stderr
    assert not (kit.root / "run" / "mixture").exists()


@pytest.mark.parametrize("compressed", [False, True])
def test_a_corrupt_warc_record_is_counted_and_the_rest_kept(kit, compressed):
    """A WARC with garbage over the start of a record in the middle: the damage is one counted invalid entry,
    reading resumes at the next record, and read = kept + removed."""
    from io import BytesIO

    from warcio.warcwriter import WARCWriter

    path = kit.root / "sources" / ("crawl.warc.gz" if compressed else "crawl.warc")
    path.parent.mkdir(parents=True)
    starts = []
    with path.open("wb") as output:
        writer = WARCWriter(output, gzip=compressed)
        for number in range(20):
            starts.append(output.tell())
            body = (f"<html><body>page {number} " + "word " * 50 + "</body></html>").encode()
            payload = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + body
            writer.write_record(
                writer.create_warc_record(
                    f"https://a.example/{number}.html", "response", payload=BytesIO(payload), length=len(payload)
                )
            )
    data = bytearray(path.read_bytes())
    data[starts[10] : starts[10] + 60] = random.Random(3).randbytes(60)  # record 10's first line (or gzip header)
    path.write_bytes(bytes(data))
    recipe = kit.write_recipe([web_source(id="warc", location="sources/crawl.warc*", format="warc")])
    lock = kit.run(recipe)
    counts = lock["sources"]["warc"]["documents"]
    assert conservation_errors(lock) == []
    assert counts["read"] == 20 and counts["kept"] == 19 and counts["removed"] == {"invalid": 1}
    invalid = pq.read_table(kit.root / "run" / "removed" / "invalid" / "warc").to_pylist()
    detail = json.loads(invalid[0]["detail"])["invalid"]
    assert detail.startswith(f"damaged WARC data at byte {starts[10]}") and "reading resumed" in detail
    kept = pq.read_table(kit.root / "run" / "mixture" / "warc").column("url").to_pylist()
    assert sorted(kept) == sorted(f"https://a.example/{n}.html" for n in range(20) if n != 10)


def test_a_corrupt_robots_txt_is_reported_and_the_run_stays_whole(kit, tmp_path):
    """One host's robots.txt is binary garbage: ingest names and counts it, the snapshot holds no rule for it,
    its documents are kept (or, with --strict, reserved), and every document is accounted for."""
    robots = tmp_path / "robots" / "2025-01-15"
    robots.mkdir(parents=True)
    (robots / "good.example.txt").write_text("User-agent: GPTBot\nDisallow: /\n")
    (robots / "garbage.example.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + random.Random(0).randbytes(2000))
    registry = tmp_path / "registry.duckdb"
    ingest = run_cli("optout", "ingest", "--registry", str(registry), str(robots))
    assert "garbage.example" in ingest.stdout + ingest.stderr and "unparsable" in ingest.stdout + ingest.stderr
    snapshot = tmp_path / "snapshot"
    compiled = run_cli(
        "optout", "snapshot", "--registry", str(registry), "--as-of", "2025-01-31", "--out", str(snapshot)
    )
    assert compiled.returncode == 0, compiled.stderr
    rows = [
        {
            "text": "some words " * 30,
            "id": f"{host}-{number}",
            "url": f"https://{host}/{number}.html",
            "date": "2020-01-01T00:00:00Z",
            "language": "en",
        }
        for host in ("good.example", "garbage.example", "other.example")
        for number in range(10)
    ]
    kit.write_parquet("web.parquet", rows)
    recipe = kit.write_recipe([web_source()], optout={"snapshot": str(snapshot)})
    lock = kit.run(recipe)
    counts = lock["sources"]["web"]["documents"]
    assert conservation_errors(lock) == [] and counts["read"] == 30
    assert counts["removed"] == {"robots": 10} and counts["kept"] == 20


def test_a_read_only_output_directory_is_a_clear_error(kit, tmp_path):
    kit.write_parquet("web.parquet", kit.web_rows(20))
    recipe = kit.write_recipe([web_source()])
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    for path in (tmp_path, *tmp_path.parents):  # the unprivileged user must reach the recipe and the sources
        if path != Path("/"):
            path.chmod(path.stat().st_mode | 0o005)
    for path in kit.root.rglob("*"):
        path.chmod(path.stat().st_mode | 0o004)
    user = "65534" if os.geteuid() == 0 and shutil.which("setpriv") else None  # root ignores file modes
    done = run_cli("rebuild", "--recipe", str(recipe), "--out", str(locked / "run"), user=user)
    assert done.returncode == 1
    assert "Permission denied" in done.stderr and str(locked / "run") in done.stderr
    assert "Traceback" not in done.stderr
    assert not (locked / "run").exists()
