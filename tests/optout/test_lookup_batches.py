"""Batch lookups that group URLs by authority: the vectorised parts answer as the per-URL code did."""

import importlib.util
import re
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from apertus_compliance.optout import lookup
from apertus_compliance.optout.agents import load_agent_list
from apertus_compliance.optout.ingest import ingest_bundled_sample
from apertus_compliance.optout.lookup import Snapshot
from apertus_compliance.optout.mapped import MappedText, TextWriter, key_hashes
from apertus_compliance.optout.registry import Registry
from apertus_compliance.optout.snapshot import SnapshotOptions, compile_snapshot

_spec = importlib.util.spec_from_file_location(
    "snapshot_v1_reference", Path(__file__).with_name("snapshot_v1_reference.py")
)
v1 = sys.modules.setdefault("snapshot_v1_reference", importlib.util.module_from_spec(_spec))
if not hasattr(v1, "_host"):
    _spec.loader.exec_module(v1)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The bundled sample compiled once (format 2), and URLs on its hosts written in many ways."""
    folder = tmp_path_factory.mktemp("sample")
    with Registry(folder / "registry.duckdb") as registry:
        ingest_bundled_sample(registry)
        hosts = [row[0] for row in registry.con.execute("SELECT DISTINCT host FROM observations").fetchall()]
        compile_snapshot(registry, SnapshotOptions(date(2025, 1, 31), load_agent_list()), folder / "snapshot")
    paths = ["/", "/private/x", "/wp-admin/a#frag", "/a.pdf", "?q=1", ";p", "/x\ny", ""]
    authorities = ["{}", "www.{}", "User@{}.:8080", "{}:443", "a@b@{}"]
    urls = [f"https://{a.format(host.upper())}{path}" for host in hosts for a in authorities for path in paths]
    urls += ["nonsense", "", "https://", "http://[::1]:80/x", "https://@/", "https://unknown.example/a"]
    return folder / "snapshot", urls


def test_odd_authorities_give_the_hosts_format_1_gives():
    authorities = [None, "", ".", "@", "[", "[::1]:80", "u@[::1", "a.B.:80", "x@y@z.com.", "[a]b]:1", "\n@a", "plain"]
    found = lookup._hosts(pa.array(authorities, pa.string())).to_pylist()
    assert found == [v1._host(authority) for authority in authorities]
    assert found[5] == "[::1]" and found[8] == "z.com" and found[11] == "plain"


def test_a_batch_answers_as_its_urls_one_by_one(sample):
    folder, urls = sample
    batch = Snapshot(folder).lookup(urls)
    single = Snapshot(folder)
    one_by_one = [single.lookup([url])[0] for url in urls]
    assert batch == one_by_one
    assert Snapshot(folder).lookup(pa.array(urls, pa.large_string())) == batch
    assert Snapshot(folder).lookup([]) == []
    assert sum(answer is not None for answer in batch) > 50  # the sample reserves plenty
    assert {answer.signal for answer in batch if answer is not None} >= {"invalid-url", "robots"}


def test_batches_past_the_plan_cache_are_answered_whole(sample, monkeypatch):
    folder, urls = sample
    expected = Snapshot(folder).lookup(urls)
    monkeypatch.setattr(lookup, "_PLANNED_AUTHORITIES", 5)
    small = Snapshot(folder)
    assert small.lookup(urls[:40]) == expected[:40]
    assert small.lookup(urls) == expected  # planned authorities of the last batch are dropped, not lost
    assert len(small._plans) <= len(set(urls))


def test_mapped_text_compares_values_in_bulk(tmp_path):
    writer = TextWriter(tmp_path, "keys")
    writer.write(["h/a.com", "h/b.org", "", "h/é.de"])
    writer.close()
    text = MappedText(tmp_path, "keys")
    same = text.equal(np.array([0, 1, 2, 3, 0]), pa.array(["h/a.com", "h/b.orx", "", "h/é.de", "h/a.co"]))
    assert same.tolist() == [True, False, True, True, False]


def test_key_hashes_are_those_snapshots_were_written_with():
    """Snapshot ids hash the index: reading keys through Arrow's buffers keeps the recorded values."""
    short = ["h/a.com", "d/é.example"]
    recorded = [6808239822116001282, 12957999070101584655]
    assert key_hashes(short).tolist() == recorded
    long_key = "h/" + "x" * 300
    assert key_hashes([*short, long_key]).tolist() == [*recorded, 17475984305275068575]


def test_paths_are_what_follows_the_authority_up_to_the_fragment():
    urls = ["https://a.b/x\ny#z", "http://a\nb/c", "HTTP://Ü.de/ä?q#f#g", "http://h", "http://h?q;r#s", "ftp://u@h:1;p"]
    expected = [url[re.match(lookup._AUTHORITY, url).end() :].partition("#")[0] for url in urls]
    assert lookup._paths(pa.array(urls, pa.string())).to_pylist() == expected
    assert expected[0] == "/x\ny" and expected[2] == "/ä?q"
