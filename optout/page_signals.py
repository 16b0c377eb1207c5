"""Asset-level signals of one fetched page: its HTTP headers and the ``<head>`` of its HTML.

Three kinds are read:

* TDMRep: ``tdm-reservation: 1|0`` (with ``tdm-policy``) as header or ``<meta name>``;
* IETF aipref: the ``Content-Usage`` header. The attach draft (draft-ietf-aipref-attach-05)
  defines only the header and the robots.txt rule and says it defines no embedding in content,
  so ``<meta http-equiv="Content-Usage">`` is not read;
* ``noai``: ``X-Robots-Tag`` or ``<meta name="robots">`` (informal but widely set). ``noimageai``
  is about images, not training text, so it does not count; ``noindex`` and friends are about
  search and do not count either.

A statement for named crawlers only (``X-Robots-Tag: GPTBot: noai``, ``<meta name="GPTBot"
content="noai">``) keeps them in :attr:`PageSignal.agents`. Nothing here raises, whatever the
bytes (hypothesis checks this).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from html.parser import HTMLParser

from apertus_compliance.optout.aipref import content_usage_reserves_training

MAX_HTML_BYTES = 64 * 1024
"""Only the start of a page is read: statements belong in ``<head>``."""

_AGENT_PREFIX = re.compile(r"[ \t]*([A-Za-z_-]+)[ \t]*:(.*)", re.DOTALL)
_AGENT_NAME = re.compile(r"[a-z_-]+")  # a <meta name> that may be a crawler's product token
# Robots directives written ``name: value``, which must not be read as an agent prefix.
_COLON_DIRECTIVES = frozenset({"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"})


@dataclass(frozen=True, slots=True)
class PageSignal:
    """One statement found on a page: which protocol, whether it reserves, where and for whom."""

    signal: str  # "tdmrep", "aipref" or "noai"
    reserved: bool
    origin: str  # "header" or "meta"
    text: str  # the header line or tag as seen, at most 200 characters
    agents: tuple[str, ...] = ()  # lower-case product tokens it is limited to; () = every agent
    policy: str | None = None  # the tdm-policy URL, if given


def signals_from_headers(headers: Iterable[tuple[str, str]]) -> list[PageSignal]:
    """Signals in response headers (names case-insensitive, any number of lines).

    Several ``Content-Usage`` lines are one field (RFC 9110 §5.3), so they are joined and read
    as one expression; every other line is a statement of its own.
    """
    headers = [(name.strip(), value.strip()) for name, value in headers]
    policy = next((v for n, v in headers if n.lower() == "tdm-policy" and v), None)
    signals: list[PageSignal] = []
    for name, value in headers:
        lowered, text = name.lower(), f"{name}: {value}"[:200]
        if lowered == "tdm-reservation" and value in ("0", "1"):
            signals.append(PageSignal("tdmrep", value == "1", "header", text, policy=policy))
        elif lowered == "x-robots-tag":
            scopes = _noai_scopes(value, ())
            signals.extend(PageSignal("noai", True, "header", text, scope) for scope in scopes)
    usage = [(name, value) for name, value in headers if name.lower() == "content-usage"]
    if usage and (reserved := content_usage_reserves_training(", ".join(v for _, v in usage))) is not None:
        text = f"{usage[0][0]}: {', '.join(v for _, v in usage)}"[:200]
        signals.append(PageSignal("aipref", reserved, "header", text))
    return signals


def signals_from_html(html: bytes) -> list[PageSignal]:
    """Signals in the ``<meta>`` tags of a page's head (first 64 KiB, up to ``</head>``/``<body>``)."""
    parser = _HeadParser()
    try:
        parser.feed(bytes(html[:MAX_HTML_BYTES]).decode("utf-8", "replace"))
    except _EndOfHead:
        pass
    # No close(): it would only turn an unfinished construct at the end into text (never a
    # signal, and a browser drops it too), and CPython's close() is quadratic on such input
    # ("<a " * 20000 took a minute).
    return [replace(s, policy=parser.policy) if s.signal == "tdmrep" else s for s in parser.signals]


def _noai_scopes(value: str, agents: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The agent scopes in which a robots directive list says ``noai``.

    Items are comma-separated; ``agent: directives`` limits that item and the following ones to
    the agent (Google's X-Robots-Tag syntax), so ``GPTBot: noindex, noai`` is GPTBot's.
    """
    scopes: list[tuple[str, ...]] = []
    for item in value.split(","):
        prefix = _AGENT_PREFIX.fullmatch(item)
        if prefix and prefix.group(1).lower() not in _COLON_DIRECTIVES:
            agents, item = (prefix.group(1).lower(),), prefix.group(2)
        if "noai" in item.lower().split() and agents not in scopes:
            scopes.append(agents)
    return scopes


class _EndOfHead(Exception):
    """Raised by the parser at ``</head>`` or ``<body>``: nothing after it is read."""


class _HeadParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.signals: list[PageSignal] = []
        self.policy: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            raise _EndOfHead
        if tag != "meta":
            return
        values = {key: (value or "").strip() for key, value in attrs}
        name, content = values.get("name", "").lower(), values.get("content", "")
        text = (self.get_starttag_text() or "")[:200]
        if name == "tdm-reservation" and content in ("0", "1"):
            self.signals.append(PageSignal("tdmrep", content == "1", "meta", text))
        elif name == "tdm-policy" and content and self.policy is None:
            self.policy = content
        elif _AGENT_NAME.fullmatch(name):  # "robots" speaks for every crawler, "gptbot" for one
            scopes = _noai_scopes(content, () if name == "robots" else (name,))
            self.signals.extend(PageSignal("noai", True, "meta", text, scope) for scope in scopes)

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            raise _EndOfHead

    def parse_marked_section(self, i: int, report: int = 1) -> int:
        # HTML treats "<![...>" outside SVG/MathML as a bogus comment ending at ">"; the
        # standard library's SGML code raises AssertionError on unknown keywords instead.
        return self.parse_bogus_comment(i, report)
