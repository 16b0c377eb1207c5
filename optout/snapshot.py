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

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from apertus_compliance import __version__
from apertus_compliance.folders import check_output_folder
from apertus_compliance.optout.agents import AgentList
from apertus_compliance.optout.aipref import (
    content_signal_reserves_training,
    content_usage_reserves_training,
    split_path,
)
from apertus_compliance.optout.domains import registered_domain
from apertus_compliance.optout.ingest import decode_page_evidence
from apertus_compliance.optout.page_signals import signals_from_headers, signals_from_html
from apertus_compliance.optout.registry import Registry, sha256_hex
from apertus_compliance.optout.robots import RobotsTxt, parse_robots
from apertus_compliance.optout.rules import Rule, escape_pattern, url_path
from apertus_compliance.optout.settings import GRANULARITIES
from apertus_compliance.optout.tdmrep import TdmRepError, parse_tdmrep

FORMAT = "apertus-compliance/optout-snapshot"
FORMAT_VERSION = 1
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


def compile_snapshot(registry: Registry, options: SnapshotOptions, out: Path) -> dict:
    """Write the snapshot of ``registry`` for ``options`` into ``out``; returns its manifest.

    Observations stream from DuckDB host by host and rules are written as they are made, so
    memory follows one host and the index, not the whole registry. ``out`` must be new or empty:
    files of another snapshot left in it would be read as part of this one (``folders.output_folder``
    replaces a folder safely).
    """
    tokens = options.agent_list.tokens
    parse = lru_cache(maxsize=10_000)(parse_robots)  # many hosts serve byte-identical robots.txt files
    out = Path(out)
    check_output_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    writer = _RuleWriter(out)
    statuses: Counter[str] = Counter()
    host, host_rows = None, []
    with pq.ParquetWriter(out / "observations.parquet", registry.observations_schema(), compression="zstd") as seen:
        for batch in registry.current(options.as_of):
            seen.write_table(pa.Table.from_batches([batch]).drop_columns(["evidence"]).cast(seen.schema))
            for observation in batch.to_pylist():
                statuses[f"{observation['kind']}:{observation['status']}"] += 1
                if observation["host"] != host:
                    writer.add_host(host_rows, options.granularity)
                    host, host_rows = observation["host"], []
                host_rows.extend(_reservation_rows(observation, options, tokens, parse))
    writer.add_host(host_rows, options.granularity)
    counts = writer.finish()

    files = {
        name: sha256_hex((out / name).read_bytes())
        for name in ("rules.parquet", "groups.parquet", "rulesets.parquet", "observations.parquet")
    }
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
        "counts": {"observations": dict(sorted(statuses.items())), **counts},
        "files": files,
        "toolkit_version": __version__,
    }
    manifest["snapshot_id"] = sha256_hex(json.dumps(manifest, sort_keys=True).encode())
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _reservation_rows(
    observation: dict, options: SnapshotOptions, tokens: tuple[str, ...], parse: Callable[[bytes], RobotsTxt]
) -> Iterator[dict]:
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
            yield _row(
                observation, "rightsholder", "", Rule(escape_pattern(url_path(observation["url"])), False, None, text)
            )
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
    for signal, reserves in (
        ("aipref", content_usage_reserves_training),
        ("content-signal", content_signal_reserves_training),
    ):
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


class _RuleWriter:
    """Writes rule rows host by host and indexes them on the way: groups (one rule set of one host
    or domain) and distinct rule sets (the same rules served by many hosts are stored once).

    Host rows go to a temporary file as they come; domain rows (rights-holder domains, domain
    granularity) are few and kept until the end, when they are written first.
    """

    CHUNK = 50_000

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.host_file = folder / "host-rules.parquet.tmp"
        self.host_writer = pq.ParquetWriter(self.host_file, RULE_SCHEMA, compression="zstd")
        self.pending: list[dict] = []
        self.host_rows = 0
        self.domain_rows: list[dict] = []
        self.widened: dict[tuple[str, str], tuple[tuple, dict]] = {}
        self.host_groups = _group_columns()
        self.ruleset_ids: dict[bytes, int] = {}
        self.ruleset_writer = pq.ParquetWriter(folder / "rulesets.parquet", _RULESET_SCHEMA, compression="zstd")
        self.reserving: set[tuple[str, str, str]] = set()

    def add_host(self, rows: list[dict], granularity: str) -> None:
        rows.sort(key=_row_order)
        host_rows = [row for row in rows if row["scope"] == "host"]
        self.domain_rows += [row for row in rows if row["scope"] == "domain"]
        if granularity == "domain":
            self._widen(host_rows)
            return
        self._index(host_rows, self.host_rows, self.host_groups)
        self.pending += host_rows
        self.host_rows += len(host_rows)
        if len(self.pending) >= self.CHUNK:
            self.host_writer.write_table(pa.Table.from_pylist(self.pending, schema=RULE_SCHEMA))
            self.pending = []

    def _widen(self, rows: list[dict]) -> None:
        """Domain granularity (Apertus's coarse mode): a registered domain is reserved entirely when
        any of its hosts reserves anything; one row per domain and signal keeps the evidence of the
        first such host."""
        for row in rows:
            if row["allow"]:
                continue
            domain = registered_domain(row["host"])
            key, order = (domain, row["signal"]), _row_order(row)
            if key not in self.widened or order < self.widened[key][0]:
                text = f"domain {domain} reserved because {row['host']}: {row['text']}"
                self.widened[key] = (
                    order,
                    {**row, "scope": "domain", "host": domain, "pattern": "/", "exact": False, "text": text[:300]},
                )

    def _index(self, rows: list[dict], first_row: int, groups: dict[str, list]) -> None:
        """Append to ``groups`` the groups of one host's (or all domains') sorted rows, in SIGNALS order."""
        found = []
        start = 0
        for end in range(1, len(rows) + 1):
            if end < len(rows) and _group_key(rows[end]) == _group_key(rows[start]):
                continue
            scope, host, signal, _ = _group_key(rows[start])
            found.append(
                (
                    scope,
                    host,
                    SIGNALS.index(signal),
                    first_row + start,
                    signal,
                    self._ruleset(rows[start:end]),
                    end - start,
                )
            )
            if any(not row["allow"] for row in rows[start:end]):
                self.reserving.add((scope, host, signal))
            start = end
        for scope, host, _, first, signal, ruleset, count in sorted(found):
            for name, value in (
                ("scope", scope),
                ("host", host),
                ("signal", signal),
                ("ruleset", ruleset),
                ("first_row", first),
                ("rows", count),
            ):
                groups[name].append(value)

    def _ruleset(self, rows: list[dict]) -> int:
        content = [(row["pattern"], row["allow"], row["exact"]) for row in rows]
        digest = hashlib.sha256(json.dumps(content).encode()).digest()
        if digest not in self.ruleset_ids:
            ruleset = self.ruleset_ids[digest] = len(self.ruleset_ids)
            self.ruleset_writer.write_table(
                pa.Table.from_pylist(
                    [{"ruleset": ruleset, "pattern": p, "allow": a, "exact": e} for p, a, e in content],
                    schema=_RULESET_SCHEMA,
                )
            )
        return self.ruleset_ids[digest]

    def finish(self) -> dict:
        """Write rules.parquet (domain rows, then host rows), groups.parquet and rulesets.parquet."""
        if self.pending:
            self.host_writer.write_table(pa.Table.from_pylist(self.pending, schema=RULE_SCHEMA))
        self.host_writer.close()
        domain_rows = sorted(self.domain_rows + [row for _, row in self.widened.values()], key=_row_order)
        groups = _group_columns()
        self._index(domain_rows, 0, groups)  # domain rows come first in rules.parquet: host rows shift
        self.host_groups["first_row"] = [first + len(domain_rows) for first in self.host_groups["first_row"]]
        for name, values in self.host_groups.items():
            groups[name] += values
        self.ruleset_writer.close()
        with pq.ParquetWriter(self.folder / "rules.parquet", RULE_SCHEMA, compression="zstd") as rules:
            rules.write_table(pa.Table.from_pylist(domain_rows, schema=RULE_SCHEMA))
            host_rules = pq.ParquetFile(self.host_file)
            for group in range(host_rules.num_row_groups):
                rules.write_table(host_rules.read_row_group(group))
        self.host_file.unlink()
        pq.write_table(pa.table(groups, schema=_GROUP_SCHEMA), self.folder / "groups.parquet", compression="zstd")
        signals = Counter(signal for _, _, signal in self.reserving)
        return {
            "reserving_hosts_by_signal": {signal: signals[signal] for signal in SIGNALS},
            "reserving_hosts": len({(scope, host) for scope, host, _ in self.reserving}),
            "rules": len(domain_rows) + self.host_rows,
        }


def _group_columns() -> dict[str, list]:
    return {name: [] for name in _GROUP_SCHEMA.names}


_GROUP_SCHEMA = pa.schema(
    [
        ("scope", pa.string()),
        ("host", pa.string()),
        ("signal", pa.string()),
        ("ruleset", pa.int32()),
        ("first_row", pa.int64()),
        ("rows", pa.int32()),
    ]
)
_RULESET_SCHEMA = pa.schema(
    [("ruleset", pa.int32()), ("pattern", pa.string()), ("allow", pa.bool_()), ("exact", pa.bool_())]
)


def _group_key(row: dict) -> tuple:
    return (row["scope"], row["host"], row["signal"], row["agents"])


def _row_order(row: dict) -> tuple:
    return tuple(row[name] if name != "line" else (row["line"] or 0) for name in _ROW_ORDER)


_ROW_ORDER = (
    "scope",
    "host",
    "signal",
    "agents",
    "pattern",
    "allow",
    "exact",
    "line",
    "text",
    "observed_at",
    "evidence_sha256",
)
"""Rule rows are stored in this order, so each group's rows are contiguous and the file is reproducible."""
