"""Compile the registry, as of a date and for an agent list, into an immutable snapshot.

A snapshot is a folder: ``rules.parquet`` (every rule that can reserve a URL, with the
observation it came from), ``groups.parquet`` and ``rulesets.parquet`` (an index of those rules
for lookups: which rule sets each host has, and each distinct rule set once),
``observations.parquet`` (every observation that counted as of the date, reserving or not) and
``manifest.json`` (as-of date, agent list, granularity, counts per
signal, file hashes and ``snapshot_id``, the sha256 of the rest of the manifest). The same
registry content, date and options give the same bytes, so the id pins a rebuild's opt-outs.

Retroactive by construction: a snapshot has no notion of crawl date. Whatever the latest
observation before the as-of date says applies to documents of every crawl.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import tldextract

from apertus_compliance import __version__
from apertus_compliance.optout.agents import AgentList
from apertus_compliance.optout.aipref import (
    content_signal_reserves_training,
    content_usage_reserves_training,
    split_path,
)
from apertus_compliance.optout.ingest import decode_page_evidence
from apertus_compliance.optout.page_signals import signals_from_headers, signals_from_html
from apertus_compliance.optout.registry import Registry, sha256_hex
from apertus_compliance.optout.robots import RobotsTxt, parse_robots
from apertus_compliance.optout.rules import Rule, escape_pattern, url_path
from apertus_compliance.optout.tdmrep import TdmRepError, parse_tdmrep

FORMAT = "apertus-compliance/optout-snapshot"
FORMAT_VERSION = 1
GRANULARITIES = ("url", "domain")
SIGNALS = ("rightsholder", "robots", "aipref", "content-signal", "tdmrep", "noai", "robots-unavailable")
"""Every reservation signal, in the order a lookup reports them when several apply."""

RULE_SCHEMA = pa.schema(
    [
        ("scope", pa.string()),  # host | domain (the host and all its subdomains)
        ("host", pa.string()),
        ("signal", pa.string()),
        ("agents", pa.string()),  # robots: product tokens the group applies to, comma-separated
        ("pattern", pa.string()),
        ("allow", pa.bool_()),
        ("exact", pa.bool_()),
        ("line", pa.int32()),
        ("text", pa.string()),
        ("observed_at", pa.timestamp("us")),
        ("source", pa.string()),
        ("evidence_sha256", pa.string()),
        ("status", pa.string()),
    ]
)


@dataclass(frozen=True)
class SnapshotOptions:
    as_of: date
    agent_list: AgentList
    granularity: str = "url"
    strict: bool = False

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"granularity {self.granularity!r}: expected one of {', '.join(GRANULARITIES)}")


@cache
def _domain_extractor() -> tldextract.TLDExtract:
    # The public-suffix list bundled with tldextract; never fetched (no network here).
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def registered_domain(host: str) -> str:
    """``blog.example.co.uk`` -> ``example.co.uk``; a host with no known suffix stays itself."""
    parts = _domain_extractor()(host)
    return f"{parts.domain}.{parts.suffix}" if parts.domain and parts.suffix else host


def compile_snapshot(registry: Registry, options: SnapshotOptions, out: Path) -> dict:
    """Write the snapshot of ``registry`` for ``options`` into ``out``; returns its manifest.

    Observations stream from DuckDB in batches and their rules are kept as Arrow tables, so
    memory follows the size of the rules, not of Python objects for them.
    """
    tokens = options.agent_list.tokens
    parse = lru_cache(maxsize=10_000)(parse_robots)  # many hosts serve byte-identical robots.txt files
    rule_tables, observation_tables = [], []
    for batch in registry.current(options.as_of):
        rows = [row for observation in batch.to_pylist()
                for row in _reservation_rows(observation, options, tokens, parse)]
        rule_tables.append(pa.Table.from_pylist(rows, schema=RULE_SCHEMA))
        observation_tables.append(pa.Table.from_batches([batch]).drop_columns(["evidence"]))
    rules = pa.concat_tables(rule_tables or [RULE_SCHEMA.empty_table()])
    observations = pa.concat_tables(observation_tables) if observation_tables else _empty_observations(registry)
    if options.granularity == "domain":
        rules = _widen_to_domains(rules)
    rules = rules.sort_by([(name, "ascending") for name in _ROW_ORDER])
    groups, rulesets = _group_rows(rules)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, table in (("rules.parquet", rules), ("groups.parquet", groups), ("rulesets.parquet", rulesets),
                        ("observations.parquet", observations)):
        pq.write_table(table, out / name, compression="zstd")
        files[name] = sha256_hex((out / name).read_bytes())
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "as_of": options.as_of.isoformat(),
        "agent_list": {
            "name": options.agent_list.name,
            "version": options.agent_list.version,
            "sha256": options.agent_list.sha256,
            "tokens": list(options.agent_list.tokens),
        },
        "granularity": options.granularity,
        "strict": options.strict,
        "counts": _counts(rules, observations),
        "files": files,
        "toolkit_version": __version__,
    }
    manifest["snapshot_id"] = sha256_hex(json.dumps(manifest, sort_keys=True).encode())
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _reservation_rows(observation: dict, options: SnapshotOptions, tokens: tuple[str, ...],
                      parse: Callable[[bytes], RobotsTxt]) -> Iterator[dict]:
    kind, status, evidence = observation["kind"], observation["status"], observation["evidence"]
    if kind == "robots" and status == "ok":
        yield from _robots_rows(observation, parse(evidence), tokens)
    elif kind == "robots" and status in ("unreachable", "unparsable"):
        if options.strict:
            text = f"robots.txt {status} ({observation['detail']}), reserved in strict mode"
            yield _row(observation, "robots-unavailable", "", Rule("/", False, None, text))
    elif kind == "tdmrep" and status == "ok":
        try:
            rules = parse_tdmrep(evidence)
        except TdmRepError:  # ingest already checked it; a changed parser must not fail open silently
            raise ValueError(f"tdmrep evidence {observation['evidence_sha256']} no longer parses") from None
        for rule in rules:
            yield _row(observation, "tdmrep", "", rule)
    elif kind == "page":
        headers, html_head = decode_page_evidence(evidence)
        path = url_path(observation["url"])
        for signal in signals_from_headers(headers) + signals_from_html(html_head):
            if signal.agents and not set(signal.agents) & set(tokens):
                continue
            rule = Rule(escape_pattern(path) + "$", not signal.reserved, None, signal.text, exact=True)
            yield _row(observation, signal.signal, ",".join(signal.agents), rule)
    elif kind == "rightsholder":
        text = f"rights-holder request {observation['detail']}".strip()
        if observation["url"]:
            yield _row(observation, "rightsholder", "", Rule(escape_pattern(url_path(observation["url"])), False, None, text))
        else:
            yield _row(observation, "rightsholder", "", Rule("/", False, None, text), scope="domain")


def _robots_rows(observation: dict, robots: RobotsTxt, tokens: tuple[str, ...]) -> Iterator[dict]:
    """One rule set per distinct set of rules the agents get; aipref and Content-Signal lines too."""
    agents_by_groups: dict[tuple[int, ...], list[str]] = {}
    for token in tokens:
        agents_by_groups.setdefault(robots.groups_for(token), []).append(token)
    for groups, agents in agents_by_groups.items():
        rules = [rule for index in groups for rule in robots.groups[index].rules]
        if any(not r.allow and r.pattern for r in rules):
            for rule in rules:
                yield _row(observation, "robots", ",".join(agents), rule)
    directives = {d for token in tokens for d in robots.directives_for(token)}
    for signal, reserves in (("aipref", content_usage_reserves_training),
                             ("content-signal", content_signal_reserves_training)):
        key = "content-usage" if signal == "aipref" else "content-signal"
        rules = []
        for directive in sorted((d for d in directives if d.key == key), key=lambda d: d.line):
            path, expression = split_path(directive.value)
            reserved = reserves(expression)
            if reserved is not None:
                rules.append((Rule(escape_pattern(path), not reserved, directive.line, directive.text), directive))
        if any(not rule.allow for rule, _ in rules):
            for rule, directive in rules:
                yield _row(observation, signal, ",".join(directive.agents), rule)


def _row(observation: dict, signal: str, agents: str, rule: Rule, scope: str = "host") -> dict:
    return {
        "scope": scope,
        "host": observation["host"],
        "signal": signal,
        "agents": agents,
        "pattern": rule.pattern,
        "allow": rule.allow,
        "exact": rule.exact,
        "line": rule.line,
        "text": rule.text,
        "observed_at": observation["observed_at"],
        "source": observation["source"],
        "evidence_sha256": observation["evidence_sha256"],
        "status": observation["status"],
    }


def _widen_to_domains(rules: pa.Table) -> pa.Table:
    """Domain granularity (Apertus's coarse mode): a registered domain is reserved entirely when
    any of its hosts reserves anything. One row per domain and signal keeps the evidence of the
    first such host."""
    reserving = rules.filter(pc.invert(rules["allow"])).sort_by([(name, "ascending") for name in _ROW_ORDER])
    widened: dict[tuple[str, str], dict] = {}
    for row in reserving.to_pylist():
        domain = registered_domain(row["host"]) if row["scope"] == "host" else row["host"]
        key = (domain, row["signal"])
        if key not in widened:
            text = f"domain {domain} reserved because {row['host']}: {row['text']}"
            widened[key] = {**row, "scope": "domain", "host": domain, "pattern": "/", "exact": False, "text": text[:300]}
    return pa.Table.from_pylist(list(widened.values()), schema=RULE_SCHEMA)


def _group_rows(rules: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Index the sorted rule rows for fast lookups.

    A group is one rule set of one host or domain (rows with the same scope, host, signal and
    agents); a ruleset is the distinct content of a group (pattern, allow, exact), shared by every
    host that serves the same rules, so a lookup compiles it once.
    """
    starts = _group_starts(rules)
    firsts = rules.select(["scope", "host", "signal"]).take(pa.array(starts, pa.int64())).to_pylist()
    contents = list(zip(*(rules[name].to_pylist() for name in ("pattern", "allow", "exact"))))
    ruleset_ids: dict[tuple, int] = {}
    groups: list[dict] = []
    for first, start, end in zip(firsts, starts, starts[1:] + [len(rules)]):
        ruleset = ruleset_ids.setdefault(tuple(contents[start:end]), len(ruleset_ids))
        groups.append({**first, "ruleset": ruleset, "first_row": start, "rows": end - start})
    groups.sort(key=lambda g: (g["scope"], g["host"], SIGNALS.index(g["signal"]), g["first_row"]))
    rulesets = [
        {"ruleset": ruleset, "pattern": pattern, "allow": allow, "exact": exact}
        for content, ruleset in ruleset_ids.items()
        for pattern, allow, exact in content
    ]
    group_schema = pa.schema([("scope", pa.string()), ("host", pa.string()), ("signal", pa.string()),
                              ("ruleset", pa.int32()), ("first_row", pa.int64()), ("rows", pa.int32())])
    ruleset_schema = pa.schema([("ruleset", pa.int32()), ("pattern", pa.string()), ("allow", pa.bool_()),
                                ("exact", pa.bool_())])
    return pa.Table.from_pylist(groups, schema=group_schema), pa.Table.from_pylist(rulesets, schema=ruleset_schema)


def _group_starts(rules: pa.Table) -> list[int]:
    """Rows where a new group (scope, host, signal, agents) begins, found with Arrow compute."""
    if len(rules) == 0:
        return []
    key = pc.binary_join_element_wise(*(rules[name] for name in ("scope", "host", "signal", "agents")), "\x1f")
    changed = pc.not_equal(key.slice(1), key.slice(0, len(rules) - 1))
    return [0] + [int(i) + 1 for i in pc.indices_nonzero(changed).to_pylist()]


_ROW_ORDER = ("scope", "host", "signal", "agents", "pattern", "allow", "exact", "line", "text", "observed_at",
              "evidence_sha256")
"""Rule rows are stored in this order, so each group's rows are contiguous and the file is reproducible."""


def _counts(rules: pa.Table, observations: pa.Table) -> dict:
    statuses = observations.group_by(["kind", "status"]).aggregate([([], "count_all")]).to_pylist()
    reserving = rules.filter(pc.invert(rules["allow"])).group_by(["scope", "host", "signal"]).aggregate([])
    signals = reserving["signal"].to_pylist()
    return {
        "observations": dict(sorted((f"{s['kind']}:{s['status']}", s["count_all"]) for s in statuses)),
        "reserving_hosts_by_signal": {signal: signals.count(signal) for signal in SIGNALS},
        "reserving_hosts": len(reserving.group_by(["scope", "host"]).aggregate([])),
        "rules": len(rules),
    }


def _empty_observations(registry: Registry) -> pa.Table:
    return registry.observations_schema().empty_table()
