"""Compile the registry, as of a date and for an agent list, into an immutable snapshot.

A snapshot is a folder of column files that workers memory-map (format 3, docs/snapshot.md):
every rule that can reserve a URL with the observation it came from (``rules.*``, ``origins.*``),
a lookup index (``entries.*``, ``groups.*``, ``rulesets.*``, ``ruleset_rules.*``: which rule
sets each host has, each distinct rule set once, its rules as columns a batch matches with
numpy; ``index.*``: the hosts' key hashes, sorted), ``observations.parquet`` (every observation
that counted as of the date, reserving or not) and ``manifest.json`` (as-of date, agent list,
granularity, counts per signal, file hashes and sizes, and ``snapshot_id``, the sha256 of the
rest of the manifest). The same registry content, date and options give the same
bytes, so the id pins a rebuild's opt-outs. ``migrate_snapshot`` rewrites a folder of format 1 or 2.

Retroactive by construction: a snapshot has no notion of crawl date. Whatever the latest
observation before the as-of date says applies to documents of every crawl.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from apertus_compliance import __version__
from apertus_compliance.errors import ApertusError
from apertus_compliance.folders import check_output_folder
from apertus_compliance.optout.agents import AgentList
from apertus_compliance.optout.aipref import (
    content_signal_reserves_training,
    content_usage_reserves_training,
    split_path,
)
from apertus_compliance.optout.domains import registered_domain
from apertus_compliance.optout.ingest import decode_page_evidence
from apertus_compliance.optout.mapped import FixedWriter, MappedText, TextWriter, key_hashes, map_fixed
from apertus_compliance.optout.page_signals import signals_from_headers, signals_from_html
from apertus_compliance.optout.registry import Registry, sha256_hex
from apertus_compliance.optout.robots import RobotsTxt, parse_robots
from apertus_compliance.optout.rules import Rule, blocks_every_path, by_priority, escape_pattern, url_path
from apertus_compliance.optout.settings import GRANULARITIES
from apertus_compliance.optout.tdmrep import TdmRepError, parse_tdmrep

FORMAT = "apertus-compliance/optout-snapshot"
FORMAT_VERSION = 3
MIGRATES_FROM = (1, 2)
SIGNALS = ("rightsholder", "robots", "aipref", "content-signal", "tdmrep", "noai", "robots-unavailable")
"""Every reservation signal, in the order a lookup reports them when several apply."""


@dataclass(frozen=True)
class SnapshotOptions:
    as_of: date
    agent_list: AgentList
    granularity: str = "url"
    strict: bool = False

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"granularity {self.granularity!r}: expected one of {', '.join(GRANULARITIES)}")


def compile_snapshot(registry: Registry, options: SnapshotOptions, out: Path, workers: int = 1) -> dict:
    """Write the snapshot of ``registry`` for ``options`` into ``out``; returns its manifest.

    Observations stream from DuckDB host by host and rules are written as they are made, so
    memory follows one host and the index, not the whole registry. With ``workers`` > 1, batches
    of observations are parsed into rule rows by that many processes while this one writes; the
    rows come back in the registry's order, so the bytes are the same for any number of workers.
    ``out`` must be new or empty: files of another snapshot left in it would be read as part of
    this one (``folders.output_folder`` replaces a folder safely).
    """
    out = Path(out)
    check_output_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    writer = _RuleWriter(out)
    statuses: Counter[str] = Counter()
    host, host_rows = None, []
    with (
        pq.ParquetWriter(out / "observations.parquet", registry.observations_schema(), compression="zstd") as seen,
        _row_maker(options, workers) as rows_of,
    ):
        for batch, observations in rows_of(registry.current(options.as_of)):
            seen.write_table(pa.Table.from_batches([batch]).drop_columns(["evidence"]).cast(seen.schema))
            for observed_host, status, rows in observations:
                statuses[status] += 1
                if observed_host != host:
                    writer.add_host(host_rows, options.granularity)
                    host, host_rows = observed_host, []
                host_rows.extend(dict(zip(_ROW_FIELDS, row, strict=True)) for row in rows)
    writer.add_host(host_rows, options.granularity)
    settings = {
        "as_of": options.as_of.isoformat(),
        "agent_list": {
            "name": options.agent_list.name,
            "version": options.agent_list.version,
            "sha256": options.agent_list.sha256,
            "tokens": list(options.agent_list.tokens),
        },
        "granularity": options.granularity,
        "strict": options.strict,
    }
    return _write_manifest(out, settings, statuses, *writer.finish())


@contextmanager
def _row_maker(options: SnapshotOptions, workers: int) -> Iterator[Callable]:
    """A function from record batches of observations to (batch, [(host, kind:status, rule rows as
    tuples)]) in the same order: made here, or by ``workers`` processes, a few batches ahead."""
    if workers <= 1:
        yield lambda batches: ((batch, _batch_rows(batch, options)) for batch in batches)
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:

        def rows_of(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[pa.RecordBatch, list]]:
            pending: deque = deque()
            for batch in batches:
                pending.append((batch, pool.submit(_batch_rows, batch, options)))
                if len(pending) > 2 * workers:  # bounded: the registry is read no faster than parsed
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()

        yield rows_of


def _batch_rows(batch: pa.RecordBatch, options: SnapshotOptions) -> list[tuple[str, str, list[tuple]]]:
    """Each observation of ``batch``: its host, ``kind:status`` and the rule rows it gives."""
    tokens = options.agent_list.tokens
    return [
        (
            observation["host"],
            f"{observation['kind']}:{observation['status']}",
            [
                tuple(row[name] for name in _ROW_FIELDS)
                for row in _reservation_rows(observation, options, tokens, _parse_cached)
            ],
        )
        for observation in batch.to_pylist()
    ]


_parse_cached = lru_cache(maxsize=10_000)(parse_robots)
"""Per process: many hosts serve byte-identical robots.txt files."""


def migrate_snapshot(old: Path, out: Path) -> dict:
    """Rewrite a snapshot folder of an earlier format (1: parquet, loaded; 2: mapped, rule sets as
    text records) as the current one; returns the manifest.

    The old rule rows are fed to the writer host by host as a compile feeds them, so the result
    is the folder, and the snapshot id, that compiling the same registry content now gives.
    """
    old, out = Path(old), Path(out)
    manifest_path = old / "manifest.json"
    if not manifest_path.is_file():
        raise SnapshotError(f"snapshot {old}: no manifest.json")
    manifest = json.loads(manifest_path.read_text())
    version = manifest.get("format_version")
    if manifest.get("format") != FORMAT or version not in MIGRATES_FROM:
        raise SnapshotError(
            f"snapshot {old}: format {manifest.get('format')!r} v{version}, only {FORMAT} "
            f"{' and '.join(f'v{v}' for v in MIGRATES_FROM)} are migrated"
        )
    for name, recorded in manifest["files"].items():
        digest = recorded if version == 1 else recorded["sha256"]
        if not (old / name).is_file() or sha256_hex((old / name).read_bytes()) != digest:
            raise SnapshotError(f"snapshot {old}: {name} is missing or does not match the hash in its manifest")
    check_output_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    writer = _RuleWriter(out)
    host, host_rows = None, []
    for row in _v1_rows(old) if version == 1 else _v2_rows(old):
        if row["scope"] == "domain":
            writer.domain_rows.append(row)
            continue
        if row["host"] != host:
            writer.add_host(host_rows, "url")
            host, host_rows = row["host"], []
        host_rows.append(row)
    writer.add_host(host_rows, "url")
    shutil.copyfile(old / "observations.parquet", out / "observations.parquet")
    seen = pq.read_table(out / "observations.parquet", columns=["kind", "status"])
    statuses = Counter(f"{kind}:{status}" for kind, status in zip(*seen.to_pydict().values(), strict=True))
    settings = {name: manifest[name] for name in ("as_of", "agent_list", "granularity", "strict")}
    return _write_manifest(out, settings, statuses, *writer.finish())


def _v1_rows(old: Path) -> Iterator[dict]:
    for batch in pq.ParquetFile(old / "rules.parquet").iter_batches(batch_size=50_000):
        yield from batch.to_pylist()


def _v2_rows(old: Path, chunk: int = 50_000) -> Iterator[dict]:
    """The evidence rows of a format 2 folder (``rules.*`` and ``origins.*``, which format 3 keeps as they were)."""
    texts = {name: MappedText(old, name) for name in ("rules.pattern", "rules.text", "agents.text", *_ORIGIN_TEXTS)}
    fixed = {name.rsplit(".", 1)[0]: map_fixed(old / name) for name in _V2_FIXED}
    for start in range(0, len(texts["rules.pattern"]), chunk):
        rows = np.arange(start, min(start + chunk, len(texts["rules.pattern"])))
        origins = fixed["rules.origin"][rows]
        agents = fixed["rules.agents"][rows]
        columns = {
            "scope": [SCOPES[value] for value in fixed["rules.scope"][rows].tolist()],
            "host": texts["origins.host"].slices(origins),
            "signal": [SIGNALS[value] for value in fixed["rules.signal"][rows].tolist()],
            "agents": texts["agents.text"].slices(agents),
            "pattern": texts["rules.pattern"].slices(rows),
            "allow": fixed["rules.allow"][rows].astype(bool).tolist(),
            "exact": fixed["rules.exact"][rows].astype(bool).tolist(),
            "line": [None if line < 0 else line for line in fixed["rules.line"][rows].tolist()],
            "text": texts["rules.text"].slices(rows),
            "observed_at": [
                _EPOCH + timedelta(microseconds=value) for value in fixed["origins.observed_at"][origins].tolist()
            ],
            "source": texts["origins.source"].slices(origins),
            "evidence_sha256": texts["origins.evidence_sha256"].slices(origins),
            "status": texts["origins.status"].slices(origins),
        }
        yield from (dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True))


class SnapshotError(ApertusError, ValueError):
    """A snapshot folder that is missing, of another format, or whose files do not match their hashes."""


def _write_manifest(out: Path, settings: dict, statuses: Counter[str], counts: dict, files: dict) -> dict:
    observations = out / "observations.parquet"
    files["observations.parquet"] = {
        "sha256": sha256_hex(observations.read_bytes()),
        "bytes": observations.stat().st_size,
    }
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **settings,
        "counts": {"observations": dict(sorted(statuses.items())), **counts},
        "files": dict(sorted(files.items())),
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
    named: dict[str, list[int]] = {}  # what RobotsTxt.groups_for gives, for every token in one pass
    for index, group in enumerate(robots.groups):
        for agent in set(group.agents):
            named.setdefault(agent, []).append(index)
    everyone = tuple(named.get("*", ()))
    agents_by_groups: dict[tuple[int, ...], list[str]] = {}
    for token in tokens:
        agents_by_groups.setdefault(tuple(named.get(token, ())) or everyone, []).append(token)
    for groups, agents in agents_by_groups.items():
        rules = [rule for index in groups for rule in robots.groups[index].rules]
        if any(not r.allow and r.pattern for r in rules):
            for rule in rules:
                yield _row(observation, "robots", ",".join(agents), rule)
    if not robots.directives:
        return
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


_ROW_FIELDS = (
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
    "source",
    "status",
)
"""The fields of a rule row (``_row``); rows cross processes as tuples in this order."""


def _row(observation: dict, signal: str, agents: str, rule: Rule, scope: str = "host") -> dict:
    """One rule row, its fields in ``_ROW_FIELDS`` order."""
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
        "evidence_sha256": observation["evidence_sha256"],
        "source": observation["source"],
        "status": observation["status"],
    }


class _RuleWriter:
    """Writes rule rows host by host as mapped column files (see docs/snapshot.md) and indexes
    them on the way.

    Evidence rows (``rules.*``) and the observations they came from (``origins.*``) are written
    in chunks as hosts come. The lookup index is one entry per host (or domain) that reserves
    something: its reserving groups (``groups.*``: signal, rule set, first evidence row), each
    group's rule set stored once per distinct content (``rulesets.*``), and the entries' key
    hashes, sorted at the end (``index.*``, 12 bytes per entry held until then). Domain rows
    (rights-holder domains, domain granularity) are few and kept until the end, when they are
    written after the host rows.
    """

    CHUNK = 200_000
    SHARED_RULESETS = 500_000
    """Distinct rule sets remembered for sharing; when full, those seen once are forgotten (CMS
    defaults, served by many hosts, stay). Decided by the input order only, so bytes are reproducible."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.columns = {
            name: (TextWriter(folder, name) if name in _TEXT_COLUMNS else FixedWriter(folder, name))
            for name in _COLUMNS
        }
        self.buffers: dict[str, list] = {name: [] for name in _COLUMNS}
        self.rows = 0
        self.groups = 0
        self.rulesets: dict[tuple, list[int]] = {}  # ruleset_rules(...) -> [id, uses]
        self.ruleset_count = 0
        self.stored_rules = 0
        self.agents: dict[str, int] = {}
        self.origins = 0
        self.hashes: list[np.ndarray] = []
        self.entry_keys: list[str] = []
        self.domain_rows: list[dict] = []
        self.widened: dict[tuple[str, str], tuple[tuple, dict]] = {}
        self.reserving: Counter[str] = Counter()
        self.reserving_keys = 0

    def add_host(self, rows: list[dict], granularity: str) -> None:
        rows.sort(key=_row_order)
        host_rows = [row for row in rows if row["scope"] == "host"]
        self.domain_rows += [row for row in rows if row["scope"] == "domain"]
        if granularity == "domain":
            self._widen(host_rows)
            return
        self._add_rows(host_rows)
        if len(self.buffers["rules.signal.u8"]) >= self.CHUNK:
            self._flush()

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

    def _add_rows(self, rows: list[dict]) -> None:
        """Write sorted rows (one host's, or all domains') and index their groups, entry by entry."""
        buffers = self.buffers
        origins: dict[tuple, int] = {}
        start = 0
        entry: tuple[str, str] | None = None
        entry_groups: list[tuple[int, int, int]] = []  # (signal, first row, rule set)
        signals: set[str] = set()
        for end in range(1, len(rows) + 1):
            if end < len(rows) and _group_key(rows[end]) == _group_key(rows[start]):
                continue
            group = rows[start:end]
            scope, host, signal, agents = _group_key(group[0])
            if (scope, host) != entry:
                self._add_entry(entry, entry_groups, signals)
                entry, entry_groups, signals = (scope, host), [], set()
            first_row = self.rows + start
            for row in group:
                origin = (row["host"], row["observed_at"], row["source"], row["evidence_sha256"], row["status"])
                if origin not in origins:
                    origins[origin] = self.origins
                    self.origins += 1
                    for name, value in zip(_ORIGIN_COLUMNS, origin, strict=True):
                        buffers[name].append(
                            value if name != "origins.observed_at.i64" else (value - _EPOCH) // _MICROSECOND
                        )
                buffers["rules.origin.i64"].append(origins[origin])
                buffers["rules.signal.u8"].append(_SIGNAL_RANK[signal])
                buffers["rules.scope.u8"].append(SCOPES.index(scope))
                buffers["rules.agents.u32"].append(self._agents(agents))
                buffers["rules.pattern"].append(row["pattern"])
                buffers["rules.allow.u8"].append(row["allow"])
                buffers["rules.exact.u8"].append(row["exact"])
                buffers["rules.line.i32"].append(-1 if row["line"] is None else row["line"])
                buffers["rules.text"].append(row["text"])
            if any(not row["allow"] for row in group):
                signals.add(signal)
            ruleset = self._ruleset([Rule(row["pattern"], row["allow"], exact=row["exact"]) for row in group])
            if ruleset is not None:
                entry_groups.append((_SIGNAL_RANK[signal], first_row, ruleset))
            start = end
        self._add_entry(entry, entry_groups, signals)
        self.rows += len(rows)

    def _add_entry(self, entry: tuple[str, str] | None, groups: list[tuple[int, int, int]], signals: set) -> None:
        if entry is None:
            return
        if signals:
            self.reserving_keys += 1
            self.reserving.update(signals)
        if not groups:
            return
        groups.sort()  # SIGNALS order (a host's rows are sorted by signal name), then row order
        for signal, first_row, ruleset in groups:
            self.buffers["groups.signal.u8"].append(signal)
            self.buffers["groups.ruleset.u32"].append(ruleset)
            self.buffers["groups.first_row.i64"].append(first_row)
        self.groups += len(groups)
        self.buffers["entries.key"].append(f"{entry[0][0]}/{entry[1]}")
        self.buffers["entries.groups_end.i64"].append(self.groups)

    def _agents(self, agents: str) -> int:
        if agents not in self.agents:
            self.agents[agents] = len(self.agents)
        return self.agents[agents]

    def _ruleset(self, rules: list[Rule]) -> int | None:
        """The id of the stored rule set with these rules, or None when it reserves no path."""
        record = ruleset_rules(rules)
        if record is None:
            return None
        known = self.rulesets.get(record)
        if known is not None:
            known[1] += 1
            return known[0]
        if len(self.rulesets) >= self.SHARED_RULESETS:
            self.rulesets = {key: value for key, value in self.rulesets.items() if value[1] > 1}
        ruleset = self.ruleset_count
        self.ruleset_count += 1
        self.rulesets[record] = [ruleset, 1]
        whole, kinds, rows, patterns, literals = record
        self.stored_rules += len(kinds)
        self.buffers["rulesets.rules_end.i64"].append(self.stored_rules)
        self.buffers["rulesets.whole.i32"].append(whole)
        self.buffers["ruleset_rules.kind.u8"].extend(kinds.encode("ascii"))
        self.buffers["ruleset_rules.row.u32"].extend(rows)
        self.buffers["ruleset_rules.pattern"].extend(patterns)
        self.buffers["ruleset_rules.literal.u32"].extend(literals)
        return ruleset

    def _flush(self) -> None:
        keys = self.buffers["entries.key"]
        if keys:
            self.hashes.append(key_hashes(keys))
        for name, values in self.buffers.items():
            if values:
                self.columns[name].write(values)
                values.clear()

    def finish(self) -> tuple[dict, dict]:
        """Write the domain rows and the key index; returns (counts, files)."""
        domain_rows = sorted(self.domain_rows + [row for _, row in self.widened.values()], key=_row_order)
        self._add_rows(domain_rows)
        self._flush()
        self.columns["agents.text"].write(list(self.agents))  # in id order: ids are given in first-use order
        hashes = np.concatenate(self.hashes) if self.hashes else np.empty(0, np.uint64)
        order = np.argsort(hashes, kind="stable")
        self.columns["index.hash.u64"].write(hashes[order])
        self.columns["index.entry.u32"].write(order.astype(np.uint32))
        files = {}
        for column in self.columns.values():
            files.update(column.close())
        counts = {
            "reserving_hosts_by_signal": {signal: self.reserving[signal] for signal in SIGNALS},
            "reserving_hosts": self.reserving_keys,
            "rules": self.rows,
            "rule_sets": self.ruleset_count,
            "index_entries": len(hashes),
        }
        return counts, dict(sorted(files.items()))


def ruleset_rules(rules: list[Rule]) -> tuple | None:
    """A rule set as lookups match it, or None when it reserves no path: (the rule, by priority
    from 0, that reserves every path or -1; then per rule in priority order its kind, its row in
    its group, its pattern and the bytes of its literal start). See ``RULE_KINDS``."""
    ordered = by_priority(rules)
    if all(rule.allow for rule in ordered):
        return None
    offsets: dict[Rule, int] = {}
    for offset, rule in enumerate(rules):
        offsets.setdefault(rule, offset)
    whole = blocks_every_path(rules)
    kinds, patterns, literals = [], [], []
    for rule in ordered:
        anchored = rule.pattern.endswith("$")
        body = rule.pattern[:-1] if anchored else rule.pattern
        literal, *pieces = body.split("*")
        if not any(pieces):  # no star, or only stars after the literal start (``/a*``, ``/a*$``)
            kind, pattern = ("f" if anchored and not pieces else "p"), literal
        else:
            kind = ("s" if len(pieces) == 1 else "a") if anchored else "g"
            pattern = body
        kinds.append(kind.upper() if rule.allow else kind)
        patterns.append(pattern)
        literals.append(len(literal.encode("utf-8", "surrogatepass")))
    return (
        -1 if whole is None else ordered.index(whole),
        "".join(kinds),
        tuple(offsets[rule] for rule in ordered),
        tuple(patterns),
        tuple(literals),
    )


RULE_KINDS = {
    "p": "prefix: the path starts with the pattern",
    "f": "full path (the pattern ended in $): the path is the pattern",
    "s": "one * then $: the path starts with what is before the *, ends with what is after it, "
    "and is at least as long as both",
    "g": "any other glob (* without $)",
    "a": "any other glob with $ (the pattern is stored without it)",
}
"""Kinds of stored rules (``ruleset_rules.kind.u8``, an ASCII letter; upper case when the rule allows)."""

SCOPES = ("host", "domain")
_SIGNAL_RANK = {signal: rank for rank, signal in enumerate(SIGNALS)}
_ORIGIN_COLUMNS = (
    "origins.host",
    "origins.observed_at.i64",
    "origins.source",
    "origins.evidence_sha256",
    "origins.status",
)
_V2_FIXED = (
    "rules.signal.u8",
    "rules.scope.u8",
    "rules.agents.u32",
    "rules.allow.u8",
    "rules.exact.u8",
    "rules.line.i32",
    "rules.origin.i64",
    "origins.observed_at.i64",
)
_ORIGIN_TEXTS = ("origins.host", "origins.source", "origins.evidence_sha256", "origins.status")
_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
_TEXT_COLUMNS = {
    "rules.pattern",
    "rules.text",
    "origins.host",
    "origins.source",
    "origins.evidence_sha256",
    "origins.status",
    "agents.text",
    "ruleset_rules.pattern",
    "entries.key",
}
_COLUMNS = (
    "rules.signal.u8",
    "rules.scope.u8",
    "rules.agents.u32",
    "rules.pattern",
    "rules.allow.u8",
    "rules.exact.u8",
    "rules.line.i32",
    "rules.text",
    "rules.origin.i64",
    "origins.host",
    "origins.observed_at.i64",
    "origins.source",
    "origins.evidence_sha256",
    "origins.status",
    "agents.text",
    "groups.signal.u8",
    "groups.ruleset.u32",
    "groups.first_row.i64",
    "rulesets.rules_end.i64",
    "rulesets.whole.i32",
    "ruleset_rules.kind.u8",
    "ruleset_rules.row.u32",
    "ruleset_rules.pattern",
    "ruleset_rules.literal.u32",
    "entries.key",
    "entries.groups_end.i64",
    "index.hash.u64",
    "index.entry.u32",
)


def _group_key(row: dict) -> tuple:
    return (row["scope"], row["host"], row["signal"], row["agents"])


def _row_order(row: dict) -> tuple:
    return tuple(row[name] if name != "line" else (row["line"] or 0) for name in _ROW_ORDER)


_ROW_ORDER = _ROW_FIELDS[: _ROW_FIELDS.index("evidence_sha256") + 1]
"""Rule rows are stored in this order, so each group's rows are contiguous and the file is reproducible."""
