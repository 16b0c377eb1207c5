"""robots.txt per RFC 9309, read byte for byte the way Google's reference parser reads it.

Why not protego alone: protego (used in the tests as an oracle and in the benchmark as the
baseline) ends a group at an unknown line, matches ``User-agent: Applebot`` to
``Applebot-Extended`` as a substring, decodes ``%62`` in rules and keeps no rule list that a
snapshot could store. This module parses once into groups of :class:`~.rules.Rule`, which the
snapshot compiles per agent list, and agrees with Google's reference suite and with the
byte-level cases in ``tests/optout/conformance/robots_bytes.json`` (verdicts of ``robots.cc``
itself), but for two deliberate departures: product tokens keep digits, and the agent asked
about is reduced to its product token (:func:`product_token`).

The file is read as bytes, as google/robotstxt ``robots.cc`` reads it: a (partial) UTF-8
byte-order mark is skipped, lines end at CR, LF or CRLF, a NUL byte ends a line, only ASCII
whitespace is trimmed, and rule bytes that are not ASCII are percent-escaped one by one
(``\\xe9`` -> ``%E9``, valid UTF-8 or not), never decoded or replaced.

Never raises: any bytes give a :class:`RobotsTxt` (hypothesis checks this).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from apertus_compliance.optout.rules import CompiledRules, Rule, escape_pattern, url_path

MAX_PARSED_BYTES = 500 * 1024
"""RFC 9309 §2.5: crawlers must parse at least the first 500 KiB; the rest is ignored."""

MAX_LINE_BYTES = 2083 * 8 - 1
"""Bytes of a line past this are ignored, as the reference parser's line buffer ignores them."""

MAX_CACHED_AGENTS = 64
"""Agents whose compiled rules a parsed file keeps; past that (or as many distinct group sets) it starts over."""

_BOM = b"\xef\xbb\xbf"
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_C_SPACE = " \t\n\r\v\f"  # C isspace(): the only whitespace the reference parser knows
_PRODUCT_TOKEN = re.compile(r"[A-Za-z0-9_-]*")  # the reference has no digits; real agents (AI2Bot) do
_DISALLOW_KEYS = (b"disallow", b"dissallow", b"dissalow", b"disalow", b"diasllow", b"disallaw")
_USER_AGENT_KEYS = (b"user-agent", b"useragent", b"user agent")
EXTENSION_KEYS = ("content-usage", "content-signal")
"""Non-RFC lines kept for other signals: IETF aipref ``Content-Usage``, Cloudflare ``Content-Signal``."""
_EXTENSION_KEYS = tuple(key.encode() for key in EXTENSION_KEYS)


def product_token(agent: str) -> str:
    """The product token a robots.txt group is matched by: ``*`` (all agents), or the leading run
    of letters, digits, ``_`` and ``-``, lower-cased (``CCBot/2.0`` -> ``ccbot``,
    ``Foo Bot`` -> ``foo``).

    Google's ``ExtractUserAgent`` takes ``[A-Za-z_-]``; digits are kept here because cutting
    ``AI2Bot`` at the digit would leave ``ai``, which the reference then never matches to the
    agent ``AI2Bot``: its opt-outs would be lost. ``*`` counts only alone or before whitespace
    (``* FooBot`` is global, ``*FooBot`` names nobody), as in the reference.
    """
    agent = agent.strip(_C_SPACE)
    if agent.startswith("*") and (len(agent) == 1 or agent[1] in _C_SPACE):
        return "*"
    return _PRODUCT_TOKEN.match(agent).group(0).lower()  # type: ignore[union-attr]


@dataclass(frozen=True, slots=True)
class Directive:
    """An extension line (``Content-Usage``, ``Content-Signal``) with the agents it was written for."""

    key: str
    value: str
    line: int
    text: str
    agents: tuple[str, ...]  # product tokens, lower case; ("*",) for global; () outside any group


@dataclass(slots=True)
class Group:
    """A run of user-agent lines and the rules after them."""

    agents: list[str] = field(default_factory=list)  # lower-case product tokens, "*" for global
    rules: list[Rule] = field(default_factory=list)


@dataclass(slots=True)
class RobotsTxt:
    """A parsed robots.txt: its groups, extension lines and what was odd about the bytes.

    Rules are sorted and compiled once per agent and kept (up to :data:`MAX_CACHED_AGENTS`), so
    checking many URLs against one parsed file costs only the matching (see
    :class:`~.rules.CompiledRules`). A parsed file is not meant to be changed afterwards.
    """

    groups: list[Group]
    directives: list[Directive]
    truncated: bool = False
    invalid_utf8: bool = False  # some bytes are not UTF-8; rules keep them percent-escaped
    _compiled: dict[str | tuple[int, ...], CompiledRules] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def rules_for(self, agent: str) -> tuple[Rule, ...]:
        """The rules that apply to ``agent``: those of the groups that name it, else the ``*`` groups.

        A group naming the agent wins even when it has no rules (then everything is allowed), as
        RFC 9309 §2.2.1 says. Rules of several matching groups are merged.
        """
        return tuple(rule for index in self.groups_for(agent) for rule in self.groups[index].rules)

    def groups_for(self, agent: str) -> tuple[int, ...]:
        """Indices of the groups :meth:`rules_for` merges: agents with equal indices get equal rules.

        ``agent`` is reduced to its :func:`product_token` first; one without a token (``/x``)
        is named by no group and gets the ``*`` groups.
        """
        token = product_token(agent)
        specific = tuple(i for i, g in enumerate(self.groups) if token in g.agents) if token else ()
        return specific or tuple(i for i, g in enumerate(self.groups) if "*" in g.agents)

    def directives_for(self, agent: str) -> tuple[Directive, ...]:
        """Extension lines that apply to ``agent``: outside any group, or in the groups ``rules_for`` picks."""
        token = product_token(agent)
        named = bool(token) and any(token in g.agents for g in self.groups)
        wanted = token if named else "*"
        return tuple(d for d in self.directives if not d.agents or wanted in d.agents)

    def compiled_for(self, agent: str) -> CompiledRules:
        """The rules of ``agent`` compiled into one matcher, made on first use and then kept.

        Agents that get the same groups (most get the ``*`` groups) share one matcher.
        """
        compiled = self._compiled.get(agent)
        if compiled is None:
            if len(self._compiled) >= 2 * MAX_CACHED_AGENTS:
                self._compiled.clear()
            groups = self.groups_for(agent)
            compiled = self._compiled.get(groups)
            if compiled is None:
                rules = [rule for index in groups for rule in self.groups[index].rules]
                compiled = self._compiled[groups] = CompiledRules(rules)
            self._compiled[agent] = compiled
        return compiled

    def decide(self, agent: str, url: str) -> Rule | None:
        """The rule that decides ``url`` for ``agent``, or None when no rule matches."""
        return self.compiled_for(agent).decide(url_path(url))

    def allowed(self, agent: str, url: str) -> bool:
        """RFC 9309 verdict for one agent and URL (URLs are taken percent-encoded, as crawled)."""
        rule = self.compiled_for(agent).decide(url_path(url))
        return rule is None or rule.allow


def looks_like_html(content: bytes) -> bool:
    """An HTML page served as robots.txt (a soft 404, a login page): counted as unparsable."""
    head = content[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml"))


def looks_binary(content: bytes) -> bool:
    """Bytes that are no text at all (mostly control characters, NUL included).

    A few NUL bytes do not make a file binary: the reference parser reads such a file, ending
    each line at its NUL, and so does :func:`parse_robots`. Trailing NUL padding is not counted.
    """
    sample = content[:4096].rstrip(b"\x00")
    if not sample:
        return False
    control = sum(1 for b in sample if b < 0x09 or 0x0E <= b < 0x20)
    return control > len(sample) // 10


def parse_robots(content: bytes | str) -> RobotsTxt:
    """Parse robots.txt bytes (or text, read as its UTF-8 bytes) into groups; never raises."""
    data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else bytes(content)
    truncated = len(data) > MAX_PARSED_BYTES
    if truncated:
        data = data[:MAX_PARSED_BYTES]
        data = data[: data.rfind(b"\n") + 1] if b"\n" in data else data
    data = data[_bom_length(data) :]
    invalid_utf8 = not data.isascii() and not _is_utf8(data)
    has_nul = b"\x00" in data

    groups: list[Group] = []
    directives: list[Directive] = []
    current: Group | None = None
    rules_seen = False  # a rule line closes the run of user-agent lines (RFC 9309 §2.1)
    for number, line in enumerate(_LINE_BREAK.split(data), start=1):
        if len(line) > MAX_LINE_BYTES:
            line = line[:MAX_LINE_BYTES]
        if has_nul:
            line = line.partition(b"\x00")[0]
        key_value = _key_and_value(line)
        if key_value is None:
            continue
        key, value = key_value
        lowered = key.lower()
        if lowered.startswith(_USER_AGENT_KEYS):
            if current is None or rules_seen:
                current = Group()
                groups.append(current)
                rules_seen = False
            current.agents.append(product_token(value.decode("latin-1")))
        elif lowered.startswith(b"allow") or lowered.startswith(_DISALLOW_KEYS):
            if current is None:
                continue  # rules before any user-agent line belong to nobody
            rules_seen = True
            allow = lowered.startswith(b"allow")
            pattern = escape_pattern(value)
            current.rules.append(Rule(pattern, allow, number, _line_text(line)))
            if allow:
                current.rules.extend(_index_html_alias(pattern, number, line))
        elif lowered in _EXTENSION_KEYS:
            agents = tuple(current.agents) if current is not None else ()
            text = value.decode("utf-8", "replace")
            directives.append(Directive(lowered.decode(), text, number, _line_text(line), agents))
    return RobotsTxt(groups, directives, truncated, invalid_utf8)


def _bom_length(data: bytes) -> int:
    """Length of the (possibly partial) UTF-8 byte-order mark the file starts with: the
    reference skips ``\\xEF``, ``\\xEF\\xBB`` and ``\\xEF\\xBB\\xBF`` alike."""
    length = 0
    while length < len(_BOM) and data[length : length + 1] == _BOM[length : length + 1]:
        length += 1
    return length


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _key_and_value(line: bytes) -> tuple[bytes, bytes] | None:
    """Split ``key: value`` after dropping the comment, as the reference does: the first colon
    separates; without one, a single run of spaces or tabs between exactly two words does (a
    frequent mistake). Only ASCII whitespace is trimmed (``bytes.strip``): a no-break space
    stays part of the key or value."""
    line = line.partition(b"#")[0].strip()
    if not line:
        return None
    separator = line.find(b":")
    if separator == -1:
        separator = _first_space_or_tab(line)
        if separator == -1:
            return None
        second_word = line[separator:].lstrip(b" \t")
        if _first_space_or_tab(second_word) != -1:
            return None
    key = line[:separator].strip()
    return (key, line[separator + 1 :].strip()) if key else None


def _first_space_or_tab(line: bytes) -> int:
    space, tab = line.find(b" "), line.find(b"\t")
    return tab if space == -1 else space if tab == -1 else min(space, tab)


def _line_text(line: bytes) -> str:
    """The line as read (up to a NUL byte), for audits: decoded with replacement, at most 200 characters."""
    return line.strip().decode("utf-8", "replace")[:200]


def _index_html_alias(pattern: str, number: int, line: bytes) -> list[Rule]:
    """``Allow: /dir/index.html`` also allows ``/dir/`` itself (Google's reading; harmless for opt-outs)."""
    slash = pattern.rfind("/")
    if slash == -1 or not pattern[slash:].startswith("/index.htm"):
        return []
    return [Rule(pattern[: slash + 1] + "$", True, number, _line_text(line))]
