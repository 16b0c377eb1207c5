"""A finished rebuild, opened for documentation: its lock (checked against the shards on disk)
and DuckDB queries over the mixture it produced. Every figure in the documents comes from here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from apertus_compliance.errors import ApertusError
from apertus_compliance.pipeline import check_run_files, read_lock


class RunError(ApertusError, ValueError):
    """A run directory that cannot be documented; the message names the mismatch."""


@dataclass(frozen=True)
class Run:
    dir: Path
    lock: dict

    @classmethod
    def open(cls, run_dir: str | Path) -> Run:
        """The run at ``run_dir``; refused when its shards do not match its lock."""
        run_dir = Path(run_dir).resolve()
        try:
            lock = read_lock(run_dir)
        except ValueError as error:
            raise RunError(str(error)) from error
        problems = check_run_files(lock, run_dir)
        if problems:
            raise RunError(
                f"{run_dir}: the lock does not verify: "
                + "; ".join(problems[:5])
                + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
            )
        return cls(run_dir, lock)

    @property
    def sources(self) -> dict[str, dict]:
        return self.lock["sources"]

    def shard_paths(self, source_id: str | None = None) -> list[str]:
        """Mixture shards, as listed in the lock (so only verified files are read)."""
        prefix = f"mixture/{source_id}/" if source_id else "mixture/"
        return [str(self.dir / shard["path"]) for shard in self.lock["outputs"] if shard["path"].startswith(prefix)]

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

    def tokens_by_language(self) -> dict[str, int]:
        """Kept tokens per language label as the sources give them (``deu_Latn``, ``en``, ``en-de``)."""
        rows = self.query(
            "SELECT coalesce(language, 'unknown'), sum(tokens) FROM mixture GROUP BY 1 ORDER BY 2 DESC, 1"
        )
        return {language: int(tokens) for language, tokens in rows}

    def latest_date(self) -> str | None:
        """The latest document date in the mixture (ISO date), or None when no source has dates."""
        rows = self.query("SELECT max(try_cast(left(date, 10) AS DATE)) FROM mixture")
        return rows[0][0].isoformat() if rows and rows[0][0] else None

    def bytes_by_domain(self, source_ids: list[str] | None = None) -> list[tuple[str, int, int]]:
        """``(host, bytes of text, documents)`` over the kept documents, largest first."""
        sql = (
            "SELECT lower(regexp_extract(url, '^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#:@]+)', 1)) AS host, "
            "sum(strlen(text)), count(*) FROM mixture WHERE url IS NOT NULL GROUP BY 1 "
            "HAVING host <> '' ORDER BY 2 DESC, 1"
        )
        if source_ids is None:
            return [(host, int(size), int(count)) for host, size, count in self.query(sql)]
        rows: dict[str, list[int]] = {}
        for source_id in source_ids:
            for host, size, count in self.query(sql, source_id=source_id):
                totals = rows.setdefault(host, [0, 0])
                totals[0] += int(size)
                totals[1] += int(count)
        return sorted(((host, size, count) for host, (size, count) in rows.items()), key=lambda row: (-row[1], row[0]))
