"""The most relevant domain names of section 2.3, by the rule the Commission's notice states.

The list is "the top 10% of all domain names determined by the size of content scraped" (for
SMEs, the top 5% or 1,000 domain names, whichever is lower). So: *registered* domains
(``blog.example.co.uk`` counts for ``example.co.uk``, public-suffix aware and offline through
``optout.domains.registered_domain``), ranked by the bytes of text *scraped* (every document
read, before any removal: kept and removed documents alike), ties broken by name.

``url_host`` reads a URL's host the way a browser does (userinfo, IPv6 literals, ports, a
trailing dot, IDNA, case); ``bytes_by_domain`` sums a run's shards with DuckDB per URL
authority and folds those (far fewer than documents) into registered domains in Python.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable
from pathlib import Path

__all__ = ["domain_of_host", "rank_domains", "bytes_by_domain", "top_domain_count", "url_host"]

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
TOP_SHARE = 0.10
SME_SHARE = 0.05
SME_LIMIT = 1000


def url_host(url: str | None) -> str | None:
    """The host of ``url``, lower-case, IDNA as Unicode-free ASCII (``xn--``), without port,
    userinfo or trailing dot; IPv6 without brackets; None when there is no readable host."""
    if not url:
        return None
    text = url.strip()
    if _SCHEME.match(text):
        text = text.split(":", 1)[1]
    if not text.startswith("//"):
        return None
    authority = re.split(r"[/?#\\]", text[2:], maxsplit=1)[0]
    return authority_host(authority)


def authority_host(authority: str) -> str | None:
    """The host part of a URL authority ``user:pass@host:port``."""
    host = authority.rpartition("@")[2]  # the last @ ends the userinfo
    if host.startswith("["):
        literal, bracket, _ = host[1:].partition("]")
        if not bracket:
            return None
        try:
            return str(ipaddress.IPv6Address(literal.split("%")[0]))
        except ValueError:
            return None
    host = host.split(":", 1)[0].rstrip(".").lower()
    if not host or any(character.isspace() for character in host):
        return None
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return None
    return host


def domain_of_host(host: str) -> str:
    """The registered domain of a host (``a.b.example.co.uk`` -> ``example.co.uk``); IP addresses
    and hosts without a public suffix stay themselves."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    from apertus_compliance.optout import registered_domain

    return registered_domain(host)


def top_domain_count(domains: int, sme: bool) -> int:
    """How many domain names the list holds: 10% of them, for SMEs 5% or 1,000, whichever is lower
    (rounded up, so that a run with a few domains still lists one)."""
    if domains <= 0:
        return 0
    if sme:
        return min(math.ceil(SME_SHARE * domains), SME_LIMIT)
    return math.ceil(TOP_SHARE * domains)


def rank_domains(sizes: Iterable[tuple[str | None, int, int]]) -> list[tuple[str, int, int]]:
    """``(url or authority host, bytes, documents)`` rows -> ``(registered domain, bytes, documents)``,
    largest first, ties by name. Rows without a readable host are left out (counted by the caller)."""
    totals: dict[str, list[int]] = {}
    for host, size, count in sizes:
        if not host:
            continue
        row = totals.setdefault(domain_of_host(host), [0, 0])
        row[0] += size
        row[1] += count
    return sorted(((name, size, count) for name, (size, count) in totals.items()), key=lambda row: (-row[1], row[0]))


def bytes_by_domain(shards: list[Path]) -> tuple[list[tuple[str, int, int]], int]:
    """Bytes of text and documents per registered domain over ``shards`` (a run's kept and
    removed shards of a source: what was scraped), and the number of documents whose URL has no
    readable host."""
    import duckdb

    if not shards:
        return [], 0
    files = ", ".join("'" + str(path).replace("'", "''") + "'" for path in shards)
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT regexp_extract(url, '^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#\\\\]*)', 1) AS authority, "
            "sum(coalesce(strlen(text), 0)), count(*) "
            f"FROM read_parquet([{files}], union_by_name = true) WHERE url IS NOT NULL GROUP BY 1"
        ).fetchall()
    hosts, unreadable = [], 0
    for authority, size, count in rows:
        host = authority_host(authority) if authority else None
        if host is None:
            unreadable += int(count)
        else:
            hosts.append((host, int(size), int(count)))
    return rank_domains(hosts), unreadable
