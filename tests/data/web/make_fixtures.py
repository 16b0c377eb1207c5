"""Writes captures.warc.gz: a browser-like capture built from the pages in pages/ (see PROVENANCE.md).

Every response is written as the raw HTTP message a server sends (status line, headers, body in
its charset and content encoding), so a reader meets what it meets in a real capture: gzip, br,
raw deflate and stacked encodings, GBK labelled GB2312, an unlabelled windows-1252 page, a
``<meta charset>``-only Shift_JIS page, scripts, styles, images, fonts, JSON, redirects, a 404,
a JavaScript-only shell and a robots.txt. Record ids and dates are fixed, so the file is the same
on every run: ``.venv/bin/python tests/data/web/make_fixtures.py``.
"""

from __future__ import annotations

import gzip
import io
import struct
import uuid
import zlib
from pathlib import Path

import brotli
from warcio.warcwriter import WARCWriter

HERE = Path(__file__).parent
PAGES = HERE / "pages"
DATE = "2024-03-15T08:00:00Z"


def page(name: str, charset: str = "utf-8") -> bytes:
    return (PAGES / name).read_text(encoding="utf-8").encode(charset)


def png_1x1() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0\0\0\0\0"))
        + chunk(b"IEND", b"")
    )


def encode(body: bytes, codings: str) -> bytes:
    """Apply ``Content-Encoding`` codings in the order listed (the first was applied first)."""
    for coding in [c.strip() for c in codings.split(",") if c.strip()]:
        if coding == "gzip":
            body = gzip.compress(body, mtime=0)
        elif coding == "br":
            body = brotli.compress(body)
        elif coding == "deflate":  # raw deflate, as many servers send it
            compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
            body = compressor.compress(body) + compressor.flush()
    return body


def http_response(status: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("latin-1") + body


JS = b"(function(){var q=window.dataLayer||[];function t(e){q.push(e)}t({event:'page_view',path:location.pathname});})();\n"
CSS = b"body{font-family:Georgia,serif;margin:0}.site-header{background:#0b3d91;color:#fff}.cookie-consent{position:fixed;bottom:0}\n"
JSON = b'{"most_read":[{"title":"Market hall to reopen after repairs","url":"/news/market-hall"},{"title":"Late goal settles the derby","url":"/sport/derby"}]}'
ROBOTS = b"User-agent: *\nDisallow: /search\n\nUser-agent: GPTBot\nUser-agent: CCBot\nDisallow: /\n\nSitemap: https://news.example.com/sitemap.xml\n"
SPA_SHELL = (
    b'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Dashboard</title>'
    b'<script defer="defer" src="/static/js/main.8f3a2c1b.js"></script></head><body>'
    b'<noscript>You need to enable JavaScript to run this app.</noscript><div id="root"></div></body></html>'
)
PLAIN = (
    "Release notes, version 2.4\n\n"
    "The archive reader now undoes stacked content encodings and reads pages in the charset a "
    "browser would choose. Plain-text responses are kept as they are, without extraction.\n"
).encode()

# (url, status, content type, content encoding, body)
RESPONSES: list[tuple[str, str, str | None, str, bytes]] = [
    (
        "https://news.example.com/2024/03/14/cycling-bridge",
        "200 OK",
        "text/html; charset=utf-8",
        "gzip",
        page("news-article.html"),
    ),
    ("https://news.example.com/static/site.css", "200 OK", "text/css", "br", CSS),
    ("https://news.example.com/static/analytics.js", "200 OK", "application/javascript; charset=utf-8", "gzip", JS),
    ("https://news.example.com/static/logo.png", "200 OK", "image/png", "", png_1x1()),
    (
        "https://news.example.com/fonts/sans.woff2",
        "200 OK",
        "font/woff2",
        "",
        b"wOF2\x00\x01\x00\x00" + bytes(range(64)),
    ),
    ("https://news.example.com/api/most-read.json", "200 OK", "application/json", "gzip", JSON),
    ("https://news.example.com/robots.txt", "200 OK", "text/plain", "gzip", ROBOTS),
    (
        "https://news.example.com/old-page",
        "301 Moved Permanently",
        "text/html",
        "",
        b"<html><body>Moved <a href=/new>here</a></body></html>",
    ),
    (
        "https://news.example.com/missing",
        "404 Not Found",
        "text/html; charset=utf-8",
        "gzip",
        b"<html><body><h1>Page not found</h1><p>Try the search.</p></body></html>",
    ),
    ("https://app.example.com/dashboard", "200 OK", "text/html; charset=utf-8", "br", SPA_SHELL),
    (
        "https://zh.example.org/udhr/1-3.html",
        "200 OK",
        "text/html; charset=GB2312",
        "gzip",
        page("gbk-udhr.html", "gbk"),
    ),
    ("http://fr.example.net/~dupont/ddh.htm", "200 OK", "text/html", "", page("cp1252-unlabelled.html", "cp1252")),
    ("https://ja.example.org/udhr.html", "200 OK", "text/html", "deflate", page("shift-jis-meta.html", "shift_jis")),
    (
        "https://de.example.com/menschenrechte/artikel-1",
        "200 OK",
        "text/html; charset=utf-8",
        "br",
        page("tdmrep-reserved.html"),
    ),
    (
        "https://studio.example.com/watercolour/mixing-greens",
        "200 OK",
        "text/html; charset=utf-8",
        "gzip, br",
        page("noai-robots-meta.html"),
    ),
    ("https://www.example.org/notes/release-2.4.txt", "200 OK", "text/plain; charset=utf-8", "deflate", PLAIN),
    (
        "https://lists.example.org/pipermail/widgets-dev/2019-March/000123.html",
        "200 OK",
        "text/html; charset=us-ascii",
        "gzip",
        page("pipermail-message.html", "ascii"),
    ),
]


def record_id(url: str, kind: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, kind + ' ' + url)}>"


def write_captures(path: Path) -> None:
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    info = writer.create_warcinfo_record(
        "captures.warc.gz", {"software": "make_fixtures.py", "format": "WARC File Format 1.0"}
    )
    info.rec_headers.replace_header("WARC-Record-ID", record_id("captures.warc.gz", "warcinfo"))
    info.rec_headers.replace_header("WARC-Date", DATE)
    writer.write_record(info)
    for url, status, content_type, codings, body in RESPONSES:
        sent = encode(body, codings)
        headers = [("Date", "Fri, 15 Mar 2024 08:00:00 GMT"), ("Server", "nginx")]
        if content_type:
            headers.append(("Content-Type", content_type))
        if codings:
            headers.append(("Content-Encoding", codings))
        headers.append(("Content-Length", str(len(sent))))
        message = http_response(status, headers, sent)
        request = f"GET {url.split('/', 3)[3] and '/' + url.split('/', 3)[3]} HTTP/1.1\r\nHost: {url.split('/')[2]}\r\n"
        request += "Accept-Encoding: gzip, deflate, br\r\nUser-Agent: Mozilla/5.0\r\n\r\n"
        for kind, payload in (("response", message), ("request", request.encode())):
            record = writer.create_warc_record(
                url,
                kind,
                payload=io.BytesIO(payload),
                length=len(payload),
                warc_headers_dict={"WARC-Record-ID": record_id(url, kind), "WARC-Date": DATE},
            )
            writer.write_record(record)
    path.write_bytes(buffer.getvalue())


if __name__ == "__main__":
    write_captures(HERE / "captures.warc.gz")
