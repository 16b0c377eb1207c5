"""The time-versioned registry of opt-out observations: one DuckDB file.

Every observation says what was seen (``kind``), where (``host``, ``url``), when
(``observed_at``), from which input (``source``) and keeps its evidence by sha256, so a
snapshot can be recompiled for any as-of date and agent list, and every decision can point at
the bytes behind it. Ingest is idempotent: an observation is keyed by kind, host, url, date and
evidence hash, and a second ingest of the same input adds nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from apertus_compliance.errors import ApertusError

KINDS = ("robots", "tdmrep", "page", "rightsholder")

MAX_EVIDENCE_BYTES = 512 * 1024
"""Evidence is stored up to the 500 KiB that robots.txt parsing reads (the hash covers it all)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS evidence (
    sha256 VARCHAR PRIMARY KEY,
    size BIGINT NOT NULL,          -- size of the original bytes
    content BLOB NOT NULL          -- the first MAX_EVIDENCE_BYTES of them
);
CREATE TABLE IF NOT EXISTS observations (
    kind VARCHAR NOT NULL,         -- robots | tdmrep | page | rightsholder
    host VARCHAR NOT NULL,         -- lower-case host; for a whole-domain list row, the domain
    url VARCHAR NOT NULL,          -- page URL (page), URL prefix (rightsholder), else ''
    observed_at TIMESTAMP NOT NULL,
    status VARCHAR NOT NULL,       -- ok | absent | unreachable | unparsable
    evidence_sha256 VARCHAR NOT NULL,
    source VARCHAR NOT NULL,       -- file, WARC record or list line it came from
    detail VARCHAR NOT NULL,       -- parser note, HTTP status, requester reference
    PRIMARY KEY (kind, host, url, observed_at, evidence_sha256)
);
"""

_OBSERVATION_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("host", pa.string()),
        ("url", pa.string()),
        ("observed_at", pa.timestamp("us")),
        ("status", pa.string()),
        ("evidence_sha256", pa.string()),
        ("source", pa.string()),
        ("detail", pa.string()),
    ]
)


@dataclass(frozen=True, slots=True)
class Observation:
    kind: str
    host: str
    url: str
    observed_at: datetime
    status: str
    evidence_sha256: str
    source: str
    detail: str = ""


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def end_of_day(as_of: date) -> datetime:
    """Observations made at any time on the as-of day count."""
    return datetime.combine(as_of, time()) + timedelta(days=1)


class RegistryError(ApertusError, ValueError):
    """A registry file that is not a DuckDB registry; the message names it."""


def _memory_size(text: str) -> str:
    """A size DuckDB reads (``512MB``, ``4GB``, ``1.5GiB``), checked here: DuckDB's own message for
    a wrong one names neither the option nor the forms it takes."""
    if not re.fullmatch(r"\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", text, re.IGNORECASE):
        raise ValueError("expected a number and a unit, such as 512MB or 4GB")
    return text.strip()


class Registry:
    """A DuckDB file of observations and their evidence."""

    def __init__(self, path: str | Path, read_only: bool = False, memory_limit: str | None = None) -> None:
        """``memory_limit`` (DuckDB's setting, ``4GB``): what DuckDB may hold before it spills to a
        temporary folder; by default 80% of the machine's memory. Compiling a snapshot of 10M hosts
        peaks at ~8 GB in DuckDB's query otherwise."""
        self.path = Path(path)
        if read_only and not self.path.exists():
            raise FileNotFoundError(f"registry {self.path}: no such file")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as error:
            raise RegistryError(f"registry {self.path}: not a DuckDB registry ({error})") from error
        if memory_limit is not None:
            try:
                self.con.execute(f"SET memory_limit = '{_memory_size(memory_limit)}'")
            except (duckdb.Error, ValueError) as error:
                self.con.close()
                raise RegistryError(f"memory limit {memory_limit!r}: {error}") from error
        if not read_only:
            self.con.execute(_SCHEMA)

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def add(self, observations: Iterable[Observation], evidence: dict[str, bytes]) -> int:
        """Store observations and their evidence (``sha256 -> bytes``); returns how many were new."""
        rows = [asdict(o) for o in observations]
        if not rows:
            return 0
        incoming = pa.Table.from_pylist(rows, schema=_OBSERVATION_SCHEMA)
        blobs = pa.table(
            {
                "sha256": list(evidence),
                "size": [len(b) for b in evidence.values()],
                "content": [b[:MAX_EVIDENCE_BYTES] for b in evidence.values()],
            },
            schema=pa.schema([("sha256", pa.string()), ("size", pa.int64()), ("content", pa.binary())]),
        )
        before = self.count()
        self.con.register("incoming_evidence", blobs)
        self.con.register("incoming_observations", incoming)
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.execute("INSERT OR IGNORE INTO evidence SELECT * FROM incoming_evidence")
            self.con.execute("INSERT OR IGNORE INTO observations SELECT * FROM incoming_observations")
            self.con.execute("COMMIT")
        except duckdb.Error:
            self.con.execute("ROLLBACK")
            raise
        finally:
            self.con.unregister("incoming_evidence")
            self.con.unregister("incoming_observations")
        return self.count() - before

    def count(self) -> int:
        return self.con.execute("SELECT count(*) FROM observations").fetchall()[0][0]

    def counts(self) -> dict[str, int]:
        """Observations per ``kind:status``."""
        rows = self.con.execute(
            "SELECT kind || ':' || status, count(*) FROM observations GROUP BY ALL ORDER BY 1"
        ).fetchall()
        return dict(rows)

    def current(self, as_of: date, batch_size: int = 10_000) -> Iterator[pa.RecordBatch]:
        """For each (kind, host, url), the latest observation at or before ``as_of``, with its evidence,
        in batches (a registry of millions of hosts does not fit in memory at once), host by host.

        Ties on the same instant are broken by evidence hash so the answer never depends on
        ingest order.
        """
        reader = self.con.sql(
            """
            SELECT o.*, e.content AS evidence
            FROM observations o JOIN evidence e ON e.sha256 = o.evidence_sha256
            WHERE o.observed_at < ?
            QUALIFY row_number() OVER (
                PARTITION BY o.kind, o.host, o.url
                ORDER BY o.observed_at DESC, o.evidence_sha256 DESC) = 1
            ORDER BY o.host, o.kind, o.url
            """,
            params=[end_of_day(as_of)],
        ).to_arrow_reader(batch_size)
        yield from reader

    def observations_schema(self) -> pa.Schema:
        return _OBSERVATION_SCHEMA
