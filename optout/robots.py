"""robots.txt per RFC 9309, read the way Google's reference parser reads it.

Why not protego alone: protego (used in the tests as an oracle and in the benchmark as the
baseline) ends a group at an unknown line, matches ``User-agent: Applebot`` to
``Applebot-Extended`` as a substring, decodes ``%62`` in rules and keeps no rule list that a
snapshot could store. This module parses once into groups of :class:`~.rules.Rule`, which the
snapshot compiles per agent list, and agrees with every RFC case of Google's reference suite.

Never raises: any bytes give a :class:`RobotsTxt` (hypothesis checks this).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from apertus_compliance.optout.rules import CompiledRules, Rule, escape_pattern, url_path

MAX_PARSED_BYTES = 500 * 1024
"""RFC 9309 §2.5: crawlers must parse at least the first 500 KiB; the rest is ignored."""

MAX_LINE_CHARS = 2083 * 8 - 1
"""Longer lines are cut, as the reference parser cuts them."""

_BOM = b"\xef\xbb\xbf"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_PRODUCT_TOKEN = re.compile(r"[A-Za-z0-9_-]*")  # RFC 9309 has no digits; real agents (AI2Bot) do
_DISALLOW_KEYS = ("disallow", "dissallow", "dissalow", "disalow", "diasllow", "disallaw")
EXTENSION_KEYS = ("content-usage", "content-signal")
"""Non-RFC lines kept for other signals: IETF aipref ``Content-Usage``, Cloudflare ``Content-Signal``."""


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
    """A parsed robots.txt: its groups, extension lines and what was odd about the bytes."""

    groups: list[Group]
    directives: list[Directive]
    truncated: bool = False
    replaced_invalid_utf8: bool = False

    def rules_for(self, agent: str) -> tuple[Rule, ...]:
        """The rules that apply to ``agent``: those of the groups that name it, else the ``*`` groups.

        A group naming the agent wins even when it has no rules (then everything is allowed), as
        RFC 9309 §2.2.1 says. Rules of several matching groups are merged.
        """
        return tuple(rule for index in self.groups_for(agent) for rule in self.groups[index].rules)

    def groups_for(self, agent: str) -> tuple[int, ...]:
        """Indices of the groups :meth:`rules_for` merges: agents with equal indices get equal rules."""
        agent = agent.lower()
        specific = tuple(i for i, g in enumerate(self.groups) if agent in g.agents)
        return specific or tuple(i for i, g in enumerate(self.groups) if "*" in g.agents)

    def directives_for(self, agent: str) -> tuple[Directive, ...]:
        """Extension lines that apply to ``agent``: outside any group, or in the groups ``rules_for`` picks."""
        agent = agent.lower()
        named = any(agent in g.agents for g in self.groups)
        wanted = agent if named else "*"
        return tuple(d for d in self.directives if not d.agents or wanted in d.agents)

    def decide(self, agent: str, url: str) -> Rule | None:
        """The rule that decides ``url`` for ``agent``, or None when no rule matches."""
        return CompiledRules(self.rules_for(agent)).decide(url_path(url))

    def allowed(self, agent: str, url: str) -> bool:
        """RFC 9309 verdict for one agent and URL."""
        rule = self.decide(agent, url)
        return rule is None or rule.allow


def looks_like_html(content: bytes) -> bool:
    """An HTML page served as robots.txt (a soft 404, a login page): counted as unparsable."""
    head = content[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml"))


def looks_binary(content: bytes) -> bool:
    """Bytes that are no text at all (NUL bytes, or mostly control characters)."""
    sample = content[:4096]
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample if b < 0x09 or 0x0E <= b < 0x20)
    return control > len(sample) // 10


def parse_robots(content: bytes | str) -> RobotsTxt:
    """Parse robots.txt bytes (or text) into groups; never raises."""
    data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    truncated = len(data) > MAX_PARSED_BYTES
    if truncated:
        data = data[:MAX_PARSED_BYTES]
        data = data[: data.rfind(b"\n") + 1] if b"\n" in data else data
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        text = data.decode("utf-8")
        replaced = False
    except UnicodeDecodeError:
        text = data.decode("utf-8", "replace")
        replaced = True

    groups: list[Group] = []
    directives: list[Directive] = []
    current: Group | None = None
    rules_seen = False  # a rule line closes the run of user-agent lines (RFC 9309 §2.1)
    for number, raw_line in enumerate(_LINE_BREAK.split(text), start=1):
        line = raw_line[:MAX_LINE_CHARS]
        key_value = _key_and_value(line)
        if key_value is None:
            continue
        key, value = key_value
        lowered = key.lower()
        if lowered.startswith(("user-agent", "useragent", "user agent")):
            if current is None or rules_seen:
                current = Group()
                groups.append(current)
                rules_seen = False
            current.agents.append(_agent_token(value))
        elif lowered.startswith("allow") or lowered.startswith(_DISALLOW_KEYS):
            if current is None:
                continue  # rules before any user-agent line belong to nobody
            rules_seen = True
            allow = lowered.startswith("allow")
            pattern = escape_pattern(value)
            current.rules.append(Rule(pattern, allow, number, raw_line.strip()[:200]))
            if allow:
                current.rules.extend(_index_html_alias(pattern, number, raw_line))
        elif lowered in EXTENSION_KEYS:
            agents = tuple(current.agents) if current is not None else ()
            directives.append(Directive(lowered, value, number, raw_line.strip()[:200], agents))
    return RobotsTxt(groups, directives, truncated, replaced)


def _key_and_value(line: str) -> tuple[str, str] | None:
    """Split ``key: value`` (or ``key value`` with one space, a frequent mistake) after dropping comments."""
    line = line.split("#", 1)[0].strip()
    if not line:
        return None
    key, sep, value = line.partition(":")
    if not sep:
        parts = line.split()
        if len(parts) != 2:
            return None
        key, value = parts
    key = key.strip()
    return (key, value.strip()) if key else None


def _agent_token(value: str) -> str:
    """The product token of a user-agent line: ``*`` (global), or letters, digits, ``_`` and ``-``
    up to anything else (``CCBot/2.0`` -> ``ccbot``). RFC 9309 allows no digits in a token, but
    ``AI2Bot`` and ``img2dataset`` are real agents: cutting them at the digit would confuse
    ``AI2Bot`` with any ``AI...`` agent."""
    if value.startswith("*") and (len(value) == 1 or value[1].isspace()):
        return "*"
    return _PRODUCT_TOKEN.match(value).group(0).lower()  # type: ignore[union-attr]


def _index_html_alias(pattern: str, number: int, raw_line: str) -> list[Rule]:
    """``Allow: /dir/index.html`` also allows ``/dir/`` itself (Google's reading; harmless for opt-outs)."""
    slash = pattern.rfind("/")
    if slash == -1 or not pattern[slash:].startswith("/index.htm"):
        return []
    return [Rule(pattern[: slash + 1] + "$", True, number, raw_line.strip()[:200])]
