"""A finished rebuild, opened for documentation: its typed lock (:class:`RunLock`, checked against
the shards on disk) and DuckDB queries over the mixture it produced. Every figure in the documents
comes from here, through :mod:`.facts`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from apertus_compliance.errors import ApertusError
from apertus_compliance.pipeline import RunLock, SourceEntry, check_run_files


class RunError(ApertusError, ValueError):
    """A run directory that cannot be documented; the message names the mismatch."""


@dataclass(frozen=True)
class Run:
    dir: Path
    lock: RunLock

    @classmethod
    def open(cls, run_dir: str | Path) -> Run:
        """The run at ``run_dir``; refused when its shards do not match its lock."""
        run_dir = Path(run_dir).resolve()
        try:
            lock = RunLock.read(run_dir)
        except ValueError as error:
            raise RunError(str(error)) from error
        problems = check_run_files(lock.to_dict(), run_dir)
        if problems:
            raise RunError(
                f"{run_dir}: the lock does not verify: "
                + "; ".join(problems[:5])
                + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
            )
        return cls(run_dir, lock)

    @property
    def sources(self) -> dict[str, SourceEntry]:
        return self.lock.sources

    def shard_paths(self, source_id: str | None = None) -> list[str]:
        """Mixture shards, as listed in the lock (so only verified files are read)."""
        prefix = f"mixture/{source_id}/" if source_id else "mixture/"
        return [str(self.dir / shard.path) for shard in self.lock.outputs if shard.path.startswith(prefix)]

    def query(self, sql: str, params: list | None = None, source_id: str | None = None) -> list[tuple]:
        """Run ``sql`` with a view ``mixture`` over the run's shards (all, or one source's)."""
        shards = self.shard_paths(source_id)
        with duckdb.connect() as con:
            if shards:
                files = ", ".join("'" + path.replace("'", "''") + "'" for path in shards)  # views take no parameters
                con.execute(f"CREATE VIEW mixture AS SELECT * FROM read_parquet([{files}])")
            else:  # an empty mixture still answers, with no rows
                con.execute(
                    "CREATE VIEW mixture AS SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS text, "
                    "NULL::VARCHAR AS url, NULL::VARCHAR AS date, NULL::VARCHAR AS language, "
                    "NULL::VARCHAR AS source, NULL::BIGINT AS tokens WHERE false"
                )
            return con.execute(sql, params or []).fetchall()
