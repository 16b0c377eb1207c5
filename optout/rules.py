"""Path rules shared by every signal, matched as RFC 9309 matches robots.txt rules.

A robots.txt Allow/Disallow line, a TDMRep ``location``, an aipref ``Content-Usage`` path and a
rights-holder URL prefix are all the same thing: a path pattern (``*`` wildcards, a trailing
``$`` anchor) that reserves or frees the paths it matches. The longest pattern wins and an
allowing rule wins a tie. Rules taken from one URL's own headers or HTML (``exact``) beat every
pattern, which is how "the header overrides the file" is expressed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass


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


def escape_pattern(raw: str | bytes) -> str:
    """Percent-encode non-ASCII octets and upper-case existing escapes, as RFC 9309 asks.

    Byte for byte what google/robotstxt ``MaybeEscapePattern`` does: every octet with the high
    bit set becomes ``%XX`` (upper-case hex) whether or not it is valid UTF-8, so a Latin-1
    ``\\xe9`` gives ``%E9`` (text is taken as its UTF-8 bytes). Existing escapes are not
    decoded: ``/%62az`` stays distinct from ``/baz`` (the reference agrees).
    """
    if isinstance(raw, str):
        if raw.isascii() and "%" not in raw:
            return raw
        raw = raw.encode("utf-8", "surrogatepass")
    if raw.isascii() and 0x25 not in raw:  # an int: `b"%" in raw` is several times slower
        return raw.decode("ascii")
    return _ESCAPE_OR_NON_ASCII.sub(_escaped, raw).decode("ascii")


_ESCAPE_OR_NON_ASCII = re.compile(rb"%[0-9A-Fa-f]{2}|[\x80-\xff]")
"""Scanned left to right like the reference: an escape is taken whole, then a high octet."""


def _escaped(found: re.Match[bytes]) -> bytes:
    octets = found.group()
    return octets.upper() if len(octets) == 3 else b"%%%02X" % octets[0]


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


REGEX_AFTER = 1024
"""Paths a rule set is matched against rule by rule before it is compiled into one regular expression.

Compiling costs about as much as a thousand rule-by-rule checks (``re`` compiles in Python, some
40 us per rule), so a file checked for a few URLs never pays it and a rule set that answers
many URLs (snapshot lookups, a crawler's cached file) does, once.
"""


def by_priority(rules: Sequence[Rule]) -> tuple[Rule, ...]:
    """Rules with a pattern, highest priority first (``Rule.priority``; equal ones keep their order)."""
    return tuple(sorted((r for r in rules if r.pattern), key=lambda r: r.priority, reverse=True))


class CompiledRules:
    """Rules sorted by priority, so the first rule that matches a path is the one that decides.

    A path is matched rule by rule with string methods (``startswith``, ``find``) at first; after
    :data:`REGEX_AFTER` paths, or when :attr:`match` is read, the rules are joined into one
    regular expression whose alternatives are tried in priority order: one ``re`` call per path,
    whatever the number of rules. Both give the same answer (a hypothesis test checks this).
    """

    __slots__ = ("rules", "_tests", "_match", "_paths")

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = by_priority(rules)
        self._tests = tuple((*_pattern_test(rule.pattern), rule) for rule in self.rules)
        self._match: Callable[[str], re.Match | None] | None = None
        self._paths = 0

    @property
    def match(self) -> Callable[[str], re.Match | None]:
        """``re`` match of all rules: ``found.lastindex`` numbers the deciding rule from 1."""
        if self._match is None:
            alternatives = "|".join(f"({_regex(r.pattern)})" for r in self.rules)
            self._match = re.compile(alternatives, re.DOTALL).match if self.rules else _never
        return self._match

    def decide(self, path: str) -> Rule | None:
        """The rule that decides ``path``, or None when no rule matches (the path is free)."""
        if self._match is None:
            self._paths += 1
            if self._paths <= REGEX_AFTER:
                return self._scan(path)
        found = self.match(path)
        return None if found is None else self.rules[found.lastindex - 1]

    def _scan(self, path: str) -> Rule | None:
        for kind, literal, pieces, rule in self._tests:
            if kind is _PREFIX:
                if path.startswith(literal):
                    return rule
            elif kind is _EXACT:
                if path == literal:
                    return rule
            elif _glob_matches(path, literal, pieces, kind is _ANCHORED_GLOB):
                return rule
        return None


_PREFIX, _EXACT, _GLOB, _ANCHORED_GLOB = "prefix", "exact", "glob", "anchored glob"


def _pattern_test(pattern: str) -> tuple[str, str, tuple[str, ...]]:
    """How to match one pattern without a regex: (kind, literal start, the pieces after each ``*``)."""
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    if "*" not in body:
        return (_EXACT if anchored else _PREFIX), body, ()
    first, *rest = body.split("*")
    return (_ANCHORED_GLOB if anchored else _GLOB), first, tuple(rest)


def _glob_matches(path: str, first: str, pieces: tuple[str, ...], anchored: bool) -> bool:
    """RFC 9309 matching of ``first*piece*...*piece[$]``: each piece at its leftmost place after
    the previous one (leftmost is never worse when ``*`` is the only wildcard); with ``$`` the
    last piece must also end the path."""
    if not path.startswith(first):
        return False
    position = len(first)
    for piece in pieces[:-1]:
        found = path.find(piece, position)
        if found == -1:
            return False
        position = found + len(piece)
    last = pieces[-1]
    if anchored:
        return len(path) - len(last) >= position and path.endswith(last)
    return path.find(last, position) != -1


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
