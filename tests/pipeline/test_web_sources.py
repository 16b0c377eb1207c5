"""WARC as a real web source: only pages become documents, bodies decoded as browsers decode them.

The rebuild test reads the web fixtures (tests/data/web: a real iana.org capture and a browser-like
capture built from real-looking pages, see PROVENANCE.md); the tables below check each reading
rule of pipeline/web.py on its own.
"""

import gzip
import io
import json
import shutil
import zlib
from pathlib import Path

import brotli
import pyarrow.parquet as pq
import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter

from apertus_compliance.pipeline.lock import conservation_errors, verify_run
from apertus_compliance.pipeline.web import (
    NOT_A_DOCUMENT,
    WebContentError,
    decode_text,
    prescan_meta_charset,
    read_record,
    sniff_encoding,
    undo_content_encoding,
)

WEB = Path(__file__).resolve().parents[1] / "data" / "web"
PAGES = 9  # 8 pages and one text/plain file
NOT_DOCUMENTS = 8  # css, js, png, woff2, json, a 301, a 404, a JavaScript-only shell


def _rows(run_dir: Path, pattern: str) -> list[dict]:
    return [row for path in sorted(run_dir.glob(pattern)) for row in pq.read_table(path).to_pylist()]


@pytest.fixture(scope="module")
def web_run(tmp_path_factory, bundled_snapshot):
    import yaml

    from apertus_compliance.pipeline.rebuild import rebuild
    from apertus_compliance.pipeline.recipe import load_recipe

    root = tmp_path_factory.mktemp("web")
    (root / "sources").mkdir()
    for name in ("captures.warc.gz", "example-iana.org-chunked.warc"):
        shutil.copy(WEB / name, root / "sources" / name)
    recipe = {
        "name": "web-fixtures",
        "seed": 7,
        "tokenizer": "apertus",
        "optout": {"snapshot": str(bundled_snapshot)},
        "sources": [{"id": "crawl", "location": "sources/*.warc*", "format": "warc", "target_tokens": 10**9}],
    }
    (root / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    lock = rebuild(load_recipe(root / "recipe.yaml"), root / "run", workers=1, echo=lambda message: None)
    return root / "run", lock


def test_rebuild_keeps_pages_and_counts_the_rest_under_their_own_reason(web_run):
    run_dir, lock = web_run
    assert conservation_errors(lock) == []
    counts = lock["sources"]["crawl"]["documents"]
    assert counts == {"read": PAGES + NOT_DOCUMENTS + 1, "kept": PAGES, "removed": {NOT_A_DOCUMENT: 8, "robots-txt": 1}}
    removed = {row["url"].rsplit("/", 1)[1]: json.loads(row["detail"]) for row in _rows(run_dir, "removed/*/crawl/*")}
    assert removed["logo.png"]["content_type"] == "image/png" and removed["logo.png"]["bytes_as_sent"] == 68
    assert len(removed["sans.woff2"]["sha256_as_sent"]) == 64 and removed["analytics.js"]["content_encoding"] == [
        "gzip"
    ]
    assert removed["site.css"]["content_encoding"] == ["br"]
    assert removed["old-page"]["http_status"] == 301 and removed["missing"]["why"] == "status"
    assert removed["dashboard"]["why"] == "no main text"
    robots = next(row for row in _rows(run_dir, "removed/robots-txt/crawl/*"))
    assert robots["text"].startswith("User-agent: *\nDisallow: /search")  # gzip undone, kept as text


def test_kept_documents_are_extracted_text_in_the_right_characters(web_run):
    run_dir, _ = web_run
    texts = {row["url"]: row["text"] for row in _rows(run_dir, "mixture/crawl/*.parquet")}
    joined = "\n".join(texts.values())
    for markup in ("<script", "<div", "function(", "font-family", "gtag(", "<meta"):
        assert markup not in joined
    assert "\ufffd" not in joined
    assert "校对：李堃" in texts["https://zh.example.org/udhr/1-3.html"]  # GBK-only characters, labelled GB2312
    french = texts["http://fr.example.net/~dupont/ddh.htm"]
    assert "droits de l’homme" in french and "« Œuvre commune »" in french and "5 €" in french  # windows-1252
    assert "すべての人間は" in texts["https://ja.example.org/udhr.html"]  # <meta charset="Shift_JIS"> only
    assert "Alle Menschen sind frei" in texts["https://de.example.com/menschenrechte/artikel-1"]  # br
    assert "mixing your own" in texts["https://studio.example.com/watercolour/mixing-greens"].lower()  # gzip, br
    assert "The global coordination of the DNS Root" in texts["http://www.iana.org/"]  # real, chunked
    assert texts["https://www.example.org/notes/release-2.4.txt"].startswith("Release notes, version 2.4\n\n")
    news = texts["https://news.example.com/2024/03/14/cycling-bridge"]
    assert "Councillors approved the plan" in news and "We use cookies" not in news
    mail = texts["https://lists.example.org/pipermail/widgets-dev/2019-March/000123.html"]
    assert "<email-pii>" in mail and " at example." not in mail  # archive-written addresses masked


def test_every_kept_count_is_the_released_tokenizers_count_of_the_text_written(web_run):
    from apertus_compliance.pipeline.tokenizer import load_tokenizer

    run_dir, lock = web_run
    released = load_tokenizer("apertus", run_dir)
    rows = _rows(run_dir, "mixture/crawl/*.parquet")
    assert len(rows) == PAGES and lock["tokenizer"]["name"] == "apertus"
    for row in rows:
        assert row["tokens"] == len(released.encode(row["text"], add_special_tokens=False).ids), row["url"]
    assert lock["sources"]["crawl"]["tokens"]["kept"] == sum(row["tokens"] for row in rows)


def test_nothing_is_invalid_and_verify_passes(web_run):
    run_dir, lock = web_run
    assert "invalid" not in lock["sources"]["crawl"]["documents"]["removed"]
    assert verify_run(run_dir, echo=lambda message: None) == []


# --------------------------------------------------------------------------------------------
# reading rules, one by one


@pytest.mark.parametrize(
    "body, content_type, html, expected",
    [
        (b"\xef\xbb\xbfcaf\xc3\xa9", "text/html; charset=windows-1252", True, ("utf-8", "bom")),  # BOM wins
        (b"\xff\xfeh\x00", None, True, ("utf-16-le", "bom")),
        (b"x", "text/html; charset=GB2312", True, ("gbk", "http:GB2312")),
        (b"x", "text/html; charset=ISO-8859-1", True, ("cp1252", "http:ISO-8859-1")),
        (b"x", 'text/html; charset="utf-8"', True, ("utf-8", "http:utf-8")),
        (b'<meta charset="shift_jis">', "text/html", True, ("cp932", "meta:shift_jis")),
        (
            b"<meta charset=bogus-label><p>caf\xe9",
            "text/html",
            True,
            ("cp1252", "default:windows-1252 (not valid utf-8)"),
        ),
        (b'<meta http-equiv="Content-Type" content="text/html; charset=euc-kr">', None, True, ("cp949", "meta:euc-kr")),
        (b'<meta name="description" content="charset=koi8-r is old">', None, True, ("utf-8", "default:utf-8 (valid)")),
        (b'<meta charset="utf-16">', None, True, ("utf-8", "meta:utf-16")),  # a meta cannot switch to UTF-16
        (b'<meta charset="x-user-defined">', None, True, ("cp1252", "meta:x-user-defined")),
        (b" " * 1024 + b'<meta charset="koi8-r">', None, True, ("utf-8", "default:utf-8 (valid)")),  # too late
        (b'<meta charset="koi8-r">', "text/plain", False, ("utf-8", "default:utf-8 (valid)")),  # not HTML
        (b"caf\xc3\xa9", None, True, ("utf-8", "default:utf-8 (valid)")),
        (b"caf\xe9 \x93quoted\x94", None, True, ("cp1252", "default:windows-1252 (not valid utf-8)")),
    ],
)
def test_charset_sniffing(body, content_type, html, expected):
    assert sniff_encoding(body, content_type, html) == expected


def test_decode_replaces_undecodable_bytes_like_a_browser():
    text, detail = decode_text(b"ok \xff\xfe end", "text/plain; charset=utf-8", html=False)
    assert text == "ok \ufffd\ufffd end" and detail["undecodable_bytes_replaced"] is True
    assert decode_text(b"\xef\xbb\xbfhi", None, html=False)[0] == "hi"  # the BOM is not text


def test_prescan_reads_single_quoted_and_unquoted_values():
    assert prescan_meta_charset(b"<META CHARSET='Big5'>") == "Big5"
    assert prescan_meta_charset(b"<meta http-equiv=content-type content='text/html;charset=koi8-r'>") == "koi8-r"
    assert prescan_meta_charset(b"<p>no meta here</p>") is None


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


PAGE = "<html><body><p>Grüße aus Zürich</p></body></html>".encode()


@pytest.mark.parametrize(
    "body, header, undone",
    [
        (gzip.compress(PAGE), "gzip", ["gzip"]),
        (gzip.compress(PAGE), "x-gzip", ["x-gzip"]),
        (zlib.compress(PAGE), "deflate", ["deflate"]),
        (_raw_deflate(PAGE), "deflate", ["deflate"]),
        (brotli.compress(PAGE), "br", ["br"]),
        (gzip.compress(brotli.compress(PAGE)), "br, gzip", ["gzip", "br"]),  # listed in the order applied
        (brotli.compress(gzip.compress(PAGE)), "GZIP,BR", ["br", "gzip"]),
        (PAGE, "identity", []),
        (PAGE, "gzip", ["gzip:not-applied"]),  # an archiver that stored the decoded body
        (PAGE, "br", ["br:not-applied"]),
        (PAGE, "deflate", ["deflate:not-applied"]),
    ],
)
def test_content_encodings_are_undone(body, header, undone):
    assert undo_content_encoding(body, header) == (PAGE, undone)


@pytest.mark.parametrize(
    "body, header, message",
    [
        (brotli.compress(PAGE * 50)[:30], "br", "br body is cut short"),
        (b"\x1f\x8b\x08\x00garbage-garbage-garbage", "gzip", "gzip body is damaged"),
        (b"\xff" * 20, "br", "br body is damaged"),
        (b"\x00\x01\x02", "br", "br body is cut short"),
        (PAGE, "compress", "unknown content encoding 'compress'"),
    ],
)
def test_damaged_encodings_raise_naming_the_coding(body, header, message):
    with pytest.raises(WebContentError, match=message):
        undo_content_encoding(body, header)


def _record(status: str, headers: list[tuple[str, str]], body: bytes, url: str = "https://a.example/p"):
    message = (f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode() + body
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False)
    writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(message), length=len(message)))
    out.seek(0)
    return next(iter(ArchiveIterator(out)))


def test_a_page_without_content_type_is_sniffed_as_html():
    web = read_record(_record("200 OK", [], b"<!DOCTYPE html><html><body><p>A page with no type.</p></body></html>"))
    assert web.removal is None and web.text == "A page with no type." and web.detail["content_type"] == "text/html"


def test_xhtml_empty_and_error_responses():
    web = read_record(
        _record("200 OK", [("Content-Type", "application/xhtml+xml")], b"<html><body><p>XHTML</p></body></html>")
    )
    assert web.removal is None and web.text == "XHTML"
    web = read_record(_record("204 No Content", [("Content-Type", "text/plain")], b""))
    assert web.removal == NOT_A_DOCUMENT and web.detail["why"] == "no text"
    web = read_record(_record("404 Not Found", [("Content-Type", "text/plain")], b"not here"))
    assert web.removal == NOT_A_DOCUMENT and web.detail["why"] == "status" and web.text == "not here"


def test_lock_records_the_extractor(web_run):
    from importlib.metadata import version

    _, lock = web_run
    assert lock["sources"]["crawl"]["extractor"] == {
        "name": "resiliparse",
        "version": version("resiliparse"),
        "main_content": True,
    }


def test_two_workers_write_the_same_bytes(web_run, bundled_snapshot, hashes):
    """Decoding and extraction depend on the page only, so parallelism changes nothing."""
    from apertus_compliance.pipeline.rebuild import rebuild
    from apertus_compliance.pipeline.recipe import load_recipe

    run_dir, _ = web_run
    again = run_dir.parent / "run-2-workers"
    rebuild(load_recipe(run_dir.parent / "recipe.yaml"), again, workers=2, echo=lambda message: None)
    assert hashes(again) == hashes(run_dir)


def test_a_binary_body_is_hashed_not_decoded():
    """An image whose br body is damaged is still just an image: nothing to decode, nothing invalid."""
    web = read_record(_record("200 OK", [("Content-Type", "image/png"), ("Content-Encoding", "br")], b"\xff" * 20))
    assert web.removal == NOT_A_DOCUMENT and web.text == ""
    assert web.detail["bytes_as_sent"] == 20 and web.detail["content_encoding_declared"] == "br"
