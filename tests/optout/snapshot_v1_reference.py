"""The opt-out snapshot of format version 1 (parquet, loaded into memory), kept as a test oracle.

This is the code that compiled and read snapshots before version 2 (memory-mapped): the tests
check that version 2 gives the same decisions and evidence, and that ``optout snapshot migrate``
turns a version 1 folder into the version 2 folder a fresh compile gives. Not used by the package.
"""

# ruff: noqa
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
from apertus_compliance.optout.rules import CompiledRules, Rule, blocks_every_path, escape_pattern, url_path
from apertus_compliance.errors import ApertusError
import re
from collections.abc import Sequence
from datetime import datetime
from functools import cached_property
from typing import NamedTuple
import pyarrow.compute as pc
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


_AUTHORITY = r"^[A-Za-z][A-Za-z0-9+.\-]*://(?P<authority>[^/?;#]*)"
"""Scheme, then the authority up to the first ``/ ? ; #`` (where Google's reference starts the path)."""


class SnapshotError(ApertusError, ValueError):
    """A snapshot folder that is missing, of another format, or whose files do not match their hashes."""


class Reservation:
    """Why a URL may not be used: the signal, and (read on demand) the rule and observation behind it."""

    __slots__ = ("signal", "row", "_snapshot")

    def __init__(self, signal: str, row: int, snapshot: Snapshot | None) -> None:
        self.signal, self.row, self._snapshot = signal, row, snapshot

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reservation) and (self.signal, self.row) == (other.signal, other.row)

    def __hash__(self) -> int:
        return hash((self.signal, self.row))

    def __repr__(self) -> str:
        return f"Reservation({self.signal!r}, row={self.row})"

    def _field(self, name: str) -> object:
        return self._snapshot.evidence_value(name, self.row) if self._snapshot else None

    @property
    def scope(self) -> str:
        return self._field("scope") or "host"

    @property
    def host(self) -> str:
        return self._field("host") or ""

    @property
    def agents(self) -> str:
        return self._field("agents") or ""

    @property
    def rule(self) -> Rule:
        if self._snapshot is None:
            return Rule("", False, None, "no host in URL")
        return Rule(*(self._field(name) for name in ("pattern", "allow", "line", "text", "exact")))

    @property
    def observed_at(self) -> datetime | None:
        return self._field("observed_at")

    @property
    def source(self) -> str:
        return self._field("source") or ""

    @property
    def evidence_sha256(self) -> str:
        return self._field("evidence_sha256") or ""

    def as_dict(self) -> dict:
        rule = self.rule
        return {
            "signal": self.signal,
            "scope": self.scope,
            "host": self.host,
            "agents": self.agents.split(",") if self.agents else [],
            "rule": {"line": rule.line, "text": rule.text, "pattern": rule.pattern},
            "observed_at": self.observed_at.isoformat() if self.observed_at else None,
            "source": self.source,
            "evidence_sha256": self.evidence_sha256,
        }


INVALID_URL = Reservation("invalid-url", -1, None)
"""Returned for a URL whose host cannot be read: it cannot be checked, so it is not allowed."""


class _RuleSet(NamedTuple):
    """One compiled rule set of one host: ``match(path).lastindex`` numbers the deciding rule."""

    signal: str
    match: Callable[[str], re.Match | None]
    allows: tuple[bool, ...]  # by lastindex (index 0 unused)
    offsets: tuple[int, ...]  # evidence row of each rule after first_row, by lastindex
    first_row: int
    whole: int  # lastindex of a rule reserving every path, or 0

    def reservation_row(self, path: str) -> int | None:
        found = self.match(path)
        return None if found is None or self.allows[found.lastindex] else self.first_row + self.offsets[found.lastindex]


class Snapshot:
    """A loaded snapshot. ``lookup`` for batches, ``explain`` for every reservation of one URL."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        manifest_path = self.folder / "manifest.json"
        if not manifest_path.is_file():
            raise SnapshotError(f"snapshot {self.folder}: no manifest.json (compile one with 'optout snapshot')")
        self.manifest = json.loads(manifest_path.read_text())
        if (self.manifest.get("format"), self.manifest.get("format_version")) != (FORMAT, FORMAT_VERSION):
            raise SnapshotError(
                f"snapshot {self.folder}: format {self.manifest.get('format')!r} "
                f"v{self.manifest.get('format_version')}, expected {FORMAT} v{FORMAT_VERSION}"
            )
        self._rules_bytes = self._verified_bytes("rules.parquet")  # parsed only when evidence is read
        groups = self._verified_table("groups.parquet").to_pydict()
        rulesets = self._verified_table("rulesets.parquet").to_pydict()
        self._group_signal, self._group_ruleset = groups["signal"], groups["ruleset"]
        self._group_first_row = groups["first_row"]
        self._group_ranges = _ranges(list(zip(groups["scope"], groups["host"], strict=True)))
        self._has_domains = "domain" in set(groups["scope"])
        self._ruleset_rules: dict[int, list[Rule]] = {}
        for ruleset, pattern, allow, exact in zip(*rulesets.values(), strict=True):
            self._ruleset_rules.setdefault(ruleset, []).append(Rule(pattern, allow, exact=exact))
        self._compiled: dict[int, tuple | None] = {}
        # Plans keyed by the URL authority as written (lower-cased); every snapshot host is planned
        # now, so lookups only plan hosts the snapshot does not name.
        self._plans: dict[str | None, object] = {None: INVALID_URL, "": INVALID_URL}
        for scope, host in self._group_ranges:
            if scope == "host":
                self._plan(host)

    def _verified_bytes(self, name: str) -> bytes:
        path = self.folder / name
        if not path.is_file():
            raise SnapshotError(f"snapshot {self.folder}: {name} is missing")
        data = path.read_bytes()
        if sha256_hex(data) != self.manifest["files"].get(name):
            raise SnapshotError(f"snapshot {self.folder}: {name} does not match the hash in its manifest")
        return data

    def _verified_table(self, name: str) -> pa.Table:
        return pq.read_table(pa.BufferReader(self._verified_bytes(name)))

    @cached_property
    def _evidence(self) -> pa.Table:
        return pq.read_table(pa.BufferReader(self._rules_bytes))

    def evidence_value(self, column: str, row: int) -> object:
        """One field of one evidence row (rules.parquet), read only when someone asks."""
        return self._evidence.column(column)[row].as_py()

    @property
    def snapshot_id(self) -> str:
        return self.manifest["snapshot_id"]

    @property
    def as_of(self) -> str:
        return self.manifest["as_of"]

    def lookup(self, urls: Sequence[str] | pa.Array) -> list[Reservation | None]:
        """For each URL, the reservation that applies (see ``_plan`` for which) or None when it may be used."""
        if isinstance(urls, pa.Array):
            array, urls = urls, urls.to_pylist()
        else:
            array = pa.array(urls, pa.string())
        authorities, path_starts = _split_urls(array)
        plans, reservation, results = self._plans, self._reservation, []  # locals: this loop is the hot path
        append = results.append
        for url, authority, path_start in zip(urls, authorities, path_starts, strict=True):
            plan = plans.get(authority, _UNPLANNED)
            if plan is _UNPLANNED:
                plan = self._plan_authority(authority)
            if plan.__class__ is tuple:  # rule sets that depend on the path
                path = url[path_start:].partition("#")[0]  # what url_path gives, without its search
                if path[:1] != "/":
                    path = "/" + path
                found = None  # _RuleSet.reservation_row, inlined: this loop runs once per URL
                for signal, match, allows, offsets, first_row, _ in plan:
                    matched = match(path)
                    if matched is not None and not allows[matched.lastindex]:
                        found = reservation(signal, first_row + offsets[matched.lastindex])
                        break
                plan = found
            append(plan)
        return results

    def check(self, url: str) -> Reservation | None:
        return self.lookup([url])[0]

    def explain(self, url: str) -> list[Reservation]:
        """Every reservation that applies to ``url`` (one per rule set), for evidence."""
        host = _host(_split_urls(pa.array([url], pa.string()))[0][0])
        if host is None:
            return [INVALID_URL]
        path = url_path(url)
        rows = [(r.signal, r.reservation_row(path)) for r in self._rule_sets(host)]
        return [self._reservation(signal, row) for signal, row in rows if row is not None]

    def _reservation(self, signal: str, row: int) -> Reservation:
        return Reservation(signal, row, self)

    def _plan_authority(self, authority: str) -> object:
        """Plan an authority as written in URLs (``user@Host.:80``) under its host, and remember both."""
        host = _host(authority)
        plan = self._plans.get(host, _UNPLANNED)
        if plan is _UNPLANNED:
            plan = self._plan(host)
        self._plans[authority] = plan
        return plan

    def _plan(self, host: str) -> object:
        """None (free), a Reservation (every path reserved) or a tuple of _RuleSet; cached per host.

        A rule set that reserves every path is reported before the others; otherwise the first
        reserving rule set in SIGNALS order is.
        """
        rule_sets = self._rule_sets(host)
        plan: object = tuple(rule_sets) or None
        for rule_set in rule_sets:
            if rule_set.whole:
                plan = self._reservation(rule_set.signal, rule_set.first_row + rule_set.offsets[rule_set.whole])
                break
        self._plans[host] = plan
        return plan

    def _rule_sets(self, host: str) -> list[_RuleSet]:
        """The reserving rule sets recorded for the host and for each domain above it."""
        keys = [("host", host)]
        if self._has_domains:
            keys += [("domain", host.split(".", i)[-1]) for i in range(host.count(".") + 1)]
        found = []
        for key in keys:
            start, stop = self._group_ranges.get(key, (0, 0))
            for group in range(start, stop):
                compiled = self._compiled_ruleset(self._group_ruleset[group])
                if compiled is not None:
                    match, allows, offsets, whole = compiled
                    found.append(
                        _RuleSet(self._group_signal[group], match, allows, offsets, self._group_first_row[group], whole)
                    )
        if len(keys) > 1:  # host and domain groups interleave; each part is in SIGNALS order already
            found.sort(key=lambda rule_set: _SIGNAL_RANK[rule_set.signal])
        return found

    def _compiled_ruleset(self, ruleset: int) -> tuple | None:
        """(match, allows, row offsets, whole) compiled once per distinct rule set; None if it reserves nothing."""
        if ruleset not in self._compiled:
            rules = self._ruleset_rules[ruleset]
            compiled = CompiledRules(rules)
            offsets = {}
            for offset, rule in enumerate(rules):
                offsets.setdefault(rule, offset)
            whole = blocks_every_path(rules)
            self._compiled[ruleset] = (
                None
                if all(r.allow for r in compiled.rules)
                else (
                    compiled.match,
                    (True,) + tuple(r.allow for r in compiled.rules),
                    (0,) + tuple(offsets[r] for r in compiled.rules),
                    compiled.rules.index(whole) + 1 if whole is not None else 0,
                )
            )
        return self._compiled[ruleset]


_UNPLANNED = object()
_SIGNAL_RANK = {signal: rank for rank, signal in enumerate(SIGNALS)}


def _split_urls(urls: pa.Array) -> tuple[list[str | None], list[int | None]]:
    """Lower-cased authorities (``user@host:port``; None where there is no scheme) and where each
    URL's path starts: after ``scheme://`` (ASCII, so bytes and characters agree) and the authority."""
    authority = pc.struct_field(pc.extract_regex(urls, _AUTHORITY), "authority")
    path_starts = pc.add(pc.add(pc.find_substring(urls, "://"), 3), pc.utf8_length(authority))
    return pc.utf8_lower(authority).to_pylist(), path_starts.to_pylist()


def _host(authority: str | None) -> str | None:
    """The host of an authority: no user, no port, no trailing dot; None when nothing is left."""
    if authority is None:
        return None
    host = authority.rpartition("@")[2]
    if not host.startswith("["):
        host = host.partition(":")[0]
    elif "]" in host:
        host = host[: host.index("]") + 1]
    return host.rstrip(".") or None


def _ranges(keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, int]]:
    """Rows sorted by key: map each key to its slice of rows."""
    ranges: dict[tuple[str, str], tuple[int, int]] = {}
    start = 0
    for row in range(1, len(keys) + 1):
        if row == len(keys) or keys[row] != keys[start]:
            ranges[keys[start]] = (start, row)
            start = row
    return ranges


def diff_snapshots(old: Snapshot, new: Snapshot) -> dict:
    """What changed between two snapshots: the observations that count in one and not the other,
    and the hosts (or domains) that started or stopped reserving, per signal.

    Between two as-of dates of one registry, the changed observations are exactly those made
    between the dates (and the ones they replaced).
    """

    def observations(snapshot: Snapshot) -> set[tuple]:
        table = pq.read_table(
            snapshot.folder / "observations.parquet", columns=["kind", "host", "url", "observed_at", "evidence_sha256"]
        )
        return set(zip(*(column.to_pylist() for column in table.columns), strict=True))

    def reserving(snapshot: Snapshot) -> set[tuple[str, str, str]]:
        rules = pq.read_table(snapshot.folder / "rules.parquet", columns=["scope", "host", "signal", "allow"])
        rules = rules.filter(pc.invert(rules["allow"]))
        return set(zip(rules["scope"].to_pylist(), rules["host"].to_pylist(), rules["signal"].to_pylist(), strict=True))

    def listed(rows: set[tuple], fields: tuple[str, ...]) -> list[dict]:
        return [
            {
                field: value.isoformat() if isinstance(value, datetime) else value
                for field, value in zip(fields, row, strict=True)
            }
            for row in sorted(rows)
        ]

    old_obs, new_obs = observations(old), observations(new)
    old_res, new_res = reserving(old), reserving(new)
    obs_fields, res_fields = ("kind", "host", "url", "observed_at", "evidence_sha256"), ("scope", "host", "signal")
    return {
        "old": {"snapshot_id": old.snapshot_id, "as_of": old.as_of},
        "new": {"snapshot_id": new.snapshot_id, "as_of": new.as_of},
        "observations_only_in_old": listed(old_obs - new_obs, obs_fields),
        "observations_only_in_new": listed(new_obs - old_obs, obs_fields),
        "reservations_removed": listed(old_res - new_res, res_fields),
        "reservations_added": listed(new_res - old_res, res_fields),
    }
