"""Machine-readable reservations (opt-outs): registry, as-of snapshots, lookups with evidence.

Typical use: ``ingest_*`` functions fill a :class:`Registry` (DuckDB), :func:`compile_snapshot`
writes an immutable snapshot as of a date, and :class:`Snapshot` answers batches of URLs with a
:class:`Reservation` (signal, rule, observation) or None. See the README for the CLI.
"""

from apertus_compliance.optout.agents import AgentList, load_agent_list
from apertus_compliance.optout.lookup import INVALID_URL, Reservation, Snapshot, SnapshotError, diff_snapshots
from apertus_compliance.optout.registry import Registry
from apertus_compliance.optout.snapshot import SIGNALS, SnapshotOptions, compile_snapshot

__all__ = [
    "INVALID_URL",
    "SIGNALS",
    "AgentList",
    "Registry",
    "Reservation",
    "Snapshot",
    "SnapshotError",
    "SnapshotOptions",
    "compile_snapshot",
    "diff_snapshots",
    "load_agent_list",
]
