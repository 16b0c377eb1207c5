"""optout ingest on real-looking WARC captures: brotli and stacked encodings, charsets, robots.txt.

The captures (tests/data/web, see PROVENANCE.md) hold a TDMRep meta tag in a br body, a robots
``noai`` meta tag in a ``gzip, br`` body and a gzip robots.txt; before pipeline/web.py read bodies,
warcio's Brotli path raised AttributeError (warcio #73) and the tags went unseen.
"""

import gzip
import io
from datetime import date
from pathlib import Path

import brotli
import pytest
from warcio.warcwriter import WARCWriter

from apertus_compliance.optout import Registry, SnapshotOptions, compile_snapshot, load_agent_list
from apertus_compliance.optout.ingest import decode_page_evidence, ingest_warc
from apertus_compliance.optout.lookup import Snapshot

WEB = Path(__file__).resolve().parents[1] / "data" / "web"


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    root = tmp_path_factory.mktemp("web-ingest")
    with Registry(root / "registry.duckdb") as registry:
        report = ingest_warc(registry, WEB / "captures.warc.gz")
        rows = registry.con.execute(
            "SELECT kind, host, url, status, content FROM observations JOIN evidence ON evidence_sha256 = sha256"
        ).fetchall()
    options = SnapshotOptions(as_of=date(2024, 12, 31), agent_list=load_agent_list("apertus-2025-01"))
    with Registry(root / "registry.duckdb", read_only=True) as registry:
        compile_snapshot(registry, options, root / "snapshot")
    return report, rows, Snapshot(root / "snapshot")


def test_compressed_captures_are_ingested_without_errors(ingested):
    report, rows, _ = ingested
    assert report.errors == []
    assert report.outcomes["robots:ok"] == 1
    assert report.outcomes["page:ok"] == 2  # the TDMRep page (br) and the noai page (gzip, br)
    hosts = {(kind, host) for kind, host, *_ in rows}
    assert hosts == {("robots", "news.example.com"), ("page", "de.example.com"), ("page", "studio.example.com")}


def test_page_evidence_is_the_decoded_html(ingested):
    _, rows, _ = ingested
    evidence = {host: content for kind, host, _, _, content in rows if kind == "page"}
    _, head = decode_page_evidence(evidence["de.example.com"])
    assert b'<meta name="tdm-reservation" content="1">' in head
    assert "Menschenrechte".encode() in head  # UTF-8 text, not br bytes
    _, head = decode_page_evidence(evidence["studio.example.com"])
    assert b'content="index, follow, noai, noimageai"' in head


def test_snapshot_reserves_what_the_captures_said(ingested):
    *_, snapshot = ingested
    tdm, noai, robots, free = snapshot.lookup(
        [
            "https://de.example.com/menschenrechte/artikel-1",
            "https://studio.example.com/watercolour/mixing-greens",
            "https://news.example.com/2024/03/14/cycling-bridge",
            "https://zh.example.org/udhr/1-3.html",
        ]
    )
    assert tdm is not None and tdm.signal == "tdmrep"
    assert noai is not None and noai.signal == "noai"
    assert robots is not None and robots.signal == "robots"  # GPTBot and CCBot are disallowed everywhere
    assert free is None


def _warc_with(body: bytes, encoding: str, content_type: str = "text/html; charset=GB2312") -> bytes:
    message = (
        f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Encoding: {encoding}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    record = writer.create_warc_record(
        "https://gb.example.org/page.html",
        "response",
        payload=io.BytesIO(message),
        length=len(message),
        warc_headers_dict={"WARC-Date": "2024-03-15T08:00:00Z"},
    )
    writer.write_record(record)
    return out.getvalue()


def test_gbk_page_labelled_gb2312_with_meta_noai_is_read(tmp_path):
    html = '<html><head><meta name="robots" content="noai"><title>朱镕基 王喆</title></head><body>正文</body></html>'
    path = tmp_path / "gbk.warc.gz"
    path.write_bytes(_warc_with(brotli.compress(html.encode("gbk")), "br"))
    with Registry(tmp_path / "registry.duckdb") as registry:
        report = ingest_warc(registry, path)
        (content,) = registry.con.execute("SELECT content FROM evidence").fetchone()
    assert report.outcomes["page:ok"] == 1 and report.errors == []
    assert "朱镕基 王喆" in decode_page_evidence(content)[1].decode("utf-8")


def test_damaged_compressed_body_is_counted_and_named(tmp_path):
    path = tmp_path / "damaged.warc.gz"
    path.write_bytes(_warc_with(gzip.compress(" ".join(map(str, range(5000))).encode())[:400], "gzip"))
    with Registry(tmp_path / "registry.duckdb") as registry:
        report = ingest_warc(registry, path)
    assert report.outcomes == {"warc:undecodable": 1}
    assert "gb.example.org/page.html: gzip body is cut short" in report.errors[0]
    assert report.not_observations == {"warc:undecodable": 1}
