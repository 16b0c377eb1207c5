"""Path rules shared by every signal, matched as RFC 9309 matches robots.txt rules.

A robots.txt Allow/Disallow line, a TDMRep ``location``, an aipref ``Content-Usage`` path and a
rights-holder URL prefix are all the same thing: a path pattern (``*`` wildcards, a trailing
``$`` anchor) that reserves or frees the paths it matches. The longest pattern wins and an
allowing rule wins a tie. Rules taken from one URL's own headers or HTML (``exact``) beat every
pattern, which is how "the header overrides the file" is expressed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class Rule:
    """One path rule: ``pattern`` reserves (``allow=False``) or frees the paths it matches."""

    pattern: str
    allow: bool
    line: int | None = None
    text: str = ""
    exact: bool = False

    @property
    def priority(self) -> tuple[bool, int, bool]:
        return (self.exact, len(self.pattern), self.allow)


def escape_pattern(raw: str) -> str:
    """Percent-encode non-ASCII octets and upper-case existing escapes, as RFC 9309 asks.

    Existing escapes are not decoded: ``/%62az`` stays distinct from ``/baz`` (Google's
    reference parser agrees).
    """
    if raw.isascii() and "%" not in raw:
        return raw
    data = raw.encode("utf-8", "surrogatepass")
    out: list[str] = []
    i = 0
    while i < len(data):
        byte = data[i]
        if byte == 0x25 and i + 2 < len(data) and chr(data[i + 1]) in _HEX and chr(data[i + 2]) in _HEX:
            out.append("%" + chr(data[i + 1]).upper() + chr(data[i + 2]).upper())
            i += 3
            continue
        out.append(f"%{byte:02X}" if byte >= 0x80 else chr(byte))
        i += 1
    return "".join(out)


def url_path(url: str) -> str:
    """The path, params and query of ``url`` that robots rules match (Google's reference rules).

    The fragment is dropped, a missing path becomes ``/``, and no decoding happens: callers pass
    URLs as they were crawled.
    """
    start = 2 if url.startswith("//") else 0
    early_path = _path_start(url, start)
    protocol_end = url.find("://", start)
    if protocol_end == -1 or (early_path != -1 and early_path < protocol_end):
        protocol_end = start
    else:
        protocol_end += 3
    begin = _path_start(url, protocol_end)
    if begin == -1:
        return "/"
    hash_pos = url.find("#", start)
    if hash_pos != -1 and hash_pos < begin:
        return "/"
    path = url[begin:] if hash_pos == -1 else url[begin:hash_pos]
    return path if path[0] == "/" else "/" + path


def _path_start(url: str, start: int) -> int:
    """Position of the first ``/``, ``?`` or ``;`` at or after ``start``, or -1 (on the hot path of lookups)."""
    found = url.find("/", start)
    limit = len(url) if found == -1 else found
    for char in "?;":
        position = url.find(char, start, limit)
        if position != -1:
            found = limit = position
    return found


class CompiledRules:
    """Rules sorted by priority and joined into one regular expression.

    Alternatives are tried in priority order at the start of the path, so the first one that
    matches is the rule that decides: one ``re`` call per path, whatever the number of rules.
    """

    __slots__ = ("rules", "match")

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(sorted((r for r in rules if r.pattern), key=lambda r: r.priority, reverse=True))
        alternatives = "|".join(f"({_regex(r.pattern)})" for r in self.rules)
        self.match = re.compile(alternatives, re.DOTALL).match if self.rules else _never

    def decide(self, path: str) -> Rule | None:
        """The rule that decides ``path``, or None when no rule matches (the path is free)."""
        found = self.match(path)
        return None if found is None else self.rules[found.lastindex - 1]


def _never(path: str) -> None:
    return None


def _regex(pattern: str) -> str:
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    return ".*".join(re.escape(piece) for piece in body.split("*")) + (r"\Z" if anchored else "")


def blocks_every_path(rules: Sequence[Rule]) -> Rule | None:
    """The disallowing rule that reserves every path, when nothing frees any path; else None.

    Such rule sets (``Disallow: /`` alone, the common case) are answered per host without
    looking at paths, which is what makes batch lookups fast.
    """
    if any(r.allow for r in rules):
        return None
    for rule in rules:
        everything = rule.pattern and rule.pattern.rstrip("*") in ("", "/")
        if everything and not rule.exact:
            return rule
    return None
