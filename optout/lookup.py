"""Answer "may this URL be used, and if not, why" from a snapshot, for one URL or millions.

A snapshot is memory-mapped, not loaded (see ``optout.mapped``): opening reads the manifest and
maps the column files, so every worker process on a node shares one copy through the page
cache, and a worker's own memory holds only the batch it is answering. A batch is answered with
Arrow compute and numpy, without a Python step per URL or per host: authorities are split out
of all URLs and their distinct hosts found in the index at once (hashes searched in the sorted
index, then the keys' bytes compared, so a hash collision never answers for another host);
hosts that reserve nothing or every path are answered per host; for the others every (URL,
rule) pair is matched in one pass, 8 bytes at a time (prefixes, full paths, ``/*.pdf$``-style
globs), and only the few pairs with other globs that get past their literal start are matched
in Python.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from apertus_compliance.optout.mapped import (
    PADDING,
    MappedText,
    equal_spans,
    key_hashes,
    map_fixed,
    offsets_and_bytes,
    ranges,
    words,
)
from apertus_compliance.optout.rules import Rule, _glob_matches
from apertus_compliance.optout.snapshot import (
    FORMAT,
    FORMAT_VERSION,
    MIGRATES_FROM,
    SCOPES,
    SIGNALS,
    SnapshotError,
)

_AUTHORITY = r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<authority>[^/?;#]*)"
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

_BATCH = 65_536
"""URLs answered at once: a batch's (URL, rule) pairs are a few numpy arrays of ten or so entries
per URL, so a worker's memory stays bounded whatever the caller passes."""
_PAIRED_RULES = 1_000_000
"""(path, rule) pairs matched at once: some 60 bytes of numpy arrays each."""
_GLOB_TESTS = 100_000
"""Glob patterns a worker keeps split into pieces (they repeat across hosts: ``/*?``, CMS defaults)."""


class Snapshot:
    """A mapped snapshot. ``lookup`` for batches, ``explain`` for every reservation of one URL."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        manifest_path = self.folder / "manifest.json"
        if not manifest_path.is_file():
            raise SnapshotError(f"snapshot {self.folder}: no manifest.json (compile one with 'optout snapshot')")
        self.manifest = json.loads(manifest_path.read_text())
        found = (self.manifest.get("format"), self.manifest.get("format_version"))
        if found[0] == FORMAT and found[1] in MIGRATES_FROM:
            raise SnapshotError(
                f"snapshot {self.folder}: format v{found[1]}, which this version no longer reads; rewrite it "
                f"with 'apertus-compliance optout migrate-snapshot {self.folder} NEW'"
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
        self._rules_end = self._fixed("rulesets.rules_end.i64")
        self._whole = self._fixed("rulesets.whole.i32")
        self._rule_kind = self._fixed("ruleset_rules.kind.u8")
        self._rule_row = self._fixed("ruleset_rules.row.u32")
        self._rule_literal = self._fixed("ruleset_rules.literal.u32")
        self._rule_patterns = MappedText(self.folder, "ruleset_rules.pattern")
        self._has_domains = len(self._entry_keys) > 0 and self._entry_keys[len(self._entry_keys) - 1][0] == "d"
        self._glob_tests: dict[str, tuple[str, tuple[str, ...]]] = {}

    def _fixed(self, name: str) -> np.ndarray:
        return map_fixed(self.folder / name)

    def verify(self) -> None:
        """Hash every file again against the manifest (opening checks sizes only, to stay fast), the
        files on as many threads as there are cores."""
        files = self.manifest["files"]
        with ThreadPoolExecutor(min(len(files), os.cpu_count() or 1) or 1) as pool:  # hashlib lets go of the GIL
            digests = dict(zip(files, pool.map(self._file_sha256, files), strict=True))
        for name, recorded in files.items():
            if digests[name] != recorded["sha256"]:
                raise SnapshotError(f"snapshot {self.folder}: {name} does not match the hash in its manifest")

    def _file_sha256(self, name: str) -> str:
        with (self.folder / name).open("rb") as handle:  # streamed: files reach gigabytes
            return hashlib.file_digest(handle, "sha256").hexdigest()

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
        """For each URL, the reservation that applies or None when it may be used.

        A rule set that reserves every path is reported before the others; otherwise the first
        rule set (in SIGNALS order) whose deciding rule for the path reserves it is.
        """
        array = urls if isinstance(urls, pa.Array) else pa.array(urls, pa.string())
        if array.type != pa.string():  # large_string: one type for the kernels below
            array = array.cast(pa.string())
        results: list[Reservation | None] = []
        for start in range(0, len(array), _BATCH):
            results += self._lookup(array.slice(start, _BATCH))
        return results

    def check(self, url: str) -> Reservation | None:
        return self.lookup([url])[0]

    def explain(self, url: str) -> list[Reservation]:
        """Every reservation that applies to ``url`` (one per rule set), for evidence."""
        array = pa.array([url], pa.string())
        found = pc.extract_regex(array, _AUTHORITY)
        hosts = _hosts(pc.utf8_lower(pc.struct_field(found, "authority")))
        if not hosts.is_valid().to_pylist()[0]:
            return [INVALID_URL]
        _, groups, rules = self._reserving(_path_spans(array, found, np.zeros(1, np.int64)), *self._host_groups(hosts))
        return self._reservations(groups, rules)

    def _lookup(self, array: pa.Array) -> list[Reservation | None]:
        """Per distinct host: free, invalid, every path reserved, or depends on the path; then the
        URLs of the last kind matched against their hosts' rules, all at once."""
        found = pc.extract_regex(array, _AUTHORITY)
        encoded = pc.dictionary_encode(pc.utf8_lower(pc.struct_field(found, "authority")), null_encoding="encode")
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        hosts = _hosts(encoded.dictionary)
        starts, counts, groups = self._host_groups(hosts)
        answers = np.full(len(hosts), None, object)
        answers[~hosts.is_valid().to_numpy(zero_copy_only=False)] = INVALID_URL
        owners = np.repeat(np.arange(len(hosts)), counts)
        wholes = np.nonzero(self._whole[self._group_ruleset[groups]] >= 0)[0]
        wholes = wholes[_first_of_runs(owners[wholes])]  # a host's first rule set that reserves every path
        rulesets = self._group_ruleset[groups[wholes]].astype(np.int64)
        answers[owners[wholes]] = self._reservations(groups[wholes], self._rule_start(rulesets) + self._whole[rulesets])
        depends = counts > 0
        depends[owners[wholes]] = False
        results = answers[codes]
        rows = np.nonzero(depends[codes])[0]
        if len(rows):
            url_codes = codes[rows]
            url_of, found_groups, found_rules = self._reserving(
                _path_spans(array, found, rows), starts[url_codes], counts[url_codes], groups
            )
            first = _first_of_runs(url_of)  # the first reserving rule set of each URL
            results[rows[url_of[first]]] = self._reservations(found_groups[first], found_rules[first])
        return results.tolist()

    def _reservations(self, groups: np.ndarray, rules: np.ndarray) -> list[Reservation]:
        """The reservation of each stored rule ``rules[i]`` in group ``groups[i]`` (its evidence row)."""
        signals = self._group_signal[groups].tolist()
        rows = (self._group_first_row[groups] + self._rule_row[rules]).tolist()
        return [Reservation(SIGNALS[signal], row, self) for signal, row in zip(signals, rows, strict=True)]

    def _rule_start(self, rulesets: np.ndarray) -> np.ndarray:
        """Where each rule set's rules start in ``ruleset_rules.*``."""
        return np.where(rulesets > 0, self._rules_end[np.maximum(rulesets - 1, 0)], 0).astype(np.int64)

    def _host_groups(self, hosts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The reserving groups of each host (``groups.*`` rows), host and domain entries together
        in SIGNALS order: ``groups[starts[i] : starts[i] + counts[i]]`` for host ``i``; none for a
        null host or one without an entry."""
        counts = np.zeros(len(hosts), np.int64)
        present = np.nonzero(hosts.is_valid().to_numpy(zero_copy_only=False))[0]
        if not len(present):
            return counts.copy(), counts, np.empty(0, np.int64)
        valid = hosts.take(pa.array(present))
        if self._has_domains:  # the host's own entry, then one per domain above it, from the longest
            keys, owners = [], []
            for position, host in zip(present.tolist(), valid.to_pylist(), strict=True):
                host_keys = [f"h/{host}"] + [f"d/{host.split('.', i)[-1]}" for i in range(host.count(".") + 1)]
                keys += host_keys
                owners += [position] * len(host_keys)
            keys, owners = pa.array(keys, pa.string()), np.array(owners, np.int64)
        else:
            keys, owners = pc.binary_join_element_wise("h/", valid, ""), present
        entries = self._find(keys)
        hits = np.nonzero(entries >= 0)[0]
        entries, owners = entries[hits], owners[hits]
        ends = self._entry_groups_end[entries].astype(np.int64)
        begins = np.where(entries > 0, self._entry_groups_end[np.maximum(entries - 1, 0)], 0).astype(np.int64)
        groups = ranges(begins, ends - begins)
        owners = np.repeat(owners, ends - begins)
        if self._has_domains:  # host and domain groups interleave; each entry's are in SIGNALS order already
            order = np.lexsort((np.arange(len(groups)), self._group_signal[groups], owners))
            groups, owners = groups[order], owners[order]
        counts += np.bincount(owners, minlength=len(hosts))
        return np.cumsum(counts) - counts, counts, groups

    def _reserving(
        self, paths: _Paths, starts: np.ndarray, counts: np.ndarray, groups: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For path ``i`` (see ``_path_spans``) and its groups
        ``groups[starts[i] : starts[i] + counts[i]]``: each group whose deciding rule for the path
        reserves it, as (path, group, rule) arrays, in path then group order.

        (path, group) pairs are matched against their rules ``_PAIRED_RULES`` (path, rule) pairs
        at a time, so a host with thousands of rules and many URLs in a batch stays in bounds.
        """
        pair_path = np.repeat(np.arange(len(counts)), counts)
        pair_group = groups[ranges(starts, counts)]
        rulesets = self._group_ruleset[pair_group].astype(np.int64)
        rule_begins = self._rule_start(rulesets)
        rule_counts = self._rules_end[rulesets] - rule_begins
        ends = np.cumsum(rule_counts)
        found_pairs, found_rules = [], []
        start = 0
        while start < len(ends):
            done = int(ends[start - 1]) if start else 0
            stop = max(int(np.searchsorted(ends, done + _PAIRED_RULES, "right")), start + 1)
            pairs, rules = self._deciding(
                paths, pair_path[start:stop], rule_begins[start:stop], rule_counts[start:stop]
            )
            found_pairs.append(pairs + start)
            found_rules.append(rules)
            start = stop
        found = np.concatenate(found_pairs) if found_pairs else np.empty(0, np.int64)
        rules = np.concatenate(found_rules) if found_rules else np.empty(0, np.int64)
        return pair_path[found], pair_group[found], rules

    def _deciding(
        self, paths: _Paths, pair_path: np.ndarray, rule_begins: np.ndarray, rule_counts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The pairs (of path ``pair_path[i]`` and the rules from ``rule_begins[i]``) whose deciding
        rule reserves the path, and that rule: the first of the pair's rules (they are stored in
        priority order) that matches. Every (path, rule) pair is matched in one pass."""
        pair = np.repeat(np.arange(len(pair_path)), rule_counts)
        rule = ranges(rule_begins, rule_counts)
        path = pair_path[pair]
        path_start, path_length = paths.starts[path], paths.lengths[path]
        kind, literal = self._rule_kind[rule], self._rule_literal[rule].astype(np.int64)
        patterns = self._rule_patterns
        pattern_start = patterns.offsets[rule]
        pattern_length = patterns.offsets[rule + 1] - pattern_start
        path_words, pattern_words = words(paths.data), patterns.words
        matched = np.zeros(len(rule), bool)
        fits = np.nonzero(path_length >= literal)[0]
        fits = fits[equal_spans(path_words, path_start[fits], pattern_words, pattern_start[fits], literal[fits])]
        lower = kind[fits] | 0x20
        matched[fits[lower == ord("p")]] = True
        full = fits[lower == ord("f")]
        matched[full[path_length[full] == literal[full]]] = True
        ends = fits[lower == ord("s")]  # literal * tail $
        tail = pattern_length[ends] - literal[ends] - 1
        long_enough = path_length[ends] >= literal[ends] + tail
        ends, tail = ends[long_enough], tail[long_enough]
        matched[ends] = equal_spans(
            path_words,
            path_start[ends] + path_length[ends] - tail,
            pattern_words,
            pattern_start[ends] + pattern_length[ends] - tail,
            tail,
        )
        globs = fits[(lower == ord("g")) | (lower == ord("a"))]
        if len(globs):
            matched[globs] = self._globs_match(paths, path[globs], rule[globs], kind[globs])
        hits = np.nonzero(matched)[0]
        deciding = hits[_first_of_runs(pair[hits])]
        reserving = deciding[kind[deciding] >= ord("a")]  # lower case: the rule reserves
        return pair[reserving], rule[reserving]

    def _globs_match(self, paths: _Paths, path: np.ndarray, rule: np.ndarray, kind: np.ndarray) -> np.ndarray:
        """Whether each path matches each glob (``g``/``a`` rules whose literal start it has), in Python."""
        tests = self._glob_tests
        patterns = self._rule_patterns.slices(rule)
        if len(tests) + len(patterns) > _GLOB_TESTS:
            tests.clear()
        texts = paths.texts(path)
        anchored = ((kind | 0x20) == ord("a")).tolist()
        found = np.empty(len(rule), bool)
        for position, (text, pattern, is_anchored) in enumerate(zip(texts, patterns, anchored, strict=True)):
            test = tests.get(pattern)
            if test is None:
                first, *pieces = pattern.split("*")
                test = tests[pattern] = (first, tuple(pieces))
            found[position] = _glob_matches(text, test[0], test[1], is_anchored)
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


def _first_of_runs(values: np.ndarray) -> np.ndarray:
    """Where each run of equal values starts (``values`` holds each value in one run)."""
    first = np.ones(len(values), bool)
    first[1:] = values[1:] != values[:-1]
    return np.nonzero(first)[0]


_EPOCH = datetime(1970, 1, 1)


class _Paths(NamedTuple):
    """Paths as byte spans of one buffer (padded for ``mapped.words``): path ``i`` is
    ``data[starts[i] : starts[i] + lengths[i]]``."""

    data: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray

    def texts(self, which: np.ndarray) -> list[str]:
        data, starts, ends = self.data, self.starts[which].tolist(), (self.starts + self.lengths)[which].tolist()
        return [
            data[start:end].tobytes().decode("utf-8", "surrogatepass") for start, end in zip(starts, ends, strict=True)
        ]


def _path_spans(urls: pa.Array, found: pa.Array, rows: np.ndarray) -> _Paths:
    """The path robots rules match for the URLs at ``rows`` (``found``: their ``_AUTHORITY``
    matches): what follows the authority up to the fragment, with a ``/`` in front when it does
    not start with one (``url_path`` gives the same for every URL with an authority).

    Found from lengths and one scan for ``#`` and copied once, with the byte before each path
    (the authority's last, or the ``//``) turned into ``/``, so a path that starts without one
    starts there instead.
    """
    offsets, data = offsets_and_bytes(urls)
    skipped = sum(_lengths(pc.struct_field(found, name)) for name in ("scheme", "authority")) + 3
    begins = offsets[rows] + skipped[rows]
    fragments = np.nonzero(data == ord("#"))[0]
    after = np.append(fragments, len(data))[np.searchsorted(fragments, begins)]
    lengths = np.minimum(offsets[rows + 1], after) - begins
    slots = np.cumsum(lengths + 1) - (lengths + 1)
    copied = np.concatenate([data[ranges(begins - 1, lengths + 1)], np.zeros(PADDING, np.uint8)])
    copied[slots] = ord("/")
    slashed = lengths > 0
    slashed[slashed] = data[begins[slashed]] == ord("/")
    return _Paths(copied, slots + slashed, lengths + 1 - slashed)


def _lengths(strings: pa.Array) -> np.ndarray:
    """The UTF-8 length of each string (0 for null)."""
    return pc.fill_null(pc.binary_length(strings), 0).to_numpy(zero_copy_only=False).astype(np.int64)


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
