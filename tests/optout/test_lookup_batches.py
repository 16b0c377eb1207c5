"""Batch lookups that group URLs by authority: the vectorised parts answer as the per-URL code did."""

import importlib.util
import sys
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apertus_compliance.optout import lookup
from apertus_compliance.optout.agents import load_agent_list
from apertus_compliance.optout.ingest import ingest_bundled_sample
from apertus_compliance.optout.lookup import Snapshot
from apertus_compliance.optout.mapped import MappedText, TextWriter, equal_spans, key_hashes, words
from apertus_compliance.optout.registry import Observation, Registry, sha256_hex
from apertus_compliance.optout.rules import url_path
from apertus_compliance.optout.snapshot import SnapshotOptions, compile_snapshot

_spec = importlib.util.spec_from_file_location(
    "snapshot_v1_reference", Path(__file__).with_name("snapshot_v1_reference.py")
)
v1 = sys.modules.setdefault("snapshot_v1_reference", importlib.util.module_from_spec(_spec))
if not hasattr(v1, "_host"):
    _spec.loader.exec_module(v1)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The bundled sample compiled once, and URLs on its hosts written in many ways."""
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


def test_a_long_batch_is_answered_in_pieces_with_the_same_answers(sample, monkeypatch):
    folder, urls = sample
    expected = Snapshot(folder).lookup(urls)
    monkeypatch.setattr(lookup, "_BATCH", 7)
    assert Snapshot(folder).lookup(urls) == expected
    monkeypatch.setattr(lookup, "_GLOB_TESTS", 1)  # the split globs are forgotten as the batch goes
    assert Snapshot(folder).lookup(urls) == expected
    monkeypatch.setattr(lookup, "_PAIRED_RULES", 3)  # (URL, rule) pairs matched a few at a time
    assert Snapshot(folder).lookup(urls) == expected


def test_a_host_with_thousands_of_rules_and_thousands_of_urls_is_matched_in_bounded_pieces(tmp_path, monkeypatch):
    """A big robots.txt (5,000 rules) and a batch of 20,000 URLs on its host: 100M (URL, rule)
    pairs if matched at once; in pieces, the answers are those of the rules themselves."""
    lines = ["User-agent: *"] + [f"Disallow: /section{n}/" for n in range(5000)] + ["Allow: /section7/open/"]
    content = "\n".join(lines).encode()
    observed = datetime(2025, 1, 15)
    with Registry(tmp_path / "registry.duckdb") as registry:
        registry.add(
            [Observation("robots", "big.example", "", observed, "ok", sha256_hex(content), "big.txt")],
            {sha256_hex(content): content},
        )
        compile_snapshot(registry, SnapshotOptions(date(2025, 1, 31), load_agent_list()), tmp_path / "snapshot")
    urls = [f"https://big.example/section{n % 6000}/page{n}" for n in range(20_000)]
    urls += ["https://big.example/section7/open/x", "https://big.example/section7/closed"]
    sizes = []
    original = Snapshot._deciding

    def recorded(self, paths, pair_path, rule_begins, rule_counts):
        sizes.append(int(rule_counts.sum()))
        return original(self, paths, pair_path, rule_begins, rule_counts)

    monkeypatch.setattr(Snapshot, "_deciding", recorded)
    found = Snapshot(tmp_path / "snapshot").lookup(urls)
    assert max(sizes) <= lookup._PAIRED_RULES and sum(sizes) == 20_002 * 5001
    expected = [int(url.split("/")[3][len("section") :]) < 5000 for url in urls[:-2]] + [False, True]
    assert [answer is not None for answer in found] == expected
    assert found[-1].rule.text == "Disallow: /section7/"


@settings(max_examples=300, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(st.text(alphabet="ab/é\x00", max_size=20), st.text(alphabet="ab/é\x00", max_size=20)),
        min_size=1,
        max_size=30,
    ),
    cut=st.integers(0, 20),
)
def test_spans_compare_as_python_compares_prefixes_and_suffixes(pairs, cut):
    """8 bytes a step: spans of any length, at any offset, multi-byte characters, NUL bytes."""
    left = [a.encode() for a, _ in pairs]
    right = [b.encode() for _, b in pairs]
    a_offsets = np.cumsum([0] + [len(a) for a in left])
    b_offsets = np.cumsum([0] + [len(b) for b in right])
    a = words(np.frombuffer(b"".join(left) + bytes(8), np.uint8))
    b = words(np.frombuffer(b"".join(right) + bytes(8), np.uint8))
    lengths = np.array([min(len(x), len(y), cut) for x, y in zip(left, right, strict=True)])
    prefixes = equal_spans(a, a_offsets[:-1], b, b_offsets[:-1], lengths)
    assert prefixes.tolist() == [x[:n] == y[:n] for x, y, n in zip(left, right, lengths, strict=True)]
    suffixes = equal_spans(a, a_offsets[1:] - lengths, b, b_offsets[1:] - lengths, lengths)
    assert suffixes.tolist() == [
        x[len(x) - n :] == y[len(y) - n :] for x, y, n in zip(left, right, lengths, strict=True)
    ]


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
    recorded = [5053726112526444081, 9849715593959695294]
    assert key_hashes(short).tolist() == recorded
    long_key = "h/" + "x" * 300
    assert key_hashes([*short, long_key]).tolist() == [*recorded, 5548107007981300189]
    assert (
        key_hashes(pa.array(["", *short], pa.string()).slice(1)).tolist() == recorded
    )  # an offset into Arrow's buffers


def _reference_hash(key: str) -> int:
    """docs/snapshot.md's key hash, one key at a time with Python integers."""
    data = key.encode()
    mask = 2**64 - 1
    value = 0
    for start in range(0, len(data), 8):
        value = (value * 0x100000001B3 + int.from_bytes(data[start : start + 8], "little")) & mask
    value = (value + len(data)) & mask
    value ^= value >> 31
    value = (value * 0x9E3779B97F4A7C15) & mask
    return value ^ (value >> 29)


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=20))
def test_key_hashes_are_the_documented_hash(keys):
    assert key_hashes(keys).tolist() == [_reference_hash(key) for key in keys]


def test_paths_are_what_follows_the_authority_up_to_the_fragment():
    urls = ["https://a.b/x\ny#z", "http://a\nb/c", "HTTP://Ü.de/ä?q#f#g", "http://h", "http://h?q;r#s", "ftp://u@h:1;p"]
    urls += ["https://h.example#/frag", "https://h.example//two", "https://é.example/ü/#", "https://h.example/"]
    expected = [url_path(url) for url in urls]
    assert expected[:4] == ["/x\ny", "/c", "/ä?q", "/"] and expected[5] == "/;p"
    array = pa.array(["nonsense", *urls], pa.string()).slice(1)  # an offset into Arrow's buffers
    rows = np.arange(len(urls))
    paths = lookup._path_spans(array, pc.extract_regex(array, lookup._AUTHORITY), rows)
    assert paths.texts(rows) == expected
    assert paths.texts(rows[::-3]) == expected[::-3]
