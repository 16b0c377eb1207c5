"""Answer "may this URL be used, and if not, why" from a snapshot, for one URL or millions.

Loading needs pyarrow only (no DuckDB), so pipeline workers start fast: the group index and the
distinct rule sets are read at once, the evidence rows only when a reservation is looked at.
Batch lookups split hosts out of all URLs with Arrow compute and decide once per distinct host: most hosts reserve nothing or every path, and only the URLs of hosts with path
rules are matched one by one, each rule set with a single compiled regular expression.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from apertus_compliance.errors import ApertusError
from apertus_compliance.optout.registry import sha256_hex
from apertus_compliance.optout.rules import CompiledRules, Rule, blocks_every_path, url_path
from apertus_compliance.optout.snapshot import FORMAT, FORMAT_VERSION, SIGNALS

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
