"""Machine-readable reservations (opt-outs): registry, as-of snapshots, lookups with evidence.

Typical use: ``ingest_*`` functions fill a :class:`Registry` (DuckDB), :func:`compile_snapshot`
writes an immutable snapshot as of a date, and :class:`Snapshot` answers batches of URLs with a
:class:`Reservation` (signal, rule, observation) or None. See the README for the CLI.
"""

from apertus_compliance.lazy import lazy_exports

# Public name -> the submodule that defines it, imported on first use (DuckDB and pyarrow load
# only when a registry or snapshot is used). Other areas import only these names.
__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DEFAULT_AGENT_LIST": "settings",
        "GRANULARITIES": "settings",
        "INVALID_URL": "lookup",
        "SIGNALS": "snapshot",
        "AgentList": "agents",
        "AgentListError": "agents",
        "IngestReport": "ingest",
        "Registry": "registry",
        "RegistryError": "registry",
        "Reservation": "lookup",
        "Snapshot": "lookup",
        "SnapshotError": "lookup",
        "SnapshotOptions": "snapshot",
        "TdmRepError": "tdmrep",
        "bundled_agent_lists": "settings",
        "compile_snapshot": "snapshot",
        "diff_snapshots": "lookup",
        "domain_extractor": "domains",
        "ingest_bundled_sample": "ingest",
        "ingest_rightsholder_list": "ingest",
        "ingest_robots_dir": "ingest",
        "ingest_robots_parquet": "ingest",
        "ingest_tdmrep": "ingest",
        "ingest_warc": "ingest",
        "load_agent_list": "agents",
        "migrate_snapshot": "snapshot",
        "product_token": "robots",
        "registered_domain": "domains",
    },
)
