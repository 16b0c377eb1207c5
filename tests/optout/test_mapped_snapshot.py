"""The mapped snapshot (format 3) against the loaded one it replaces (format 1, kept as an oracle
in snapshot_v1_reference.py): same decisions and evidence, migration, shared pages, stable ids."""

import importlib.util
import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apertus_compliance.cli import run
from apertus_compliance.optout.agents import load_agent_list
from apertus_compliance.optout.ingest import ingest_bundled_sample
from apertus_compliance.optout.lookup import Snapshot, SnapshotError
from apertus_compliance.optout.mapped import key_hashes
from apertus_compliance.optout.registry import Observation, Registry, sha256_hex
from apertus_compliance.optout.snapshot import SnapshotOptions, compile_snapshot, migrate_snapshot

_spec = importlib.util.spec_from_file_location(
    "snapshot_v1_reference", Path(__file__).with_name("snapshot_v1_reference.py")
)
v1 = sys.modules["snapshot_v1_reference"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(v1)

SETTINGS = [
    ("2025-01-31", "apertus-2025-01", "url", False),
    ("2024-12-31", "apertus-2025-01", "url", True),
    ("2025-01-31", "apertus-2025-01", "domain", False),
    ("2025-01-31", "ai-robots-txt-training", "url", False),
]


def answers(snapshot, urls: list[str]) -> list:
    """Every field a pipeline or a person sees: the batch answer and explain() of each URL."""
    found = [None if r is None else (r.as_dict(), r.rule) for r in snapshot.lookup(urls)]
    explained = [[(r.as_dict(), r.rule) for r in snapshot.explain(url)] for url in urls]
    return [found, explained]


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    """Both formats compiled from the bundled sample signals, for each setting."""
    folder = tmp_path_factory.mktemp("bundled")
    pairs = {}
    with Registry(folder / "registry.duckdb") as registry:
        ingest_bundled_sample(registry)
        hosts = [row[0] for row in registry.con.execute("SELECT DISTINCT host FROM observations").fetchall()]
        urls = [
            row[0] for row in registry.con.execute("SELECT DISTINCT url FROM observations WHERE url <> ''").fetchall()
        ]
        for as_of, agents, granularity, strict in SETTINGS:
            options = SnapshotOptions(date.fromisoformat(as_of), load_agent_list(agents), granularity, strict)
            name = f"{as_of}-{agents}-{granularity}-{strict}"
            compile_snapshot(registry, options, folder / f"v2-{name}")
            v1.compile_snapshot(registry, options, folder / f"v1-{name}")
            pairs[name] = (folder / f"v1-{name}", folder / f"v2-{name}")
    paths = ["/", "/private/x", "/wp-admin/a", "/books/1", "/news/2020/a.html", "/a.pdf", "/?q=1", "/ai-ok/"]
    urls += [
        f"{scheme}://{prefix}{host}{path}"
        for host in hosts
        for path in paths
        for scheme, prefix in [("https", ""), ("http", "www."), ("https", "sub.")]
    ]
    urls += ["nonsense", "", "https://unknown.example/a", "https://User@" + hosts[0].upper() + ".:8080/private/x"]
    return pairs, urls


def test_bundled_sample_gives_the_same_decisions_and_evidence(bundled):
    pairs, urls = bundled
    for name, (old, new) in pairs.items():
        expected, got = answers(v1.Snapshot(old), urls), answers(Snapshot(new), urls)
        assert got == expected, name
        assert sum(found is not None for found in got[0]) > 10, name  # the sample reserves plenty


def test_migration_gives_the_folder_a_compile_gives(bundled, tmp_path):
    pairs, _ = bundled
    for name, (old, new) in pairs.items():
        manifest = migrate_snapshot(old, tmp_path / name)
        assert manifest == json.loads((new / "manifest.json").read_text()), name
        for file in manifest["files"]:
            assert (tmp_path / name / file).read_bytes() == (new / file).read_bytes(), (name, file)


def test_format_1_is_refused_with_the_migration_command_and_migrated_by_the_cli(bundled, tmp_path, capsys):
    pairs, urls = bundled
    old, new = pairs["2025-01-31-apertus-2025-01-url-False"]
    with pytest.raises(SnapshotError, match="optout migrate-snapshot"):
        Snapshot(old)
    assert run(["optout", "migrate-snapshot", str(old), str(tmp_path / "migrated")]) == 0
    migrated = Snapshot(tmp_path / "migrated")
    assert migrated.snapshot_id == Snapshot(new).snapshot_id
    assert migrated.snapshot_id[:16] in capsys.readouterr().out
    assert run(["optout", "migrate-snapshot", str(new), str(tmp_path / "again")]) != 0
    assert "format 'apertus-compliance/optout-snapshot' v3, only" in capsys.readouterr().err
    assert not (tmp_path / "again").exists()


def test_format_2_is_refused_and_migrated_to_the_folder_a_compile_gives(bundled, tmp_path):
    """A real format 2 folder (tests/data/snapshot-v2, written by the last commit that wrote format 2)."""
    _, new = bundled[0]["2025-01-31-apertus-2025-01-url-False"]
    old = Path(__file__).parents[1] / "data" / "snapshot-v2" / "sample"
    with pytest.raises(SnapshotError, match=r"format v2, .*optout migrate-snapshot"):
        Snapshot(old)
    manifest = migrate_snapshot(old, tmp_path / "migrated")
    assert manifest == json.loads((new / "manifest.json").read_text())
    for file in manifest["files"]:
        assert (tmp_path / "migrated" / file).read_bytes() == (new / file).read_bytes(), file


AGENTS = ["*", "GPTBot", "CCBot", "Googlebot", "ClaudeBot", "Google-Extended"]
PATTERN = st.text(alphabet="ab/*$.%é", max_size=12).map(lambda tail: "/" + tail)
GROUP = st.tuples(
    st.lists(st.sampled_from(AGENTS), min_size=1, max_size=2),
    st.lists(st.tuples(st.sampled_from(["Allow", "Disallow"]), st.one_of(PATTERN, st.just(""))), max_size=4),
)
ROBOTS = st.lists(GROUP, max_size=3).map(
    lambda groups: "".join(
        "".join(f"User-agent: {agent}\n" for agent in agents) + "".join(f"{key}: {value}\n" for key, value in rules)
        for agents, rules in groups
    )
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.lists(ROBOTS, min_size=1, max_size=4),
    reserved_domain=st.booleans(),
    paths=st.lists(st.text(alphabet="ab/.$*%?é", max_size=14), min_size=1, max_size=6),
)
def test_generated_robots_give_the_same_decisions_and_evidence(tmp_path_factory, files, reserved_domain, paths):
    folder = tmp_path_factory.mktemp("generated")
    hosts = [f"h{number}.example" for number in range(len(files))]
    observed = datetime(2025, 1, 15)
    observations = [
        Observation("robots", host, "", observed, "ok", sha256_hex(content.encode()), f"{host}.txt")
        for host, content in zip(hosts, files, strict=True)
    ]
    evidence = {sha256_hex(content.encode()): content.encode() for content in files}
    if reserved_domain:
        observations.append(Observation("rightsholder", "h0.example", "", observed, "ok", sha256_hex(b"x"), "l:2"))
        evidence[sha256_hex(b"x")] = b"x"
    urls = [
        f"https://{prefix}{host}/{path}"
        for host in hosts + ["other.example"]
        for path in paths
        for prefix in ("", "www.")
    ]
    with Registry(folder / "registry.duckdb") as registry:
        registry.add(observations, evidence)
        for granularity in ("url", "domain"):
            options = SnapshotOptions(date(2025, 1, 31), load_agent_list(), granularity)
            new = compile_snapshot(registry, options, folder / f"v2-{granularity}")
            v1.compile_snapshot(registry, options, folder / f"v1-{granularity}")
            expected = answers(v1.Snapshot(folder / f"v1-{granularity}"), urls)
            assert answers(Snapshot(folder / f"v2-{granularity}"), urls) == expected
            migrated = migrate_snapshot(folder / f"v1-{granularity}", folder / f"migrated-{granularity}")
            assert migrated["snapshot_id"] == new["snapshot_id"]


def test_snapshot_id_is_stable_and_follows_the_content(tmp_path, registry):
    options = SnapshotOptions(date(2025, 1, 31), load_agent_list())
    first = compile_snapshot(registry, options, tmp_path / "first")
    second = compile_snapshot(registry, options, tmp_path / "second")
    assert first["snapshot_id"] == second["snapshot_id"] and first["files"] == second["files"]
    later = compile_snapshot(registry, SnapshotOptions(date(2024, 12, 31), load_agent_list()), tmp_path / "later")
    assert later["snapshot_id"] != first["snapshot_id"]


def test_hashes_are_the_same_from_lists_and_arrow_and_spread():
    keys = [f"h/www.site{number}.example" for number in range(5000)] + ["d/é.example", "h/x"]
    hashes = key_hashes(keys)
    assert hashes.dtype == np.uint64 and len(set(hashes.tolist())) == len(keys)
    assert (key_hashes(pa.array(keys).slice(3)) == hashes[3:]).all()
    assert len(set((hashes >> np.uint64(52)).tolist())) > 2700  # uniform high bits fill ~2,890 of 4,096
    with pytest.raises(ValueError, match="empty keys"):
        key_hashes(["h/a", ""])


WORKER = """
import json, sys, numpy as np
from apertus_compliance.optout.lookup import Snapshot
snapshot = Snapshot(sys.argv[1])
assert snapshot.check("https://h1.example/") is not None
index = sys.argv[1] + "/index.hash.u64"
int(np.asarray(snapshot._index_hash).sum())  # touch every page of the index
print("ready", flush=True)
sys.stdin.readline()  # wait until both processes hold the pages
lines, found = open("/proc/self/smaps").read().splitlines(), {}
for number, line in enumerate(lines):
    if line.endswith(index):
        for field in lines[number + 1 : number + 20]:
            name, _, value = field.partition(":")
            if name in ("Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Anonymous"):
                found[name] = int(value.split()[0])
        found["perms"] = line.split()[1]
print(json.dumps(found), flush=True)
sys.stdin.readline()  # stay until both have read their smaps
"""


def test_two_workers_share_the_mapped_pages(tmp_path):
    """Two processes that open one snapshot read the same page-cache pages: the index file is
    mapped shared, each of its pages is counted in both (dirty only because the compile just wrote
    it), and neither process holds a private copy."""
    hosts = [f"h{number}.example" for number in range(3000)]
    observed = datetime(2025, 1, 15)
    content = b"User-agent: *\nDisallow: /\n"
    observations = [Observation("robots", h, "", observed, "ok", sha256_hex(content), f"{h}.txt") for h in hosts]
    with Registry(tmp_path / "registry.duckdb") as registry:
        registry.add(observations, {sha256_hex(content): content})
        compile_snapshot(registry, SnapshotOptions(date(2025, 1, 31), load_agent_list()), tmp_path / "snapshot")
    assert (tmp_path / "snapshot" / "index.hash.u64").stat().st_size == 8 * len(hosts)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path / "snapshot")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    assert [worker.stdout.readline() for worker in workers] == ["ready\n"] * 2  # both touched the index
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    reports = [worker.stdout.readline() for worker in workers]
    for worker in workers:
        worker.communicate("done\n")
    for report in reports:
        found = json.loads(report)
        assert found["perms"] == "r--s"  # shared, read-only, file-backed
        assert found["Anonymous"] == 0 and found["Rss"] == 24, found  # every page of the index, none copied
        assert found["Shared_Clean"] + found["Shared_Dirty"] == found["Rss"], found  # mapped by both workers
        assert found["Pss"] == found["Rss"] // 2, found  # each page counted half to each worker


def test_hosts_whose_hashes_collide_are_told_apart_by_their_keys(tmp_path):
    """Thue-Morse sequences and their complements have equal polynomial hashes modulo 2**64 for any
    odd base (from 1,024 terms): keys whose 8-byte words follow one (after ``h/xxxxxx``, a word of
    its own) collide. The index finds both under one hash, the key text decides."""
    first = "xxxxxx" + "".join(("aaaaaaaa", "bbbbbbbb")[bin(i).count("1") % 2] for i in range(1024))
    second = first.translate(str.maketrans("ab", "ba"))
    assert key_hashes([f"h/{first}", f"h/{second}"]).tolist()[0] == key_hashes([f"h/{second}"]).tolist()[0]
    files = {first: b"User-agent: *\nDisallow: /\n", second: b"User-agent: *\nDisallow: /private/\n"}
    observed = datetime(2025, 1, 15)
    for name, hosts in (("both", [first, second]), ("first-only", [first])):
        with Registry(tmp_path / f"{name}.duckdb") as registry:
            registry.add(
                [Observation("robots", h, "", observed, "ok", sha256_hex(files[h]), f"{h[:8]}.txt") for h in hosts],
                {sha256_hex(files[h]): files[h] for h in hosts},
            )
            compile_snapshot(registry, SnapshotOptions(date(2025, 1, 31), load_agent_list()), tmp_path / name)
    both, first_only = Snapshot(tmp_path / "both"), Snapshot(tmp_path / "first-only")
    urls = [f"https://{first}/a", f"https://{second}/a", f"https://{second}/private/1"]
    found = both.lookup(urls)
    assert found[0].host == first and found[0].rule.text == "Disallow: /"
    assert found[1] is None
    assert found[2].host == second and found[2].rule.text == "Disallow: /private/"
    assert first_only.lookup(urls)[1:] == [None, None]  # the colliding host is not in this snapshot


def test_a_memory_limit_bounds_duckdb_and_changes_no_byte(tmp_path, registry, capsys):
    options = SnapshotOptions(date(2025, 1, 31), load_agent_list())
    plain = compile_snapshot(registry, options, tmp_path / "plain")
    path = str(registry.path)
    registry.close()
    with Registry(path, read_only=True, memory_limit="64MB") as limited:
        (setting,) = limited.con.execute("SELECT current_setting('memory_limit')").fetchone()
    assert setting.endswith("MiB") and float(setting.split()[0]) <= 64, setting
    args = ["optout", "snapshot", "--registry", path, "--as-of", "2025-01-31", "--out"]
    assert run([*args, str(tmp_path / "limited"), "--memory-limit", "64MB"]) == 0
    assert Snapshot(tmp_path / "limited").snapshot_id == plain["snapshot_id"]
    capsys.readouterr()
    assert run([*args, str(tmp_path / "refused"), "--memory-limit", "lots"]) != 0
    assert "memory limit 'lots': expected a number and a unit, such as 512MB or 4GB" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()


def test_compiling_on_several_processes_gives_the_same_bytes(tmp_path, monkeypatch):
    """Rows made by 2 worker processes come back in the registry's order: the same folder, byte for
    byte, also when batches of 7 observations split a host's observations between two processes
    (small batches change how observations.parquet is cut into row groups: both runs use them)."""
    current = Registry.current
    monkeypatch.setattr(Registry, "current", lambda self, as_of: current(self, as_of, batch_size=7))
    with Registry(tmp_path / "registry.duckdb") as registry:
        ingest_bundled_sample(registry)
        options = SnapshotOptions(date(2025, 1, 31), load_agent_list(), "domain")
        alone = compile_snapshot(registry, options, tmp_path / "alone")
        shared = compile_snapshot(registry, options, tmp_path / "shared", workers=2)
    assert shared == alone and alone["counts"]["rules"] > 100
    for name in alone["files"]:
        assert (tmp_path / "shared" / name).read_bytes() == (tmp_path / "alone" / name).read_bytes(), name
