"""Ingest the forms in which reservations reach us into the registry.

Forms: a directory of ``<host>.txt`` robots files; WARC captures (robots.txt responses, and
page responses whose headers or HTML carry a statement); a parquet table ``domain, content``
(how Apertus published its robots.txt corpus); TDMRep files; rights-holder lists (CSV/JSON).

Bad input never stops an ingest and is never dropped silently: every file or row ends up in
:attr:`IngestReport.outcomes` (``robots:ok``, ``robots:unparsable``, ``list:rejected``, ...) and
every problem in :attr:`IngestReport.errors` as ``file:line: what is wrong``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.parquet as pq
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from apertus_compliance.optout.page_signals import signals_from_headers, signals_from_html
from apertus_compliance.optout.registry import Observation, Registry, sha256_hex
from apertus_compliance.optout.robots import MAX_PARSED_BYTES, looks_binary, looks_like_html
from apertus_compliance.optout.tdmrep import TdmRepError, parse_tdmrep
from apertus_compliance.paths import bundled_data
from apertus_compliance.pipeline import (
    HTML_TYPES,
    WebContentError,
    decode_text,
    http_body,
    media_type,
    undo_content_encoding,
)
from apertus_compliance.progress import QUIET, Progress

BATCH = 5000
PAGE_HEAD_BYTES = 64 * 1024
_HOST = re.compile(r"^[a-z0-9._\-\[\]:]+$")
_PAGE_HEADERS = ("tdm-reservation", "tdm-policy", "content-usage", "x-robots-tag")


@dataclass
class IngestReport:
    """What one ingest saw: outcomes per kind, errors naming file and line, new observations.

    Every item read has one outcome. Most items are observations (``observed``), of which
    ``added`` were new to the registry (the others it already held: the same robots.txt seen in
    two inputs, or an earlier ingest); the rest (a page without a statement, a rejected row, an
    unreadable file) are not observations. :meth:`summary` says so in the words every command uses.
    """

    source: str
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    added: int = 0
    observed: int = 0

    def merge(self, other: IngestReport) -> None:
        self.outcomes.update(other.outcomes)
        self.errors.extend(other.errors)
        self.added += other.added
        self.observed += other.observed

    @property
    def not_observations(self) -> dict[str, int]:
        """Outcomes of items that did not become observations (``page:no-statement``, ``*:rejected``, ...)."""
        return {
            outcome: count
            for outcome, count in sorted(self.outcomes.items())
            if count
            and outcome.partition(":")[2]
            in ("no-statement", "rejected", "unreadable", "truncated", "undecodable", "failed")
        }

    def summary(self) -> str:
        """``577 new observations (597 read, 20 already in the registry); 5 items not observations (...)``."""
        text = f"{self.added} new observations ({self.observed} read, {self.observed - self.added} already in the registry)"
        if others := self.not_observations:
            text += (
                f"; {sum(others.values())} items not observations ("
                + ", ".join(f"{outcome} {count}" for outcome, count in others.items())
                + ")"
            )
        return text

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "added": self.added,
            "observations_read": self.observed,
            "outcomes": dict(sorted(self.outcomes.items())),
            "errors": self.errors,
        }


class _Batch:
    """Collects observations and flushes them to the registry every BATCH rows."""

    def __init__(self, registry: Registry, report: IngestReport) -> None:
        self.registry, self.report = registry, report
        self.observations: list[Observation] = []
        self.evidence: dict[str, bytes] = {}

    def add(self, observation: Observation, content: bytes) -> None:
        self.observations.append(observation)
        self.evidence[observation.evidence_sha256] = content
        self.report.outcomes[f"{observation.kind}:{observation.status}"] += 1
        self.report.observed += 1
        if len(self.observations) >= BATCH:
            self.flush()

    def add_robots(self, host: str, observed_at: datetime, content: bytes, source: str, where: str) -> None:
        """A robots.txt served with success: classified, and reported when it cannot be parsed."""
        status, detail = classify_robots(content)
        if status != "ok":
            self.report.errors.append(f"{where}: {detail}; counted as {status}")
        self.add(Observation("robots", host, "", observed_at, status, sha256_hex(content), source, detail), content)

    def flush(self) -> None:
        self.report.added += self.registry.add(self.observations, self.evidence)
        self.observations, self.evidence = [], {}


def classify_robots(content: bytes) -> tuple[str, str]:
    """Status and note for robots.txt bytes served with HTTP 200."""
    if looks_like_html(content):
        return "unparsable", "html page served as robots.txt"
    if looks_binary(content):
        return "unparsable", "binary content"
    notes = []
    if len(content) > MAX_PARSED_BYTES:
        notes.append(f"{len(content)} bytes, only the first {MAX_PARSED_BYTES} bytes parsed")
    try:
        content[:MAX_PARSED_BYTES].decode("utf-8")
    except UnicodeDecodeError:
        notes.append("not UTF-8, invalid bytes replaced")
    return "ok", "; ".join(notes)


def robots_status_for_http(code: int) -> tuple[str, str] | None:
    """RFC 9309 §2.3.1: 4xx means no robots.txt (allow all), 5xx means unreachable."""
    if 200 <= code < 300:
        return None
    if 300 <= code < 400:
        return "absent", f"HTTP {code} redirect not captured"
    if 400 <= code < 500:
        return "absent", f"HTTP {code}"
    return "unreachable", f"HTTP {code}"


def normalize_host(name: str) -> str | None:
    host = name.strip().lower().rstrip(".")
    return host if host and _HOST.match(host) else None


def ingest_robots_dir(registry: Registry, directory: Path, observed_at: datetime | None = None) -> IngestReport:
    """A folder of ``<host>.txt`` files observed at one date (the folder's own name if it is a date)."""
    directory = Path(directory)
    observed_at = observed_at or _date_from_name(directory)
    report = IngestReport(str(directory))
    batch = _Batch(registry, report)
    for path in sorted(directory.glob("*.txt")):
        host = normalize_host(path.stem)
        if host is None:
            report.outcomes["robots:rejected"] += 1
            report.errors.append(f"{path}: file name is not a host name")
            continue
        content = _read(path, "robots", report)
        if content is None:
            continue
        batch.add_robots(host, observed_at, content, f"{directory.name}/{path.name}", str(path))
    batch.flush()
    return report


def ingest_robots_parquet(registry: Registry, path: Path, observed_at: datetime | None = None) -> IngestReport:
    """A parquet table ``domain, content`` (optionally ``observed_at``), read in batches."""
    path = Path(path)
    report = IngestReport(str(path))
    parquet = pq.ParquetFile(path)
    names = set(parquet.schema_arrow.names)
    if not {"domain", "content"} <= names:
        raise ValueError(f"{path}: expected columns 'domain' and 'content', found {sorted(names)}")
    if observed_at is None and "observed_at" not in names:
        raise ValueError(f"{path}: no 'observed_at' column; give the date the files were fetched (--observed-at)")
    columns = ["domain", "content"] + (["observed_at"] if "observed_at" in names else [])
    batch = _Batch(registry, report)
    row = 0
    for record_batch in parquet.iter_batches(batch_size=BATCH, columns=columns):
        for item in record_batch.to_pylist():
            row += 1
            host = normalize_host(item["domain"] or "")
            content = item["content"]
            if host is None or content is None:
                report.outcomes["robots:rejected"] += 1
                report.errors.append(f"{path}: row {row}: missing or invalid domain/content")
                continue
            content = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
            when = _as_datetime(item.get("observed_at")) or observed_at
            batch.add_robots(host, when, content, f"{path.name}#row={row}", f"{path}: row {row}")
    batch.flush()
    return report


def ingest_tdmrep(registry: Registry, path: Path, observed_at: datetime | None = None) -> IngestReport:
    """TDMRep files: a folder of ``<host>.json``, or a mirror with ``<host>/.well-known/tdmrep.json``."""
    path = Path(path)
    observed_at = observed_at or _date_from_name(path)
    report = IngestReport(str(path))
    batch = _Batch(registry, report)
    files = [path] if path.is_file() else sorted(path.glob("*.json")) + sorted(path.glob("*/.well-known/tdmrep.json"))
    for file in files:
        name = file.parent.parent.name if file.name == "tdmrep.json" else file.stem
        host = normalize_host(name)
        if host is None:
            report.outcomes["tdmrep:rejected"] += 1
            report.errors.append(f"{file}: cannot tell the host from the file name")
            continue
        content = _read(file, "tdmrep", report)
        if content is None:
            continue
        status, detail = "ok", ""
        try:
            parse_tdmrep(content)
        except TdmRepError as error:
            status, detail = "unparsable", str(error)
            report.errors.append(f"{file}:{error.line or 1}: {error}")
        source = str(file.relative_to(path.parent)) if path.is_dir() else file.name
        batch.add(Observation("tdmrep", host, "", observed_at, status, sha256_hex(content), source, detail), content)
    batch.flush()
    return report


def ingest_warc(registry: Registry, path: Path) -> IngestReport:
    """WARC responses: robots.txt captures become robots observations; pages with statements, page ones.

    A truncated or corrupt WARC keeps what was read before the damage and reports where it stopped.
    """
    path = Path(path)
    report = IngestReport(str(path))
    batch = _Batch(registry, report)
    offset, records = 0, 0
    try:
        with path.open("rb") as stream:
            iterator = ArchiveIterator(stream)
            for record in iterator:
                if record.format != "warc":  # warcio reads any text line as an ARC record
                    raise ValueError(f"not a WARC record ({record.format})")
                records += 1
                if record.rec_type == "response" and record.http_headers is not None:
                    record_id = record.rec_headers.get_header("WARC-Record-ID") or ""
                    _ingest_warc_response(record, f"{path.name}#{record_id.strip('<>')}", batch)
                offset = iterator.get_record_offset()  # only after the content was read: it skips to the end
    except (ArchiveLoadFailed, EOFError, OSError, ValueError) as error:
        report.outcomes["warc:unreadable"] += 1
        report.errors.append(
            f"{path}: unreadable after offset {offset} ({type(error).__name__}: {error}); records before it were kept"
        )
    else:
        if records == 0 and path.stat().st_size > 0:
            report.outcomes["warc:unreadable"] += 1
            report.errors.append(f"{path}: no WARC record found in {path.stat().st_size} bytes")
    batch.flush()
    return report


def _ingest_warc_response(record, source: str, batch: _Batch) -> None:  # noqa: ANN001 (warcio record)
    url = record.rec_headers.get_header("WARC-Target-URI") or ""
    when = _parse_warc_date(record.rec_headers.get_header("WARC-Date") or "")
    parts = urlsplit(url)
    host = normalize_host(parts.hostname or "")
    if host is None or when is None:
        batch.report.outcomes["warc:rejected"] += 1
        batch.report.errors.append(f"{source}: record without a usable URL or WARC-Date ({url!r})")
        return
    code = int(record.http_headers.get_statuscode() or 0)
    raw = http_body(record)  # read raw and decoded by pipeline/web.py: warcio's own br decoding crashes
    if getattr(record.raw_stream, "limit", 0):  # warcio hands out a cut record without complaint
        batch.report.outcomes["warc:truncated"] += 1
        batch.report.errors.append(
            f"{source}: record for {url} is cut short ({record.raw_stream.limit} bytes missing); not ingested"
        )
        return
    try:
        body, _ = undo_content_encoding(raw, record.http_headers.get_header("Content-Encoding"))
    except WebContentError as error:
        batch.report.outcomes["warc:undecodable"] += 1
        batch.report.errors.append(f"{source}: record for {url}: {error}; not ingested")
        return
    if parts.path == "/robots.txt":
        if failure := robots_status_for_http(code):
            status, detail = failure
            content = f"HTTP {code}".encode()
            batch.add(Observation("robots", host, "", when, status, sha256_hex(content), source, detail), content)
        else:
            batch.add_robots(host, when, body, source, f"{source} ({url})")
        return
    headers = [(k, v) for k, v in record.http_headers.headers if k.lower() in _PAGE_HEADERS]
    content_type = record.http_headers.get_header("Content-Type")
    head = b""
    if media_type(content_type) in HTML_TYPES:  # statements are read from the page as a browser decodes it
        text, _ = decode_text(body, content_type, html=True)
        head = text.encode("utf-8")[:PAGE_HEAD_BYTES]
    if not signals_from_headers(headers) and not (head and signals_from_html(head)):
        batch.report.outcomes["page:no-statement"] += 1
        return
    evidence = encode_page_evidence(headers, head)
    batch.add(Observation("page", host, url, when, "ok", sha256_hex(evidence), source, f"HTTP {code}"), evidence)


def encode_page_evidence(headers: list[tuple[str, str]], html_head: bytes) -> bytes:
    """A page's evidence: its relevant header lines, a blank line, then the start of its HTML."""
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers)
    return lines.encode("utf-8", "replace") + b"\r\n" + html_head


def decode_page_evidence(evidence: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """Inverse of :func:`encode_page_evidence`."""
    headers, position = [], 0
    while (end := evidence.find(b"\r\n", position)) != -1:
        line, position = evidence[position:end], end + 2
        if not line:
            break
        key, _, value = line.decode("utf-8", "replace").partition(":")
        headers.append((key.strip(), value.strip()))
    return headers, evidence[position:]


def ingest_rightsholder_list(registry: Registry, path: Path) -> IngestReport:
    """Rows of ``target`` (a registered domain or a URL prefix), ``requested_at`` (ISO date), ``requester``.

    A row without a usable date or target is rejected and reported with its line; it is not
    guessed into the registry.
    """
    path = Path(path)
    report = IngestReport(str(path))
    batch = _Batch(registry, report)
    for line, row in _list_rows(path, report):
        target = (row.get("target") or "").strip()
        requester = (row.get("requester") or "").strip()
        when = _as_datetime((row.get("requested_at") or "").strip())
        problem = None if when else f"requested_at {row.get('requested_at')!r} is not an ISO date"
        host, prefix = _list_target(target)
        if host is None:
            problem = f"target {target!r} is neither a domain nor an http(s) URL prefix"
        if problem:
            report.outcomes["rightsholder:rejected"] += 1
            report.errors.append(f"{path}:{line}: {problem}")
            continue
        evidence = json.dumps(
            {"target": target, "requested_at": str(when.date()), "requester": requester}, sort_keys=True
        ).encode()
        observation = Observation(
            "rightsholder", host, prefix, when, "ok", sha256_hex(evidence), f"{path.name}:{line}", requester
        )
        batch.add(observation, evidence)
    batch.flush()
    return report


SAMPLE_OBSERVED_AT = datetime(2025, 1, 15)
"""When the bundled TDMRep files and parquet corpus are taken to have been fetched."""


def ingest_bundled_sample(registry: Registry, progress: Progress = QUIET) -> IngestReport:
    """The signals shipped in ``data/sample/signals`` (see its README), each in its own form."""
    signals = bundled_data() / "sample" / "signals"
    report = IngestReport(str(signals))
    inputs = [
        (folder.relative_to(signals).as_posix(), lambda folder=folder: ingest_robots_dir(registry, folder))
        for folder in sorted((signals / "robots").iterdir())
    ]
    inputs += [
        (
            "parquet",
            lambda: ingest_robots_parquet(registry, signals / "parquet" / "robots-2025-01.parquet", SAMPLE_OBSERVED_AT),
        ),
        ("tdmrep", lambda: ingest_tdmrep(registry, signals / "tdmrep", SAMPLE_OBSERVED_AT)),
        ("warc", lambda: ingest_warc(registry, signals / "warc" / "pages.warc.gz")),
        ("rightsholders.csv", lambda: ingest_rightsholder_list(registry, signals / "rightsholders.csv")),
    ]
    for number, (name, ingest) in enumerate(inputs, start=1):
        progress.update(f"ingest: {number}/{len(inputs)} inputs ({name}), {report.observed} observations read")
        report.merge(ingest())
    return report


def _list_rows(path: Path, report: IngestReport) -> Iterator[tuple[int, dict]]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as error:
            report.outcomes["rightsholder:rejected"] += 1
            report.errors.append(f"{path}:{error.lineno}: invalid JSON ({error.msg})")
            return
        if not isinstance(rows, list):
            report.errors.append(f"{path}:1: expected a JSON array of rows")
            return
        for index, row in enumerate(rows, start=1):
            yield index, row if isinstance(row, dict) else {}
        return
    reader = csv.DictReader(io.StringIO(text))
    missing = {"target", "requested_at"} - set(reader.fieldnames or [])
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)} (expected target,requested_at,requester)")
    for row in reader:
        yield reader.line_num, row


def _list_target(target: str) -> tuple[str | None, str]:
    """A domain (whole registered domain, all subdomains) or a URL prefix on one host."""
    if "://" in target:
        parts = urlsplit(target)
        host = normalize_host(parts.hostname or "") if parts.scheme in ("http", "https") else None
        return host, target
    return normalize_host(target), ""


def _read(path: Path, kind: str, report: IngestReport) -> bytes | None:
    """A file's bytes, or None with the problem counted and reported (one unreadable file never stops an ingest)."""
    try:
        return path.read_bytes()
    except OSError as error:
        report.outcomes[f"{kind}:unreadable"] += 1
        report.errors.append(f"{path}: cannot read ({error.strerror or error})")
        return None


def _date_from_name(path: Path) -> datetime:
    try:
        return datetime.fromisoformat(Path(path).name)
    except ValueError:
        raise ValueError(f"{path}: give the observation date (--observed-at); the folder name is not a date") from None


def _as_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value).replace(tzinfo=None)
        except ValueError:
            return None
    return None


def _parse_warc_date(value: str) -> datetime | None:
    return _as_datetime(value.replace("Z", "+00:00"))
