"""From one WARC record to a document, or to a reasoned removal: what a browser would have shown.

Real captures are mostly not documents: a browser capture of one site is scripts, styles, images
and JSON around a few pages. Here only HTML (``text/html``, ``application/xhtml+xml``) and
``text/plain`` responses with a 2xx status become documents; every other record is removed as
``not-a-document`` (its content type and status in the detail), and robots.txt captures as
``robots-txt`` (they belong to the opt-out registry: ``optout ingest``), never as ``invalid``.

Bodies are read raw and decoded here, not by warcio: warcio's Brotli support breaks with Brotli
1.2 (warcio issue #73: ``AttributeError`` on ``unused_data``) and it silently hands back partly
decoded or still-compressed bytes on errors. ``Content-Encoding`` lists (``gzip, br``) are
undone in reverse order. Characters follow the WHATWG encoding sniffing algorithm, as browsers
do: a byte-order mark, then the HTTP ``charset``, then ``<meta charset>`` or ``http-equiv`` in
the first 1024 bytes, then UTF-8 when the bytes are valid UTF-8, else windows-1252 (the
browsers' default for most locales). Labels go through the WHATWG table (``webencodings``), so
``GB2312`` is read as GBK and ``ISO-8859-1`` as windows-1252, as every browser reads them.

Main text comes from Resiliparse's main-content extraction (see BENCHMARKS.md "HTML main-text
extraction" for the measurement against trafilatura): deterministic per page, so the output is
the same on any number of workers.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass, field
from functools import lru_cache

import webencodings

from apertus_compliance.errors import ApertusError

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = HTML_TYPES | {"text/plain"}
NOT_A_DOCUMENT = "not-a-document"
ROBOTS_TXT = "robots-txt"
WEB_REMOVALS = (NOT_A_DOCUMENT, ROBOTS_TXT)
"""The reasons a WARC record is removed without being invalid."""
MAX_DECODED_BYTES = 64 * 1024 * 1024
"""A body that decompresses to more than this is refused (a compression bomb is not a page)."""
PRESCAN_BYTES = 1024
"""WHATWG: ``<meta charset>`` counts only in the first 1024 bytes."""
EXTRACTOR = "resiliparse"

_META = re.compile(rb"<meta[\s/]([^>]*)>", re.IGNORECASE)
_ATTRIBUTE = re.compile(rb"""([^\s=/>]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]*))?""")
_CHARSET_PARAMETER = re.compile(rb"""charset\s*=\s*["']?([^\s"';]+)""", re.IGNORECASE)
_TEXTUAL_WORDS = ("json", "javascript", "ecmascript", "xml")


class WebContentError(ApertusError, ValueError):
    """A body whose content encoding cannot be undone (corrupt or truncated compressed data)."""


@dataclass
class WebRecord:
    """One response as a browser would read it, and what becomes of it.

    ``removal`` is None for a document (``text`` is its main text), else the reason it goes to
    ``removed/``; ``detail`` is the evidence (content type, status, charset and where it came
    from, encodings undone, extractor). ``html`` is the decoded page the text was extracted from.
    """

    text: str
    removal: str | None
    detail: dict = field(default_factory=dict)
    html: str | None = None


def media_type(content_type: str | None) -> str:
    """``text/html; charset=x`` -> ``text/html`` (lower case; empty when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _body_stream(record):  # noqa: ANN001, ANN202 (warcio record and reader)
    """The HTTP body as it was sent, de-chunked and still content-encoded (warcio never decodes it)."""
    from warcio.bufferedreaders import ChunkedDataReader

    headers = record.http_headers
    if headers is not None and (headers.get_header("Transfer-Encoding") or "").lower() == "chunked":
        return ChunkedDataReader(record.raw_stream, decomp_type=None)
    return record.raw_stream


def http_body(record) -> bytes:  # noqa: ANN001 (warcio record)
    """The whole HTTP body as it was sent (see :func:`_body_stream`)."""
    return _body_stream(record).read()


def _hash_body(record) -> dict:  # noqa: ANN001 (warcio record)
    """Size and sha256 of a body that is no document, read in blocks: a video is not held in memory."""
    stream, digest, size = _body_stream(record), hashlib.sha256(), 0
    while block := stream.read(1 << 20):
        digest.update(block)
        size += len(block)
    return {"bytes_as_sent": size, "sha256_as_sent": digest.hexdigest()}


def undo_content_encoding(body: bytes, encodings: str | None) -> tuple[bytes, list[str]]:
    """Undo ``Content-Encoding`` (``gzip``, ``x-gzip``, ``deflate``, ``br``, stacked as listed).

    Returns the bytes and the encodings actually undone. A coding that is declared but whose
    bytes are plainly not in it (no gzip magic, or markup that fails to decompress: some
    archivers store decoded bodies and keep the header) is skipped and named
    ``<coding>:not-applied``. Damaged compressed data raises :class:`WebContentError`.
    """
    undone: list[str] = []
    codings = [c.strip().lower() for c in (encodings or "").split(",") if c.strip()]
    for coding in reversed(codings):
        if coding in ("identity", ""):
            continue
        if coding in ("gzip", "x-gzip"):
            if not body.startswith(b"\x1f\x8b"):
                undone.append(f"{coding}:not-applied")
                continue
            body = _inflate(body, zlib.MAX_WBITS | 16, coding)
        elif coding in ("deflate", "br"):
            try:
                body = _unbrotli(body) if coding == "br" else _undeflate(body)
            except WebContentError:
                if not _looks_decoded(body):
                    raise
                undone.append(f"{coding}:not-applied")
                continue
        else:
            raise WebContentError(f"unknown content encoding {coding!r}")
        undone.append(coding)
    return body, undone


def _looks_decoded(body: bytes) -> bool:
    """Markup or JSON as stored by an archiver that decoded the body and kept the header."""
    return body.lstrip()[:1] in (b"<", b"{", b"[")


def _undeflate(body: bytes) -> bytes:
    """RFC 9110 says zlib-wrapped deflate; many servers send it raw."""
    zlib_wrapped = len(body) >= 2 and (body[0] & 0x0F) == 8 and int.from_bytes(body[:2], "big") % 31 == 0
    return _inflate(body, zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS, "deflate")


def _inflate(body: bytes, wbits: int, coding: str) -> bytes:
    decompressor = zlib.decompressobj(wbits)
    try:
        data = decompressor.decompress(body, MAX_DECODED_BYTES + 1)
    except zlib.error as error:
        raise WebContentError(f"{coding} body is damaged ({error})") from error
    if len(data) > MAX_DECODED_BYTES:
        raise WebContentError(f"{coding} body decodes to more than {MAX_DECODED_BYTES} bytes")
    if not decompressor.eof:
        raise WebContentError(f"{coding} body is cut short ({len(body)} bytes give no complete stream)")
    return data


def _unbrotli(body: bytes) -> bytes:
    import brotli

    decompressor = brotli.Decompressor()
    chunks, size = [], 0
    try:
        data = decompressor.process(body, output_buffer_limit=MAX_DECODED_BYTES + 1)
        while True:
            chunks.append(data)
            size += len(data)
            if size > MAX_DECODED_BYTES:
                raise WebContentError(f"br body decodes to more than {MAX_DECODED_BYTES} bytes")
            if decompressor.is_finished() or decompressor.can_accept_more_data():
                break
            data = decompressor.process(b"", output_buffer_limit=MAX_DECODED_BYTES + 1)
    except brotli.error as error:
        raise WebContentError(f"br body is damaged ({error})") from error
    if not decompressor.is_finished():
        raise WebContentError(f"br body is cut short ({len(body)} bytes give no complete stream)")
    return b"".join(chunks)


@lru_cache(maxsize=256)
def _whatwg(label: str) -> webencodings.Encoding | None:
    encoding = webencodings.lookup(label)
    if encoding is None or encoding.name == "replacement":
        return None
    return encoding


def prescan_meta_charset(head: bytes) -> str | None:
    """The charset a ``<meta charset>`` or ``<meta http-equiv=content-type>`` declares in ``head``."""
    for meta in _META.finditer(head[:PRESCAN_BYTES]):
        attributes = {name.lower(): value.strip(b"\"'").strip() for name, value in _ATTRIBUTE.findall(meta.group(1))}
        if attributes.get(b"charset"):
            return attributes[b"charset"].decode("ascii", "replace")
        if attributes.get(b"http-equiv", b"").lower() == b"content-type":
            found = _CHARSET_PARAMETER.search(attributes.get(b"content", b""))
            if found:
                return found.group(1).decode("ascii", "replace")
    return None


def sniff_encoding(body: bytes, content_type: str | None, html: bool) -> tuple[str, str]:
    """(Python codec name, where it came from): BOM, HTTP header, meta, or the UTF-8/windows-1252 default."""
    for bom, name in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if body.startswith(bom):
            return name, "bom"
    declared = re.search(r"charset\s*=\s*[\"']?([^\s\"';]+)", content_type or "", re.IGNORECASE)
    if declared and (encoding := _whatwg(declared.group(1))) is not None:
        return encoding.codec_info.name, f"http:{declared.group(1)}"
    if html and (label := prescan_meta_charset(body)) is not None and (encoding := _whatwg(label)) is not None:
        name = encoding.name
        if name in ("utf-16be", "utf-16le"):  # WHATWG: a meta cannot switch to UTF-16
            name = "utf-8"
        elif name == "x-user-defined":
            name = "windows-1252"
        return _whatwg(name).codec_info.name, f"meta:{label}"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "cp1252", "default:windows-1252 (not valid utf-8)"
    return "utf-8", "default:utf-8 (valid)"


def decode_text(body: bytes, content_type: str | None, html: bool) -> tuple[str, dict]:
    """The body as text, as a browser decodes it (undecodable bytes become U+FFFD, never an error)."""
    codec, source = sniff_encoding(body, content_type, html)
    if source == "bom":
        body = body[3:] if codec == "utf-8" else body[2:]
    detail = {"charset": codec, "charset_from": source}
    try:
        return body.decode(codec), detail
    except UnicodeDecodeError:
        text = body.decode(codec, errors="replace")
    detail["undecodable_bytes_replaced"] = True
    return text, detail


def extract_main_text(html: str) -> str:
    """Main content of an HTML page as plain text (Resiliparse main-content heuristics)."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLParserException

    try:
        return extract_plain_text(
            html, preserve_formatting=True, main_content=True, list_bullets=True, alt_texts=False, links=False
        ).strip()
    except HTMLParserException as error:
        raise WebContentError(f"HTML that cannot be parsed ({error})") from error


def is_robots_txt(url: str | None) -> bool:
    """A capture of a site's robots.txt (the path, whatever the query)."""
    from urllib.parse import urlsplit

    try:
        return urlsplit(url or "").path == "/robots.txt"
    except ValueError:
        return False


def read_record(record) -> WebRecord:  # noqa: ANN001 (warcio record)
    """Classify, decode and extract one ``response``/``resource``/``conversion`` record.

    Raises :class:`WebContentError` only for a body whose compression is damaged; everything a
    browser would show or skip is a :class:`WebRecord`.
    """
    url = record.rec_headers.get_header("WARC-Target-URI")
    http = record.http_headers if record.rec_type == "response" else None
    if http is not None:
        content_type, status = http.get_header("Content-Type"), http.get_statuscode()
        codings = http.get_header("Content-Encoding")
    else:
        content_type, status, codings = record.rec_headers.get_header("Content-Type"), None, None
    kind = media_type(content_type)
    detail: dict = {"content_type": kind or None}
    if status is not None:
        detail["http_status"] = int(status) if str(status).isdigit() else status
    robots = is_robots_txt(url)
    if kind and not robots and not _textual(kind):  # images, fonts, video...: hashed, never decoded
        declared = {"content_encoding_declared": codings} if codings else {}
        return WebRecord("", NOT_A_DOCUMENT, detail | _hash_body(record) | declared | {"why": "content type"})
    body, undone = undo_content_encoding(http_body(record), codings)
    if not kind and http is not None and body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
        kind = detail["content_type"] = "text/html"  # no Content-Type: browsers sniff, and this is what they find
    detail |= {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    if undone:
        detail["content_encoding"] = undone
    html = kind in HTML_TYPES
    if robots:
        text, charset = decode_text(body, content_type, html=False)
        return WebRecord(text, ROBOTS_TXT, detail | charset)
    if kind not in TEXT_TYPES or (status is not None and not str(status).startswith("2")):
        # Text that is no document (scripts, styles, JSON, error pages) is kept as read.
        kept = decode_text(body, content_type, html=False)[0] if _textual(kind) else ""
        return WebRecord(kept, NOT_A_DOCUMENT, detail | {"why": "status" if kind in TEXT_TYPES else "content type"})
    text, charset = decode_text(body, content_type, html)
    detail |= charset
    if not html:
        if not text.strip():
            return WebRecord(text, NOT_A_DOCUMENT, detail | {"why": "no text"})
        return WebRecord(text, None, detail)
    extracted = extract_main_text(text)
    detail["extractor"] = EXTRACTOR
    if not extracted:
        return WebRecord(text, NOT_A_DOCUMENT, detail | {"why": "no main text"}, html=text)
    return WebRecord(extracted, None, detail, html=text)


def _textual(kind: str) -> bool:
    return kind.startswith("text/") or any(word in kind for word in _TEXTUAL_WORDS)


def extractor_description() -> dict:
    """What the lock records about HTML extraction: the library and its version."""
    from importlib.metadata import version

    return {"name": EXTRACTOR, "version": version("resiliparse"), "main_content": True}
