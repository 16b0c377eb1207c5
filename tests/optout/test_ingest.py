"""Ingest of every form, bad input included: each problem is counted and named, nothing stops the rest."""

import json
from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from apertus_compliance.optout.ingest import (
    decode_page_evidence,
    encode_page_evidence,
    ingest_rightsholder_list,
    ingest_robots_dir,
    ingest_robots_parquet,
    ingest_tdmrep,
    ingest_warc,
)
from apertus_compliance.optout.registry import Registry
from apertus_compliance.paths import bundled_data

WARCS = bundled_data() / "sample" / "signals" / "warc"
JAN = datetime(2025, 1, 15)


@pytest.fixture
def registry(tmp_path):
    with Registry(tmp_path / "registry.duckdb") as registry:
        yield registry


def test_robots_folder_bad_files_are_counted_and_named(tmp_path, registry):
    folder = tmp_path / "2025-01-15"
    folder.mkdir()
    (folder / "good.example.txt").write_text("User-agent: GPTBot\nDisallow: /\n")
    (folder / "html.example.txt").write_text("<html><head><title>404</title></head></html>")
    (folder / "binary.example.txt").write_bytes(bytes(range(256)) * 4)
    (folder / "huge.example.txt").write_text("# filler\n" * 70_000)
    (folder / "latin.example.txt").write_bytes("User-agent: *\nDisallow: /caf\xe9\n".encode("latin-1"))
    (folder / "not a host!.txt").write_text("User-agent: *\nDisallow: /\n")
    (folder / "folder.example.txt").mkdir()  # cannot be read as a file
    report = ingest_robots_dir(registry, folder)
    assert report.outcomes == {"robots:ok": 3, "robots:unparsable": 2, "robots:rejected": 1, "robots:unreadable": 1}
    assert report.added == 5
    joined = "\n".join(report.errors)
    for name, problem in [
        ("html.example.txt", "html page"),
        ("binary.example.txt", "binary"),
        ("not a host!.txt", "file name is not a host name"),
        ("folder.example.txt", "cannot read"),
    ]:
        assert f"{name}: {problem}" in joined
    details = dict(registry.con.execute("SELECT host, detail FROM observations").fetchall())
    assert "only the first 512000 bytes parsed" in details["huge.example"]
    assert "not UTF-8" in details["latin.example"]
    assert registry.current(JAN.date()) is not None


def test_observation_date_is_required(tmp_path, registry):
    folder = tmp_path / "robots"
    folder.mkdir()
    with pytest.raises(ValueError, match="give the observation date"):
        ingest_robots_dir(registry, folder)


def test_truncated_warc_keeps_what_came_before(registry):
    report = ingest_warc(registry, WARCS / "truncated.warc.gz")
    assert report.outcomes["warc:truncated"] == 1
    assert report.outcomes["robots:ok"] >= 5
    assert any("cut short" in e and "kestrel-review.org" in e for e in report.errors)


def test_a_file_that_is_no_warc(tmp_path, registry):
    junk = tmp_path / "junk.warc.gz"
    junk.write_bytes(b"this is not a WARC file at all\n" * 10)
    report = ingest_warc(registry, junk)
    assert report.outcomes == {"warc:unreadable": 1}
    assert "junk.warc.gz: unreadable after offset 0" in report.errors[0] and "not a WARC record" in report.errors[0]


def test_warc_page_statements_and_robots_statuses(registry):
    report = ingest_warc(registry, WARCS / "pages.warc.gz")
    assert report.outcomes["robots:unreachable"] == 1 and report.outcomes["robots:absent"] == 1
    assert report.outcomes["page:ok"] >= 10 and report.outcomes["page:no-statement"] >= 1
    sources = [row[0] for row in registry.con.execute("SELECT source FROM observations").fetchall()]
    assert all(source.startswith("pages.warc.gz#urn:uuid:") for source in sources)


@pytest.mark.parametrize(
    "headers, html",
    [
        ([], b"<html><head><meta name='robots' content='noai'></head>"),
        ([("X-Robots-Tag", "noai"), ("tdm-reservation", "1")], b""),
        ([("Content-Usage", "train-ai=n")], b"\r\n\r\n<html>\r\n</html>"),
    ],
)
def test_page_evidence_round_trip(headers, html):
    assert decode_page_evidence(encode_page_evidence(headers, html)) == (headers, html)


def test_robots_parquet(tmp_path, registry):
    path = tmp_path / "robots.parquet"
    pq.write_table(
        pa.table(
            {
                "domain": ["a.example", "B.Example", None],
                "content": ["User-agent: *\nDisallow: /\n", b"User-agent: GPTBot\n", "x"],
            }
        ),
        path,
    )
    with pytest.raises(ValueError, match="observed-at"):
        ingest_robots_parquet(registry, path)
    report = ingest_robots_parquet(registry, path, JAN)
    assert report.outcomes == {"robots:ok": 2, "robots:rejected": 1}
    assert "row 3" in report.errors[0]
    assert sorted(h for (h,) in registry.con.execute("SELECT host FROM observations").fetchall()) == [
        "a.example",
        "b.example",
    ]
    pq.write_table(pa.table({"site": ["a"], "text": ["b"]}), tmp_path / "wrong.parquet")
    with pytest.raises(ValueError, match="expected columns 'domain' and 'content'"):
        ingest_robots_parquet(registry, tmp_path / "wrong.parquet", JAN)


def test_tdmrep_mirror_layout_and_malformed_files(tmp_path, registry):
    (tmp_path / "good.example" / ".well-known").mkdir(parents=True)
    (tmp_path / "good.example" / ".well-known" / "tdmrep.json").write_text('[{"location": "/", "tdm-reservation": 1}]')
    (tmp_path / "bad.example.json").write_text('[{"location": "/", "tdm-reservation": 1},\n {"location": "/x"}]')
    report = ingest_tdmrep(registry, tmp_path, JAN)
    assert report.outcomes == {"tdmrep:ok": 1, "tdmrep:unparsable": 1}
    assert report.errors[0].startswith(f"{tmp_path / 'bad.example.json'}:2:")


def test_rightsholder_lists_in_json(tmp_path, registry):
    path = tmp_path / "requests.json"
    path.write_text(
        json.dumps(
            [
                {"target": "verlag.example", "requested_at": "2024-05-01", "requester": "RH-1"},
                {"target": "https://news.example/archive/", "requested_at": "2024-05-02", "requester": "RH-2"},
                {"target": "ftp://files.example/", "requested_at": "2024-05-03", "requester": "RH-3"},
                {"target": "undated.example", "requester": "RH-4"},
                "not a row",
            ]
        )
    )
    report = ingest_rightsholder_list(registry, path)
    assert report.outcomes == {"rightsholder:ok": 2, "rightsholder:rejected": 3}
    assert [e.split(": ", 1)[0] for e in report.errors] == [f"{path}:3", f"{path}:4", f"{path}:5"]
    (tmp_path / "broken.json").write_text("[{")
    broken = ingest_rightsholder_list(registry, tmp_path / "broken.json")
    assert broken.outcomes == {"rightsholder:rejected": 1} and "invalid JSON" in broken.errors[0]
