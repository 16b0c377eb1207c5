"""The rebuild's datatrove steps. Each is an ordinary datatrove step: drop it into any pipeline.

Detect, then act: the reader never drops a row, it marks what is wrong (``metadata["invalid"]``);
``DocumentValidator`` decides. Filters send what they drop to ``removed/<reason>/`` with the
evidence in a ``detail`` column, so every document read is either in the mixture or in
``removed/``, and the counts add up.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.readers.base import BaseDiskReader
from datatrove.pipeline.writers.parquet import ParquetWriter
from datatrove.utils.batching import batched
from datatrove.utils.typeshelper import StatHints

from apertus_compliance.errors import ApertusError
from apertus_compliance.optout import INVALID_URL, Reservation, Snapshot
from apertus_compliance.pipeline.recipe import (
    Fields,
    compiled_template,
    template_fields,
)

QUIET_ENV = "APERTUS_COMPLIANCE_QUIET_DATATROVE"
"""Set by the CLI: datatrove re-installs its own INFO logger in every task, so quieting it has to
happen where the steps are imported, which includes every spawned worker."""
if os.environ.get(QUIET_ENV):
    from loguru import logger

    logger.disable("datatrove")

_COMMON = [
    ("id", pa.string()),
    ("text", pa.string()),
    ("url", pa.string()),
    ("date", pa.string()),
    ("language", pa.string()),
    ("source", pa.string()),
    ("tokens", pa.int64()),
]
MIXTURE_SCHEMA = pa.schema(
    _COMMON
    + [
        ("sample_key", pa.uint64()),
        ("pii_email", pa.int32()),
        ("pii_ip", pa.int32()),
        ("pii_iban", pa.int32()),
    ]
)
"""Columns of every mixture shard (and of the staging shards before the budget). ``tokens``: the
count of ``text`` as written (after masking and redaction), without BOS/EOS."""
REMOVED_SCHEMA = pa.schema(_COMMON + [("reason", pa.string()), ("detail", pa.string())])
"""Columns of every ``removed/`` shard: the document as it was when removed (as read, or masked for
drops after masking), why it went, and the evidence. ``tokens`` is the count of that ``text``."""


# --------------------------------------------------------------------------------------------
# reading


class SourceReader(BaseDiskReader):
    """Reads parquet, JSONL or WARC with a field mapping and yields every row as a Document.

    Rows that cannot be used (no text, undecodable bytes, bad JSON, a truncated record) are
    still yielded, marked ``metadata["invalid"] = <why>``, so they can be counted and kept in
    ``removed/invalid/`` instead of vanishing (datatrove's readers skip empty texts silently).
    """

    name = "📖 Source reader"

    def __init__(
        self,
        data_folder: str,
        files: list[str],
        source_id: str,
        file_format: str,
        fields: Fields,
        text_template: str | None = None,
    ) -> None:
        super().__init__(data_folder, text_key=fields.text, id_key=fields.id or "id", add_file_path=False)
        self.files = files
        self.source_id = source_id
        self.file_format = file_format
        self.fields = fields
        self.text_template = text_template
        """A recipe's ``text_template`` (Jinja2, see ``recipe.compiled_template``): the text of structured rows."""
        self.text_columns = [fields.text] if text_template is None else template_fields(text_template, source_id)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        read = 0  # counted here, stored once: datatrove's per-document stat updates cost more than a filter
        for document in self.read_files_shard(self.files[rank::world_size]):
            read += 1
            yield document
        self.stat_update("read", value=read)

    def read_file(self, filepath: str) -> Iterator[Document]:
        readers = {"parquet": self._parquet_rows, "jsonl": self._jsonl_rows, "warc": self._warc_rows}
        for row_number, row, invalid in readers[self.file_format](filepath):
            document = self._document(filepath, row_number, row, invalid)
            if "web_removal" in row:  # a WARC record that is no document: see _warc_record
                document.metadata |= {"web_removal": row["web_removal"], "web_detail": row["web_detail"]}
            yield document

    def _document(self, filepath: str, row_number: int, row: dict, invalid: str | None) -> Document:
        fields = self.fields
        if self.text_template is not None and invalid is None:
            text, invalid = self._templated(row)
        elif self.text_template is not None and row and fields.text not in row:
            text = _row_evidence(row)  # an invalid structured row (undecodable bytes) keeps its fields
        else:  # a row already invalid keeps what was read (a bad JSON line's text) under fields.text
            text = row.get(fields.text)
        if invalid is None:
            if not isinstance(text, str):
                invalid = "missing-text" if text is None else f"text is {type(text).__name__}, not a string"
            elif not text.strip(" \t\r\n\x00\x0b\x0c"):
                invalid = "empty-text"
        doc_id = row.get(fields.id) if fields.id else None
        metadata = {
            "source": self.source_id,
            "url": _as_str(row.get(fields.url)) if fields.url else None,
            "date": _as_str(row.get(fields.date)) if fields.date else None,
            "language": _as_str(row.get(fields.language)) if fields.language else None,
        }
        if invalid:
            metadata["invalid"] = invalid
        return Document(
            text=text if isinstance(text, str) else "",
            id=str(doc_id) if doc_id not in (None, "") else f"{self.source_id}/{filepath}#{row_number}",
            metadata=metadata,
        )

    def _templated(self, row: dict) -> tuple[str, str | None]:
        """The row through the text template; a row it cannot render (a field missing or null, a
        mapping without the key) is invalid with Jinja2's message naming the field, and keeps the row
        as JSON as its text. Null fields are left out, so ``{% if note is defined %}`` handles both."""
        from jinja2 import TemplateError

        try:
            return compiled_template(self.text_template).render({k: v for k, v in row.items() if v is not None}), None
        except (TemplateError, TypeError, ValueError, AttributeError, LookupError) as error:
            return _row_evidence(row), f"text_template: {getattr(error, 'message', None) or error}"

    def _parquet_rows(self, filepath: str) -> Iterator[tuple[int, dict, str | None]]:
        mapped = {self.fields.id, self.fields.url, self.fields.date, self.fields.language} - {None}
        wanted = mapped | set(self.text_columns)
        with self.data_folder.open(filepath, "rb") as handle, pq.ParquetFile(handle) as parquet:
            columns = [name for name in parquet.schema_arrow.names if name in wanted]
            row_number = 0
            for group in range(parquet.num_row_groups):
                size = parquet.metadata.row_group(group).num_rows
                try:
                    rows = parquet.read_row_group(group, columns=columns).to_pylist()
                except (OSError, pa.ArrowException) as error:  # a corrupt page: its rows are counted, not lost
                    for _ in range(size):
                        yield row_number, {}, f"unreadable row group {group} ({error})"
                        row_number += 1
                    continue
                for row in rows:
                    yield row_number, row, self._decoded(row)
                    row_number += 1

    def _decoded(self, row: dict) -> str | None:
        """Decode binary text columns in place; undecodable bytes make the row invalid, not the run fail."""
        invalid = None
        for column in self.text_columns:
            text = row.get(column)
            if not isinstance(text, bytes):
                continue
            try:
                row[column] = text.decode("utf-8")
            except UnicodeDecodeError as error:
                row[column] = text.decode("utf-8", errors="replace")
                invalid = invalid or f"non-utf8 text ({error.reason} at byte {error.start})"
        return invalid

    def _jsonl_rows(self, filepath: str) -> Iterator[tuple[int, dict, str | None]]:
        import orjson

        with self.data_folder.open(filepath, "rb", compression="infer") as handle:
            for row_number, line in enumerate(handle):
                if not line.strip():
                    yield row_number, {}, "blank line"
                    continue
                try:
                    row = orjson.loads(line)  # orjson refuses invalid UTF-8 as well as bad JSON
                except orjson.JSONDecodeError as error:
                    text = line.decode("utf-8", errors="replace").rstrip("\n")
                    yield row_number, {self.fields.text: text}, f"line {row_number + 1}: {error}"
                    continue
                if not isinstance(row, dict):
                    yield row_number, {self.fields.text: line.decode("utf-8", "replace")}, "not a JSON object"
                    continue
                yield row_number, row, None

    def _warc_rows(self, filepath: str) -> Iterator[tuple[int, dict, str | None]]:
        """Every response/resource/conversion record; damage is counted, and reading goes on after it.

        A record whose header block is damaged but framed is one invalid row. When warcio cannot go
        on at all (a broken header line, a corrupt gzip member), the damage is one invalid row and
        reading resumes at the next record start found after it (``WARC/1.`` or a gzip member).
        """
        from warcio.archiveiterator import ArchiveIterator
        from warcio.exceptions import ArchiveLoadFailed
        from warcio.statusandheaders import StatusAndHeadersParserException

        unreadable = (ArchiveLoadFailed, StatusAndHeadersParserException, zlib.error, EOFError, ValueError)
        with self.data_folder.open(filepath, "rb") as handle:
            compressed = handle.read(2) == b"\x1f\x8b"
            row_number, start = 0, 0
            while start is not None:
                handle.seek(start)
                records = ArchiveIterator(handle)
                try:
                    for record in records:
                        if record.rec_type is None:  # a damaged header block, still framed: counted
                            yield (
                                row_number,
                                {"text": ""},
                                (f"damaged WARC record header at byte {start + records.get_record_offset()}"),
                            )
                            row_number += 1
                            continue
                        if record.rec_type not in ("response", "resource", "conversion"):
                            continue  # requests, metadata, warcinfo, revisits: not documents
                        if record.format != "warc":
                            raise _NotWarc(f"{filepath}: not a WARC file (read as {record.format})")
                        yield row_number, *self._warc_record(record)
                        row_number += 1
                    return
                except unreadable as error:
                    damaged = start + records.offset
                    start = _next_record_start(handle, damaged + 1, compressed)
                    resumed = "reading resumed at the next record" if start is not None else "the rest is unreadable"
                    detail = ascii(str(error))[1:-1][:80]
                    yield (
                        row_number,
                        {"text": ""},
                        (f"damaged WARC data at byte {damaged} ({type(error).__name__}: {detail}); {resumed}"),
                    )
                    row_number += 1

    @staticmethod
    def _warc_record(record) -> tuple[dict, str | None]:
        """A record as a browser reads it (pipeline/web.py): a document's main text, or a row marked
        ``web_removal`` (not a document, a robots.txt) with its evidence; damaged compression is invalid."""
        from apertus_compliance.pipeline.web import WebContentError, read_record

        headers = record.rec_headers
        row = {
            "text": "",
            "url": headers.get_header("WARC-Target-URI"),
            "date": headers.get_header("WARC-Date"),
            "id": headers.get_header("WARC-Record-ID"),
        }
        try:
            web = read_record(record)
        except WebContentError as error:
            return row, "truncated record" if record.raw_stream.limit else str(error)
        row["text"] = web.text
        if record.raw_stream.limit:
            return row, "truncated record"
        if web.removal is not None:
            row |= {"web_removal": web.removal, "web_detail": json.dumps(web.detail, sort_keys=True)}
        return row, None


def _row_evidence(row: dict) -> str:
    """A structured row as JSON: the text of a row that could not become a document, in ``removed/``."""
    return json.dumps(row, ensure_ascii=False, sort_keys=True, default=str)


class _NotWarc(ApertusError, RuntimeError):
    """A text file that warcio reads as ARC records: the whole file is refused, not resynchronized."""


def _next_record_start(handle, position: int, compressed: bool, chunk: int = 1 << 20) -> int | None:
    """The offset of the next gzip member (or line starting ``WARC/1.``) at or after ``position``, if any."""
    marker, skip = (b"\x1f\x8b\x08", 0) if compressed else (b"\nWARC/1.", 1)
    handle.seek(position)
    carry, offset = b"", position
    while block := handle.read(chunk):
        data = carry + block
        index = data.find(marker)
        if index >= 0:
            return offset - len(carry) + index + skip
        carry = data[-len(marker) :]
        offset += len(block)
    return None


def _as_str(value: object) -> str | None:
    return None if value is None else str(value)


# --------------------------------------------------------------------------------------------
# counting and deciding


class CountingFilter(BaseFilter):
    """datatrove's filter contract (``filter``/``filter_batch``, exclusion writer, ``dropped_<reason>``
    stats) with the counts kept locally and stored once per task. datatrove's own loop updates
    three stats per document, which costs more than our checks on 1 KB documents."""

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        counts: dict[str, int] = {}
        with self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext() as writer:
            for batch in batched(data, self.batch_size):
                for doc, result in zip(batch, self.filter_batch(batch), strict=True):
                    keep, reason = result if isinstance(result, tuple) else (result, None)
                    if keep:
                        counts[StatHints.forwarded] = counts.get(StatHints.forwarded, 0) + 1
                        yield doc
                        continue
                    key = f"dropped_{reason}" if reason else StatHints.dropped
                    counts[key] = counts.get(key, 0) + 1
                    if writer:
                        doc.metadata["filter_reason"] = reason
                        writer.write(doc, rank)
        dropped = sum(count for key, count in counts.items() if key.startswith("dropped_"))
        counts[StatHints.dropped] = counts.get(StatHints.dropped, 0) + dropped
        counts[StatHints.total] = counts.get(StatHints.forwarded, 0) + counts[StatHints.dropped]
        for key, count in counts.items():
            if count:
                self.stat_update(key, value=count)


class DocumentValidator(CountingFilter):
    """Drops documents the reader marked invalid, and (where opt-outs apply) documents whose URL
    has no host: a URL that cannot be checked cannot be kept. WARC records that are no documents
    (``not-a-document``, ``robots-txt``: pipeline/web.py) go under their own reason."""

    name = "🩺 Document validator"

    def __init__(self, require_url: bool, exclusion_writer: ParquetWriter | None = None) -> None:
        super().__init__(exclusion_writer)
        self.require_url = require_url

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if (removal := doc.metadata.get("web_removal")) is not None:  # not a document: its own reason
            doc.metadata["detail"] = doc.metadata["web_detail"]
            return False, removal
        problem = doc.metadata.get("invalid")
        if problem is None and self.require_url:
            url = doc.metadata.get("url")
            if not url:
                problem = "no url"
            elif url.partition("://")[2][:1] in ("", "/", "?", "#"):  # what urlsplit().hostname says, 10x faster
                problem = f"url without a host: {url[:200]!r}"
        if problem is None:
            return True
        doc.metadata["detail"] = json.dumps({"invalid": problem})
        return False, "invalid"


_SNAPSHOTS: dict[tuple[str, str], Snapshot] = {}


def _snapshot(folder: str) -> Snapshot:
    """One opened snapshot per process, folder and manifest (the tasks of a long-lived worker share
    it); a snapshot compiled again into the same folder has another manifest, so it is opened anew."""
    manifest = Path(folder, "manifest.json")
    key = (str(Path(folder).resolve()), hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else "")
    if key not in _SNAPSHOTS:
        _SNAPSHOTS[key] = Snapshot(folder)
    return _SNAPSHOTS[key]


class OptOutFilter(CountingFilter):
    """Drops documents whose URL an opt-out reserves as of the snapshot's date, whatever the
    crawl date (retroactive). The reason is the signal (``robots``, ``tdmrep``, ``aipref``...),
    the detail the rule and the observation it came from."""

    name = "🚫 Opt-out filter"

    def __init__(self, snapshot: str, exclusion_writer: ParquetWriter | None = None, batch_size: int = 1000) -> None:
        super().__init__(exclusion_writer, batch_size=batch_size)
        self.snapshot = str(snapshot)
        self._opened: Snapshot | None = None

    def __getstate__(self) -> dict:
        return self.__dict__ | {"_opened": None}  # an opened snapshot stays in its process

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        if self._opened is None:  # once per task (the step is unpickled fresh for each task)
            self._opened = _snapshot(self.snapshot)
        reservations = self._opened.lookup([doc.metadata.get("url") or "" for doc in batch])
        results: list[bool | tuple[bool, str]] = []
        for doc, reservation in zip(batch, reservations, strict=True):
            if reservation is None:
                results.append(True)
                continue
            doc.metadata["detail"] = _evidence(self.snapshot, reservation)
            results.append((False, reservation.signal))
        return results


@functools.lru_cache(maxsize=65_536)
def _evidence(snapshot: str, reservation: Reservation) -> str:
    """The ``detail`` JSON of a reservation of ``snapshot``; many documents share one rule, so it is
    made once (reservations compare by row, so the snapshot is part of the key)."""
    if reservation is INVALID_URL:
        return json.dumps({"signal": reservation.signal})
    rule = reservation.rule
    return json.dumps(
        {
            "signal": reservation.signal,
            "host": reservation.host,
            "agents": reservation.agents,
            "rule": rule.text,
            "line": rule.line,
            "observed_at": str(reservation.observed_at),
            "evidence": reservation.source,
            "evidence_sha256": reservation.evidence_sha256,
        },
        sort_keys=True,
    )


class DeletionListRedaction(PipelineStep):
    """Redacts a verified deletion-list release from ``doc.text`` (the output filter's Redactor,
    applied to training data); the number of redactions is in the stats as ``redacted``."""

    name = "🧽 Deletion list"
    type = "🔒 - PII"

    def __init__(self, release: str, public_key: str) -> None:
        super().__init__()
        self.release = release
        self.public_key = public_key

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from apertus_compliance.filters import DeletionList, Redactor

        redactor = Redactor(DeletionList.load(self.release, self.public_key))
        redacted = 0
        for document in data:
            document.text, counts = redactor.redact_with_counts(document.text)
            redacted += sum(counts.values())
            yield document
        self.stat_update("redacted", value=redacted)


def sample_key(doc_id: str, seed: int) -> int:
    """A 64-bit key from the document id and the seed (keyed BLAKE2b). Selection by this key
    does not depend on the order of documents, on tasks or on workers."""
    key = seed.to_bytes(8, "big", signed=True)
    return int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8, key=key).digest(), "big")


class SampleKey(PipelineStep):
    """Sets ``metadata["sample_key"]`` for the budget cut."""

    name = "🔑 Sample key"
    type = "🎲 - SAMPLER"

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = seed

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for document in data:
            document.metadata["sample_key"] = sample_key(document.id, self.seed)
            yield document


class BudgetSampler(CountingFilter):
    """Keeps documents whose (sample_key, id) is at or below the cutoff that fills the budget.

    The cutoff comes from all candidates at once (see ``rebuild.budget_cutoff``): the documents
    with the smallest keys whose tokens reach the target, so the choice is the same on any
    number of workers.
    """

    name = "🎯 Budget sampler"

    def __init__(self, cutoff_key: int, cutoff_id: str, exclusion_writer: ParquetWriter | None = None) -> None:
        super().__init__(exclusion_writer)
        self.cutoff = (cutoff_key, cutoff_id)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if (doc.metadata["sample_key"], doc.id) <= self.cutoff:
            return True
        doc.metadata["detail"] = json.dumps({"sample_key": doc.metadata["sample_key"], "cutoff_key": self.cutoff[0]})
        return False, "budget"


# --------------------------------------------------------------------------------------------
# writing


def _document_columns(document: Document) -> dict:
    """The columns a mixture row and a removed row share."""
    metadata = document.metadata
    return {
        "id": document.id,
        "text": document.text,
        "url": metadata.get("url"),
        "date": metadata.get("date"),
        "language": metadata.get("language"),
        "source": metadata.get("source"),
        "tokens": metadata.get("tokens"),
    }


def _mixture_row(self: ParquetWriter, document: Document) -> dict:
    metadata = document.metadata
    return _document_columns(document) | {
        "sample_key": metadata.get("sample_key"),
        "pii_email": metadata.get("pii_email", 0),
        "pii_ip": metadata.get("pii_ip", 0),
        "pii_iban": metadata.get("pii_iban", 0),
    }


def _removed_row(self: ParquetWriter, document: Document) -> dict:
    reason = document.metadata.get("filter_reason")
    return _document_columns(document) | {
        "reason": reason,
        "detail": document.metadata.get("detail") or json.dumps({"reason": reason}),
    }


def mixture_writer(folder: str | Path) -> ParquetWriter:
    """zstd parquet, one shard per task (``00000.parquet``...), fixed columns: stable bytes."""
    return ParquetWriter(
        str(folder),
        output_filename="${rank}.parquet",
        compression="zstd",
        adapter=_mixture_row,
        schema=MIXTURE_SCHEMA,
        max_file_size=-1,
    )


def removed_writer(removed_root: str | Path, source_id: str, reason: str | None = None) -> ParquetWriter:
    """``removed/<reason>/<source>/<rank>.parquet``; ``reason`` None takes the filter's reason."""
    folder = reason if reason is not None else "${filter_reason}"
    return ParquetWriter(
        str(removed_root),
        output_filename=f"{folder}/{source_id}/${{rank}}.parquet",
        compression="zstd",
        adapter=_removed_row,
        schema=REMOVED_SCHEMA,
        max_file_size=-1,
    )


class ReasonAs(CountingFilter):
    """Wraps a recipe's extra datatrove filter so its drops land in ``removed/<id>/`` with the
    filter's own reason as detail (datatrove reasons vary per filter and would scatter folders)."""

    name = "🧹 Recipe filter"

    def __init__(self, inner: BaseFilter, reason: str, exclusion_writer: ParquetWriter | None = None) -> None:
        super().__init__(exclusion_writer, batch_size=getattr(inner, "batch_size", 1))
        self.inner = inner
        self.reason = reason
        self.name = f"🧹 {reason}: {inner.name}"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        results = []
        for doc, result in zip(batch, self.inner.filter_batch(batch), strict=True):
            keep, inner_reason = result if isinstance(result, tuple) else (result, None)
            if keep:
                results.append(True)
                continue
            doc.metadata["detail"] = json.dumps({"filter": self.inner.name, "reason": inner_reason})
            results.append((False, self.reason))
        return results
