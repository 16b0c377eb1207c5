"""Answer "may this URL be used, and if not, why" from a snapshot, for one URL or millions.

A snapshot is memory-mapped, not loaded (see ``optout.mapped``): opening reads the manifest and
maps the column files, so every worker process on a node shares one copy through the page
cache, and a worker's own memory holds only what its batches looked at (bounded caches of
planned hosts and decoded rule sets). Batch lookups split hosts out of all URLs with Arrow
compute, find the batch's new hosts at once (hashes searched in the sorted index, then the
keys' bytes compared with numpy, so a hash collision never answers for another host), and
decide once per distinct authority: most hosts reserve nothing or every path, and their answers
reach the URLs through one numpy take. Only the URLs of hosts with path rules are read in
Python, and a path is walked rule by rule only when it starts, ends or equals what some
reserving rule needs (most paths match none).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from apertus_compliance.optout.mapped import MappedText, key_hashes, map_fixed
from apertus_compliance.optout.registry import sha256_hex
from apertus_compliance.optout.rules import Rule, _glob_matches, _pattern_test, url_path
from apertus_compliance.optout.snapshot import (
    FORMAT,
    FORMAT_VERSION,
    MIGRATES_FROM,
    SCOPES,
    SIGNALS,
    SnapshotError,
)

_AUTHORITY = r"^[A-Za-z][A-Za-z0-9+.\-]*://(?P<authority>[^/?;#]*)"
"""Scheme, then the authority up to the first ``/ ? ; #`` (where Google's reference starts the path)."""

__all__ = ["INVALID_URL", "Reservation", "Snapshot", "SnapshotError", "diff_snapshots"]


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

_RuleSet = tuple
"""(signal, first evidence row, then the rule set as ``_decode`` gives it)."""
_PLANNED_AUTHORITIES = 200_000
"""Hosts planned and kept per process; past this the cache starts again (memory stays bounded)."""
_DECODED_RULESETS = 100_000


class Snapshot:
    """A mapped snapshot. ``lookup`` for batches, ``explain`` for every reservation of one URL."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        manifest_path = self.folder / "manifest.json"
        if not manifest_path.is_file():
            raise SnapshotError(f"snapshot {self.folder}: no manifest.json (compile one with 'optout snapshot')")
        self.manifest = json.loads(manifest_path.read_text())
        found = (self.manifest.get("format"), self.manifest.get("format_version"))
        if found == (FORMAT, MIGRATES_FROM):
            raise SnapshotError(
                f"snapshot {self.folder}: format v{MIGRATES_FROM} (loaded, not mapped); rewrite it with "
                f"'apertus-compliance optout migrate-snapshot {self.folder} NEW'"
            )
        if found != (FORMAT, FORMAT_VERSION):
            raise SnapshotError(
                f"snapshot {self.folder}: format {found[0]!r} v{found[1]}, expected {FORMAT} v{FORMAT_VERSION}"
            )
        for name, recorded in self.manifest["files"].items():  # sizes now; contents with verify()
            path = self.folder / name
            if not path.is_file():
                raise SnapshotError(f"snapshot {self.folder}: {name} is missing")
            if path.stat().st_size != recorded["bytes"]:
                raise SnapshotError(f"snapshot {self.folder}: {name} does not match the size in its manifest")
        self._index_hash = self._fixed("index.hash.u64")
        self._index_entry = self._fixed("index.entry.u32")
        self._entry_keys = MappedText(self.folder, "entries.key")
        self._entry_groups_end = self._fixed("entries.groups_end.i64")
        self._group_signal = self._fixed("groups.signal.u8")
        self._group_ruleset = self._fixed("groups.ruleset.u32")
        self._group_first_row = self._fixed("groups.first_row.i64")
        self._records = MappedText(self.folder, "rulesets.record")
        self._has_domains = len(self._entry_keys) > 0 and self._entry_keys[len(self._entry_keys) - 1][0] == "d"
        self._plans: dict[str | None, object] = {}
        self._decoded: dict[int, tuple] = {}

    def _fixed(self, name: str) -> np.ndarray:
        return map_fixed(self.folder / name)

    def verify(self) -> None:
        """Hash every file again against the manifest (opening checks sizes only, to stay fast)."""
        for name, recorded in self.manifest["files"].items():
            if sha256_hex((self.folder / name).read_bytes()) != recorded["sha256"]:
                raise SnapshotError(f"snapshot {self.folder}: {name} does not match the hash in its manifest")

    @cached_property
    def _evidence(self) -> dict[str, object]:
        texts = ("rules.pattern", "rules.text", "origins.host", "origins.source", "origins.evidence_sha256")
        fixed = ("rules.signal.u8", "rules.scope.u8", "rules.agents.u32", "rules.allow.u8", "rules.exact.u8")
        fixed += ("rules.line.i32", "rules.origin.i64", "origins.observed_at.i64")
        columns: dict[str, object] = {name: MappedText(self.folder, name) for name in texts + ("agents.text",)}
        columns.update({name.rsplit(".", 1)[0]: self._fixed(name) for name in fixed})
        return columns

    def evidence_value(self, column: str, row: int) -> object:
        """One field of one evidence row, read from the mapped files only when someone asks."""
        columns = self._evidence
        origin = int(columns["rules.origin"][row])
        if column == "scope":
            return SCOPES[columns["rules.scope"][row]]
        if column == "signal":
            return SIGNALS[columns["rules.signal"][row]]
        if column == "agents":
            return columns["agents.text"][int(columns["rules.agents"][row])]
        if column in ("pattern", "text"):
            return columns[f"rules.{column}"][row]
        if column in ("allow", "exact"):
            return bool(columns[f"rules.{column}"][row])
        if column == "line":
            line = int(columns["rules.line"][row])
            return None if line < 0 else line
        if column == "observed_at":
            return _EPOCH + timedelta(microseconds=int(columns["origins.observed_at"][origin]))
        if column in ("host", "source", "evidence_sha256"):
            return columns[f"origins.{column}"][origin]
        raise KeyError(f"snapshot evidence has no column {column!r}")

    @property
    def snapshot_id(self) -> str:
        return self.manifest["snapshot_id"]

    @property
    def as_of(self) -> str:
        return self.manifest["as_of"]

    def lookup(self, urls: Sequence[str] | pa.Array) -> list[Reservation | None]:
        """For each URL, the reservation that applies (see ``_plan_authorities`` for which) or None
        when it may be used.

        The cyclic garbage collector is paused meanwhile: a batch makes hundreds of thousands of
        tuples and lists, none in a cycle, and collections triggered by them walked every object of
        the process again and again (a third of the time of a batch of new hosts).
        """
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._lookup(urls)
        finally:
            if collecting:
                gc.enable()

    def _lookup(self, urls: Sequence[str] | pa.Array) -> list[Reservation | None]:
        """Once per distinct authority: its plan; once per URL only where the plan depends on the path.

        Most URLs' hosts reserve nothing or every path: their answers are spread to the URLs by
        numpy (one object array taken at the authorities' codes), with no Python per URL.
        """
        array = urls if isinstance(urls, pa.Array) else pa.array(urls, pa.string())
        if array.type != pa.string():  # large_string: one type for the kernels below (a batch is < 2 GiB)
            array = array.cast(pa.string())
        authorities = pc.struct_field(pc.extract_regex(array, _AUTHORITY), "authority")
        encoded = pc.dictionary_encode(pc.utf8_lower(authorities), null_encoding="encode")
        distinct = encoded.dictionary.to_pylist()
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        plans = self._plans
        unplanned = [authority not in plans for authority in distinct]
        if any(unplanned):
            if len(plans) + sum(unplanned) > _PLANNED_AUTHORITIES:
                plans.clear()  # every authority of this batch is planned again
                unplanned = [True] * len(distinct)
            self._plan_authorities(encoded.dictionary.filter(pa.array(unplanned, pa.bool_())))
        answers = [plans[authority] for authority in distinct]
        by_path = [code for code, plan in enumerate(answers) if plan.__class__ is tuple]
        fixed = np.fromiter((None if plan.__class__ is tuple else plan for plan in answers), object, len(answers))
        results = fixed[codes].tolist()
        if not by_path:
            return results
        depends = np.zeros(len(answers), bool)
        depends[by_path] = True
        rows = np.nonzero(depends[codes])[0]
        paths = _paths(array.take(pa.array(rows))).to_pylist()
        for row, code, path in zip(rows.tolist(), codes[rows].tolist(), paths, strict=True):
            if path[:1] != "/":  # what url_path gives, without its search
                path = "/" + path
            for signal, first_row, _, kinds, offsets, tests, starts, ends, full in answers[code]:
                if path.startswith(starts) or path.endswith(ends) or path in full:  # a reserving rule may match
                    rule = _first_match(kinds, tests, path)
                    if rule >= 0 and kinds[rule].islower():
                        results[row] = Reservation(signal, first_row + int(offsets.split(",")[rule]), self)
                        break
        return results

    def check(self, url: str) -> Reservation | None:
        return self.lookup([url])[0]

    def explain(self, url: str) -> list[Reservation]:
        """Every reservation that applies to ``url`` (one per rule set), for evidence."""
        authority = pc.struct_field(pc.extract_regex(pa.array([url], pa.string()), _AUTHORITY), "authority")
        hosts = _hosts(pc.utf8_lower(authority))
        if not hosts.is_valid().to_pylist()[0]:
            return [INVALID_URL]
        path = url_path(url)
        found = []
        for signal, first_row, _, kinds, offsets, tests, *_ in self._rule_sets(hosts).get(0, []):
            rule = _first_match(kinds, tests, path)
            if rule >= 0 and kinds[rule].islower():
                found.append(Reservation(signal, first_row + int(offsets.split(",")[rule]), self))
        return found

    def _plan_authorities(self, authorities: pa.Array) -> None:
        """Plan authorities as written in URLs (``user@Host.:80``) through their hosts, all at once.

        A plan is None (free), a Reservation (every path reserved) or a tuple of rule sets. A
        rule set that reserves every path is reported before the others; otherwise the first
        reserving rule set in SIGNALS order is. Most hosts have no entry: they are planned free
        in bulk, and only hosts with rule sets are planned one by one.
        """
        hosts = _hosts(authorities)
        listed = authorities.to_pylist()
        plans = self._plans
        plans.update(dict.fromkeys(listed))
        for position in np.nonzero(~hosts.is_valid().to_numpy(zero_copy_only=False))[0].tolist():
            plans[listed[position]] = INVALID_URL
        for position, found in self._rule_sets(hosts).items():
            plan: object = tuple(found)
            for signal, first_row, whole, _, offsets, *_ in found:
                if whole >= 0:
                    plan = Reservation(signal, first_row + int(offsets.split(",")[whole]), self)
                    break
            plans[listed[position]] = plan

    def _rule_sets(self, hosts: pa.Array) -> dict[int, list[_RuleSet]]:
        """The reserving rule sets recorded for each host and for each domain above it, in SIGNALS
        order, by the host's position in ``hosts``; hosts with none (and null hosts) are left out."""
        present = np.nonzero(hosts.is_valid().to_numpy(zero_copy_only=False))[0]
        if not len(present):
            return {}
        valid = hosts.take(pa.array(present))
        if not self._has_domains:
            keys = pc.binary_join_element_wise("h/", valid, "")
            entries = self._find(keys)
            hits = np.nonzero(entries >= 0)[0]
            return dict(zip(present[hits].tolist(), self._groups(entries[hits]), strict=True))
        keys = [
            [f"h/{host}"] + [f"d/{host.split('.', i)[-1]}" for i in range(host.count(".") + 1)]
            for host in valid.to_pylist()
        ]
        groups = self._groups(self._find(pa.array([key for host_keys in keys for key in host_keys], pa.string())))
        found, position = {}, 0
        for host, host_keys in zip(present.tolist(), keys, strict=True):
            rule_sets = [rule_set for key in range(position, position + len(host_keys)) for rule_set in groups[key]]
            position += len(host_keys)
            if len(host_keys) > 1:  # host and domain groups interleave; each part is in SIGNALS order already
                rule_sets.sort(key=lambda rule_set: _SIGNAL_RANK[rule_set[0]])
            if rule_sets:
                found[host] = rule_sets
        return found

    def _find(self, keys: pa.Array) -> np.ndarray:
        """The entry of each key, or -1: hashes searched in the sorted index, then key texts compared
        (all at once; one by one only past a hash collision)."""
        entries = np.full(len(keys), -1, np.int64)
        if not len(keys) or not len(self._index_hash):
            return entries
        hashes = key_hashes(keys)
        order = np.argsort(hashes)  # ascending probes walk the index in one direction
        positions = np.empty(len(keys), np.int64)
        positions[order] = np.searchsorted(self._index_hash, hashes[order])
        inside = positions < len(self._index_hash)
        hits = np.nonzero(inside)[0]
        hits = hits[self._index_hash[positions[hits]] == hashes[hits]]
        if not len(hits):
            return entries
        candidates = self._index_entry[positions[hits]].astype(np.int64)
        same = self._entry_keys.equal(candidates, keys.take(pa.array(hits)))
        entries[hits[same]] = candidates[same]
        for hit in hits[~same].tolist():  # a hash collision: the key may be further on
            key = keys[hit].as_py()
            position = int(positions[hit]) + 1
            while position < len(self._index_hash) and self._index_hash[position] == hashes[hit]:
                entry = int(self._index_entry[position])
                if self._entry_keys[entry] == key:
                    entries[hit] = entry
                    break
                position += 1
        return entries

    def _groups(self, entries: np.ndarray) -> list[list[_RuleSet]]:
        """The rule sets of each entry (none for -1), their records decoded once per process."""
        result: list[list[_RuleSet]] = [[] for _ in range(len(entries))]
        found = np.nonzero(entries >= 0)[0]
        if not len(found):
            return result
        chosen = entries[found]
        ends = self._entry_groups_end[chosen].astype(np.int64)
        starts = np.where(chosen > 0, self._entry_groups_end[np.maximum(chosen - 1, 0)], 0).astype(np.int64)
        lengths = ends - starts
        groups = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        signals = self._group_signal[groups].tolist()
        first_rows = self._group_first_row[groups].tolist()
        rulesets = self._group_ruleset[groups].tolist()
        decoded = self._decoded
        missing = sorted(set(rulesets).difference(decoded))
        if missing:
            if len(decoded) + len(missing) > _DECODED_RULESETS:
                decoded.clear()
            records = self._records.slices(np.array(missing, np.int64))
            decoded.update(zip(missing, map(_decode, records), strict=True))
        group = 0
        for index, count in zip(found.tolist(), lengths.tolist(), strict=True):
            result[index] = [
                (SIGNALS[signals[g]], first_rows[g], *decoded[rulesets[g]]) for g in range(group, group + count)
            ]
            group += count
        return result


def _decode(record: str) -> tuple:
    """A rule set record (see ``snapshot.ruleset_record``) as lookups use it: (whole, kinds,
    offsets, one test per rule, then what a path must start with, end with or equal for some
    reserving rule to match it). Most paths match no reserving rule, which those three tell in
    two string calls and a set lookup, without walking the rules."""
    whole, kinds, offsets, *patterns = record.split("\0")
    starts, ends, full = [], [], []
    tests = []
    for kind, pattern in zip(kinds, patterns, strict=True):
        if kind in "pPfF":
            tests.append(pattern)
            if kind == "p":
                starts.append(pattern)
            elif kind == "f":
                full.append(pattern)
            continue
        test = _pattern_test(pattern)[1:]  # a glob: its literal start and the pieces after each *
        tests.append(test)
        if kind == "a" and test[1][-1]:
            ends.append(test[1][-1])
        elif kind in "ga":
            starts.append(test[0])
    return -1 if whole == "-" else int(whole), kinds, offsets, tuple(tests), tuple(starts), tuple(ends), tuple(full)


def _first_match(kinds: str, tests: tuple, path: str) -> int:
    """The first rule (they are in priority order) that matches ``path``, or -1: RFC 9309 matching
    as ``rules.CompiledRules`` does it, one string test per rule (a glob's pieces are split once,
    when its rule set is decoded)."""
    for rule, test in enumerate(tests):
        kind = kinds[rule]
        if kind == "p" or kind == "P":
            if path.startswith(test):
                return rule
        elif kind == "f" or kind == "F":
            if path == test:
                return rule
        elif _glob_matches(path, test[0], test[1], kind == "a" or kind == "A"):
            return rule
    return -1


_EPOCH = datetime(1970, 1, 1)
_SIGNAL_RANK = {signal: rank for rank, signal in enumerate(SIGNALS)}


def _paths(urls: pa.Array) -> pa.Array:
    """What follows the authority of each URL (that has one), up to the fragment: two scans
    without captures, which RE2 runs faster than one that captures the path."""
    after_authority = pc.replace_substring_regex(urls, _AUTHORITY, "", max_replacements=1)
    return pc.replace_substring_regex(after_authority, r"#(?s:.*)", "", max_replacements=1)


def _hosts(authorities: pa.Array) -> pa.Array:
    """The host of each authority (see ``_host``). Most authorities are their host already: one
    scan finds those that are not (a user, a port, brackets, a trailing dot, nothing), and only
    they are read in Python."""
    odd = pc.fill_null(pc.match_substring_regex(authorities, r"[@:\[]|\.$|^$"), True)
    positions = np.nonzero(odd.to_numpy(zero_copy_only=False))[0]
    if not len(positions):
        return authorities
    hosts = [_host(authority) for authority in authorities.take(pa.array(positions)).to_pylist()]
    return pc.replace_with_mask(authorities, odd, pa.array(hosts, authorities.type))


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
        columns = snapshot._evidence
        rows = np.nonzero(np.asarray(columns["rules.allow"]) == 0)[0]
        hosts = columns["origins.host"].slices(np.asarray(columns["rules.origin"])[rows])
        scopes = np.asarray(columns["rules.scope"])[rows].tolist()
        signals = np.asarray(columns["rules.signal"])[rows].tolist()
        return {
            (SCOPES[scope], host, SIGNALS[signal]) for scope, host, signal in zip(scopes, hosts, signals, strict=True)
        }

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
