"""Keep a verified deletion list current: load it from a folder or an http(s) URL, refresh on a schedule.

Fail closed (DESIGN.md "Principles"): every candidate release is verified (ed25519 signature,
every manifest field, payload sha256, size and content) and self-tested in a staging folder
before it replaces anything. A bad download, a tampered or malformed file, a release dated in the
future, an older release than one accepted before (even before a restart: the state folder
remembers) or an unreachable server leaves the last good list in place and records why in
``last_error``. A list older than ``max_age`` warns; a strict loader refuses to serve without a
fresh, verified list.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import math
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

from apertus_compliance.errors import ApertusError
from apertus_compliance.filters.deletion_list import CLOCK_SKEW, DeletionList, ReleaseError, public_key_id
from apertus_compliance.filters.settings import DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_TOTAL_TIMEOUT

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = 86400.0
DEFAULT_MAX_AGE = 183 * 86400.0  # the model card asks users to re-download at least every six months
WARN_EVERY = 3600.0
DEFAULT_MAX_MANIFEST_BYTES = 1 << 20
"""A manifest is a few hundred bytes; anything near this is not one."""
USER_AGENT = "apertus-compliance-deletion-list/1"
STATE_DIR_VARIABLE = "APERTUS_STATE_DIR"
"""Overrides ``$XDG_STATE_HOME/apertus-compliance`` (default ``~/.local/state/apertus-compliance``)."""
ACCEPTED_FILE = "accepted.json"
_CHUNK = 1 << 20
_INCOMING = ".incoming-"
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


class ListUnavailable(ApertusError, RuntimeError):
    """Strict mode has no verified list younger than max_age: refuse to serve rather than serve unfiltered."""


class RefreshSettingError(ApertusError, ValueError):
    """A refresh setting (interval, age, download limit, list location) that cannot be used; the message names it."""


class DeletionListWarning(UserWarning):
    """The list in use is older than max_age, or none could be loaded (non-strict mode serves anyway)."""


def parse_interval(value: str | float) -> float:
    """Seconds from ``90s``, ``30m``, ``24h``, ``1d``, ``2w`` or a plain number of seconds (``--refresh``)."""
    if isinstance(value, bool):
        raise RefreshSettingError(f"interval {value!r}: expected a duration such as 24h, 30m, 90s or 1d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhdw]?)\s*", value.lower())
        if match is None:
            raise RefreshSettingError(
                f"interval {value!r}: expected a number with an optional unit s, m, h, d or w (e.g. 24h, 30m, 90s, 1d)"
            )
        seconds = float(match[1]) * _UNITS[match[2] or "s"]
    else:
        raise RefreshSettingError(f"interval {value!r}: expected a number of seconds or a string such as 24h")
    if not math.isfinite(seconds) or seconds <= 0:
        raise RefreshSettingError(f"interval {value!r}: must be a positive, finite duration")
    return seconds


# --------------------------------------------------------------------------------------------
# sources: where candidate releases come from


class ListSource(ABC):
    """Copies a candidate release into a staging folder; remembers what it last handed over successfully."""

    location: str

    @abstractmethod
    def fetch(self, into: Path) -> object | None:
        """Write ``manifest.json`` and ``payload.bin`` into ``into``; None when unchanged since the last accept().

        The returned marker goes to accept() only once the release verified and was taken (or was
        the version already loaded), so a failed or refused candidate is fetched again next time
        instead of being skipped as "seen".
        """

    @abstractmethod
    def accept(self, marker: object) -> None:
        """Remember ``marker`` (from fetch) as the state the loaded list corresponds to."""

    def __str__(self) -> str:
        return self.location


class DirectorySource(ListSource):
    """A release folder on disk; changed when manifest.json's mtime/size and then its sha256 differ.
    The same size limits as for a download apply before anything is read or copied (a shared or
    mounted folder is no more trusted than a mirror)."""

    def __init__(
        self,
        folder: str | Path,
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        max_manifest_bytes: int = DEFAULT_MAX_MANIFEST_BYTES,
    ) -> None:
        self.folder = Path(folder)
        self.location = str(self.folder)
        self.max_payload_bytes = int(max_payload_bytes)
        self.max_manifest_bytes = int(max_manifest_bytes)
        self._seen: tuple[tuple[int, int], str] | None = None

    def fetch(self, into: Path) -> object | None:
        manifest_path = self.folder / "manifest.json"
        stat = manifest_path.stat()
        fingerprint = (stat.st_mtime_ns, stat.st_size)
        if self._seen is not None and self._seen[0] == fingerprint:
            return None
        for path, limit, setting in (
            (manifest_path, self.max_manifest_bytes, "max_manifest_bytes"),
            (self.folder / "payload.bin", self.max_payload_bytes, "max_payload_bytes"),
        ):
            size = path.stat().st_size
            if size > limit:
                raise ReleaseError(f"{path}: {size} bytes, more than the {limit} allowed ({setting})")
        manifest = manifest_path.read_bytes()
        digest = hashlib.sha256(manifest).hexdigest()
        if self._seen is not None and self._seen[1] == digest:
            self._seen = (fingerprint, digest)  # touched, not changed
            return None
        _write_bytes(into / "manifest.json", manifest)
        with (self.folder / "payload.bin").open("rb") as source, (into / "payload.bin").open("wb") as target:
            shutil.copyfileobj(source, target, _CHUNK)
            target.flush()
            os.fsync(target.fileno())
        return (fingerprint, digest)

    def accept(self, marker: object) -> None:
        self._seen = marker  # type: ignore[assignment]


class HttpSource(ListSource):
    """``<base>/manifest.json`` by conditional GET (ETag / Last-Modified), then ``<base>/payload.bin``.

    Standard library only; proxies come from the environment as usual for urllib. Plain http is
    accepted because integrity comes from the signature, not from the transport. A mirror is not
    trusted with resources either: the deployer's limits bound every fetch. ``max_manifest_bytes``
    and ``max_payload_bytes`` cap what is written to disk (the manifest's declared payload size,
    unverified until the download is done, may only lower the cap), and ``total_timeout`` bounds a
    whole fetch, however slowly a server drips its bytes (``timeout`` bounds each connect and read).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        max_manifest_bytes: int = DEFAULT_MAX_MANIFEST_BYTES,
    ) -> None:
        for name, value in (
            ("timeout", timeout),
            ("total_timeout", total_timeout),
            ("max_payload_bytes", max_payload_bytes),
            ("max_manifest_bytes", max_manifest_bytes),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise RefreshSettingError(f"{name} {value!r}: must be a positive number")
        self.location = base_url.rstrip("/")
        self.timeout = timeout
        self.total_timeout = total_timeout
        self.max_payload_bytes = int(max_payload_bytes)
        self.max_manifest_bytes = int(max_manifest_bytes)
        self._validators: dict[str, str] = {}

    def _get(self, name: str, headers: dict[str, str], deadline: _Deadline) -> http.client.HTTPResponse | None:
        """The response, or None for 304 Not Modified; any other failure is a ReleaseError naming the URL."""
        url = f"{self.location}/{name}"
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **headers})
        opener = urllib.request.build_opener(_DeadlineHTTPHandler(deadline), _DeadlineHTTPSHandler(deadline))
        try:
            deadline.check(url)
            return opener.open(request, timeout=deadline.socket_timeout(self.timeout))
        except urllib.error.HTTPError as error:
            error.close()
            if error.code == 304 and headers:
                return None
            raise ReleaseError(f"{url}: HTTP {error.code} {error.reason}") from error
        except urllib.error.URLError as error:
            deadline.check(url)
            raise ReleaseError(f"{url}: cannot connect ({error.reason})") from error
        except (OSError, http.client.HTTPException) as error:
            deadline.check(url)
            raise ReleaseError(f"{url}: request failed ({error!r})") from error

    def fetch(self, into: Path) -> object | None:
        conditional = {}
        if "etag" in self._validators:
            conditional["If-None-Match"] = self._validators["etag"]
        if "last_modified" in self._validators:
            conditional["If-Modified-Since"] = self._validators["last_modified"]
        manifest_url = f"{self.location}/manifest.json"
        with _Deadline(self.total_timeout) as deadline:
            response = self._get("manifest.json", conditional, deadline)
            if response is None:
                return None
            with response:
                manifest = _read_limited(
                    response, manifest_url, self.max_manifest_bytes, "max_manifest_bytes", deadline, self.timeout
                )
                marker = {
                    key: value
                    for key, value in (
                        ("etag", response.headers.get("ETag")),
                        ("last_modified", response.headers.get("Last-Modified")),
                    )
                    if value
                }
            _write_bytes(into / "manifest.json", manifest)
            payload_url = f"{self.location}/payload.bin"
            declared = _declared_payload_size(manifest, manifest_url)
            if declared > self.max_payload_bytes:
                raise ReleaseError(
                    f"{manifest_url}: declares a payload of {declared} bytes, more than the "
                    f"{self.max_payload_bytes} bytes allowed (max_payload_bytes); not downloaded"
                )
            response = self._get("payload.bin", {}, deadline)
            if response is None:  # unreachable: an unconditional GET never gets 304 passed through
                raise ReleaseError(f"{payload_url}: unexpected 304 Not Modified")
            with response, (into / "payload.bin").open("wb") as target:
                _copy_limited(response, target, payload_url, declared, deadline, self.timeout)
        return marker

    def accept(self, marker: object) -> None:
        self._validators = dict(marker)  # type: ignore[call-overload]


def open_source(
    location: str | Path,
    *,
    timeout: float = 30.0,
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    max_manifest_bytes: int = DEFAULT_MAX_MANIFEST_BYTES,
) -> ListSource:
    """A source for a local release folder or an ``http://`` / ``https://`` base URL (with its download limits)."""
    if isinstance(location, str) and "://" in location:
        scheme = location.split("://", 1)[0].lower()
        if scheme in ("http", "https"):
            return HttpSource(
                location,
                timeout=timeout,
                total_timeout=total_timeout,
                max_payload_bytes=max_payload_bytes,
                max_manifest_bytes=max_manifest_bytes,
            )
        raise RefreshSettingError(f"deletion list location {location!r}: expected a local folder or an http(s):// URL")
    return DirectorySource(location, max_payload_bytes=max_payload_bytes, max_manifest_bytes=max_manifest_bytes)


class _Deadline:
    """The time budget of one fetch. Every socket opened under it is registered; when the budget is
    spent a timer shuts them down, so no read (headers included) can outlast it, and between reads
    each socket's time-out is cut to the time left."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Self:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        self._timer.join()

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def check(self, url: str) -> None:
        if self.expired or self.remaining() <= 0:
            raise ReleaseError(
                f"{url}: the fetch took longer than the total time-out of {self.seconds:g} s (total_timeout); stopped"
            )

    def socket_timeout(self, per_read: float) -> float:
        return max(min(per_read, self.remaining()), 0.001)

    def register(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            self._shut(sock)

    def tighten(self, per_read: float) -> None:
        """Each registered socket's time-out: ``per_read``, or the time left when that is less."""
        timeout = self.socket_timeout(per_read)
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.settimeout(timeout)
            except OSError:
                pass  # closed already

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv; the owner still closes it
        except OSError:
            pass


def _deadline_connection(base: type[http.client.HTTPConnection], deadline: _Deadline) -> type:
    class Connection(base):  # type: ignore[misc, valid-type]
        def connect(self) -> None:
            super().connect()
            deadline.register(self.sock)

    return Connection


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_deadline_connection(http.client.HTTPConnection, self.deadline), req)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_deadline_connection(http.client.HTTPSConnection, self.deadline), req)


def _chunks(
    response: http.client.HTTPResponse, url: str, deadline: _Deadline, per_read: float, size: int = _CHUNK
) -> Iterator[bytes]:
    """The body in pieces as they arrive (``read1``: one socket read each, so a slow server cannot
    hold one call for long), with the deadline checked between pieces."""
    while True:
        deadline.check(url)
        deadline.tighten(per_read)
        try:
            chunk = response.read1(size)
        except (OSError, http.client.HTTPException):
            deadline.check(url)  # a socket shut down at the deadline: say so, not "connection reset"
            raise
        if not chunk:
            deadline.check(url)  # a shut-down socket reads as the end: say why
            return
        yield chunk


def _read_limited(
    response: http.client.HTTPResponse, url: str, limit: int, setting: str, deadline: _Deadline, per_read: float
) -> bytes:
    announced = _content_length(response)
    if announced is not None and announced > limit:
        raise ReleaseError(f"{url}: announces {announced} bytes, more than the {limit} allowed ({setting})")
    data = bytearray()
    try:
        for chunk in _chunks(response, url, deadline, per_read, min(_CHUNK, limit + 1)):
            data += chunk
            if len(data) > limit:
                raise ReleaseError(f"{url}: larger than {limit} bytes ({setting}), not a release manifest")
    except (OSError, http.client.HTTPException) as error:
        raise ReleaseError(f"{url}: download incomplete ({error!r})") from error
    if announced is not None and len(data) != announced:
        raise ReleaseError(f"{url}: download incomplete, {len(data)} of {announced} bytes")
    return bytes(data)


def _copy_limited(
    response: http.client.HTTPResponse, target: BinaryIO, url: str, limit: int, deadline: _Deadline, per_read: float
) -> None:
    """Stream to ``target``; stop past ``limit`` bytes (the declared size, already capped by
    max_payload_bytes) so a hostile server can't fill the disk."""
    announced = _content_length(response)
    if announced is not None and announced > limit:
        raise ReleaseError(f"{url}: announces {announced} bytes, more than the {limit} bytes the manifest declares")
    total = 0
    try:
        for chunk in _chunks(response, url, deadline, per_read):
            total += len(chunk)
            if total > limit:
                raise ReleaseError(f"{url}: more than the {limit} bytes the manifest declares; stopped")
            target.write(chunk)
    except (OSError, http.client.HTTPException) as error:
        raise ReleaseError(f"{url}: download incomplete after {total} bytes ({error!r})") from error
    if announced is not None and total != announced:
        # a connection closed early reads as the end of the body: it shows only here
        raise ReleaseError(f"{url}: download incomplete, {total} of {announced} bytes")
    target.flush()
    os.fsync(target.fileno())


def _content_length(response: http.client.HTTPResponse) -> int | None:
    announced = response.headers.get("Content-Length")
    return int(announced) if announced is not None and announced.strip().isdigit() else None


def _declared_payload_size(manifest: bytes, url: str) -> int:
    """The payload size an (as yet unverified) manifest declares: only a bound for the download,
    which the deployer's max_payload_bytes caps."""
    try:
        parsed = json.loads(manifest)
        entries, prefixes = parsed["entries"], parsed["prefixes"]
    except (ValueError, TypeError, KeyError) as error:
        raise ReleaseError(f"{url}: not a deletion-list manifest ({error!r})") from error
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (entries, prefixes)):
        raise ReleaseError(f"{url}: not a deletion-list manifest (entries/prefixes are not counts)")
    return entries * 9 + prefixes * 8


def default_state_dir(public_key: str | Path) -> Path:
    """Where rollback state is kept when no folder is given: ``<root>/deletion-list/<key id>``, one
    folder per publisher key, with ``<root>`` = ``$APERTUS_STATE_DIR``, else
    ``$XDG_STATE_HOME/apertus-compliance``, else ``~/.local/state/apertus-compliance``."""
    root = os.environ.get(STATE_DIR_VARIABLE)
    if root:
        base = Path(root).expanduser()
    else:
        xdg = os.environ.get("XDG_STATE_HOME", "")
        base = (
            Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "state"
        ) / "apertus-compliance"
    return base / "deletion-list" / public_key_id(public_key)


def _write_bytes(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _timestamp(moment: datetime) -> float:
    """Epoch seconds; a manifest ``created`` without a zone is UTC (build_release writes UTC)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


# --------------------------------------------------------------------------------------------
# the refreshing holder


class RefreshingDeletionList:
    """The deletion list to filter with, kept current from ``location`` and swapped only after verification.

    ``refresh()`` never raises on fetch or verification failures: it keeps the last good list and
    records the failure (``status()["last_error"]``). ``require()`` is what a filter calls before
    serving: in strict mode it raises ListUnavailable when there is no list or it is older than
    ``max_age``. With ``cache_dir``, every accepted release is also written to
    ``cache_dir/current`` (an atomically replaced symlink to a fully written, verified folder), and
    a restart starts from it (verified again) even when the source is unreachable.

    Rollback state (the newest release accepted so far, ``accepted.json``) is kept in ``state_dir``:
    by default ``cache_dir``, else ``default_state_dir(public_key)`` under the user's state
    directory, so a restart never accepts an older release than one accepted before. The HTTP
    download limits (``total_timeout``, ``max_payload_bytes``) go to ``HttpSource``.
    """

    def __init__(
        self,
        location: str | Path | ListSource,
        public_key: str | Path,
        *,
        interval: float | str = DEFAULT_INTERVAL,
        max_age: float | str | None = DEFAULT_MAX_AGE,
        strict: bool = False,
        cache_dir: str | Path | None = None,
        state_dir: str | Path | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float = 30.0,
        total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        self.source = (
            location
            if isinstance(location, ListSource)
            else open_source(
                location, timeout=timeout, total_timeout=total_timeout, max_payload_bytes=max_payload_bytes
            )
        )
        self.public_key = Path(public_key)
        if not self.public_key.is_file():
            raise ReleaseError(f"{self.public_key}: public key not found (configure the deployer's key)")
        self.interval = parse_interval(interval)
        self.max_age = None if max_age is None else parse_interval(max_age)
        self.strict = strict
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.state_dir = (
            Path(state_dir)
            if state_dir is not None
            else self.cache_dir
            if self.cache_dir is not None
            else default_state_dir(self.public_key)
        )
        self._clock = clock
        self._lock = threading.Lock()  # guards the fields below
        self._refresh_lock = threading.Lock()  # one refresh at a time (thread and manual calls)
        self._current: DeletionList | None = None
        self._loaded_from: str | None = None
        self._last_checked: float | None = None
        self._last_success: float | None = None
        self._last_error: str | None = None
        self._last_warned: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._accepted: dict | None = self._read_state()
        if self.cache_dir is not None:
            self._load_cache()

    # ---- state

    @property
    def current(self) -> DeletionList | None:
        with self._lock:
            return self._current

    @property
    def last_error(self) -> str | None:
        with self._lock:
            return self._last_error

    def age_seconds(self) -> float | None:
        current = self.current
        return None if current is None else self._clock() - _timestamp(current.created)

    def status(self) -> dict:
        """Version, age and health for logs and health endpoints; never the list or its hash key."""
        with self._lock:
            current, loaded_from = self._current, self._loaded_from
            checked, success, error = self._last_checked, self._last_success, self._last_error
        age = None if current is None else self._clock() - _timestamp(current.created)
        return {
            "version": None if current is None else current.version,
            "created": None if current is None else current.manifest["created"],
            "entries": None if current is None else current.manifest["entries"],
            "age_seconds": age,
            "max_age_seconds": self.max_age,
            "stale": None if age is None else self.max_age is not None and age > self.max_age,
            "strict": self.strict,
            "source": self.source.location,
            "loaded_from": loaded_from,
            "interval_seconds": self.interval,
            "state_dir": str(self.state_dir),
            "refreshing": self._thread is not None and self._thread.is_alive(),
            "last_checked": _iso(checked),
            "last_success": _iso(success),
            "last_error": error,
        }

    def require(self) -> DeletionList | None:
        """The list to serve with. Strict: ListUnavailable unless a verified list younger than max_age is loaded.

        Non-strict: the list (None if none was ever loaded), with a warning at most once an hour
        when it is stale or missing.
        """
        with self._lock:
            current, error = self._current, self._last_error
        now = self._clock()
        because = f" (last error: {error})" if error else ""
        if current is None:
            message = f"no verified deletion list from {self.source.location}{because}"
            if self.strict:
                raise ListUnavailable(f"{message}; strict mode refuses to serve")
            self._warn_hourly(now, f"{message}; serving WITHOUT deletion-list filtering")
            return None
        age = now - _timestamp(current.created)
        if self.max_age is not None and age > self.max_age:
            message = (
                f"deletion list {current.version} from {self.source.location} is {age / 86400:.0f} days "
                f"old, past max_age of {self.max_age / 86400:.0f} days{because}"
            )
            if self.strict:
                raise ListUnavailable(f"{message}; strict mode refuses to serve")
            self._warn_hourly(now, f"{message}; fetch a newer release")
        return current

    def _warn_hourly(self, now: float, message: str) -> None:
        with self._lock:
            if self._last_warned is not None and 0 <= now - self._last_warned < WARN_EVERY:
                return
            self._last_warned = now
        logger.warning("%s", message)
        warnings.warn(message, DeletionListWarning, stacklevel=3)

    # ---- refreshing

    def refresh(self) -> bool:
        """Check the source once; True when a newer verified release was swapped in. Never raises on
        fetch or verification failures: the last good list stays and ``last_error`` says why."""
        with self._refresh_lock:
            now = self._clock()
            with self._lock:
                self._last_checked = now
            staging = self._staging_dir()
            try:
                marker = self.source.fetch(staging)
                if marker is None:
                    logger.debug("deletion list at %s unchanged", self.source.location)
                    self._succeeded(now, None)
                    return False
                candidate = DeletionList.load(staging, self.public_key, now=self._now())
                candidate.verify_self_test()
                swapped, cache_error = self._consider(candidate, staging)
                self.source.accept(marker)
                self._succeeded(now, cache_error)
                return swapped
            except Exception as error:  # noqa: BLE001 - reported and the last good list kept: fail closed
                self._failed(self._describe(error, staging))
                return False
            finally:
                shutil.rmtree(staging, ignore_errors=True)  # gone already when it became the cached release

    def _staging_dir(self) -> Path:
        if self.cache_dir is None:
            return Path(tempfile.mkdtemp(prefix="apertus-deletion-list-"))
        releases = self.cache_dir / "releases"
        releases.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=_INCOMING, dir=releases))  # same filesystem: rename is atomic

    def _consider(self, candidate: DeletionList, staging: Path) -> tuple[bool, str | None]:
        """Swap in a verified candidate unless it is the loaded version or older than the loaded one
        or than the newest accepted before (rollback protection)."""
        current = self.current
        if current is not None and candidate.version == current.version:
            if candidate.manifest["payload_sha256"] != current.manifest["payload_sha256"]:
                logger.warning(
                    "deletion list %s at %s was republished with other content under the same "
                    "version; keeping the loaded one",
                    candidate.version,
                    self.source.location,
                )
            return False, None
        self._check_rollback(candidate, self.source.location)
        errors = []
        if self.cache_dir is not None:
            try:
                self._persist(candidate, staging)
            except OSError as error:  # the verified list is still better than the old one: use it, report this
                errors.append(f"{self.cache_dir}: could not cache release {candidate.version} ({error})")
        state_error = self._record(candidate)
        if state_error:
            errors.append(state_error)
        with self._lock:
            self._current = replace(candidate, source=self.source.location)
            self._loaded_from = "source"
        logger.info(
            "deletion list %s (created %s) swapped in from %s",
            candidate.version,
            candidate.manifest["created"],
            self.source.location,
        )
        return True, "; ".join(errors) or None

    def _check_rollback(self, candidate: DeletionList, where: str) -> None:
        """ReleaseError when ``candidate`` is older than the loaded list or than the release recorded
        in the state folder. Neither can be dated in the future: such releases are refused when
        verified, and a recorded one is ignored when read (``_read_state``)."""
        created = _timestamp(candidate.created)
        current = self.current
        with self._lock:
            accepted = self._accepted
        floors = []
        if current is not None:
            floors.append(("the loaded", current.version, current.manifest["created"]))
        if accepted is not None:
            floors.append(
                (
                    f"the release accepted before (state in {self.state_dir})",
                    accepted["list_version"],
                    accepted["created"],
                )
            )
        for label, version, floor in floors:
            if created < _timestamp(datetime.fromisoformat(floor)):
                raise ReleaseError(
                    f"{where}: release {candidate.version} (created {candidate.manifest['created']}) is older than "
                    f"{label} {version} (created {floor}); refused (rollback protection)"
                )

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _read_state(self) -> dict | None:
        """The newest release accepted before (``accepted.json``), or None. An unreadable record, or
        one dated in the future (written by a build before such releases were refused), is
        reported and ignored: it must not block every genuine release from now on."""
        path = self.state_dir / ACCEPTED_FILE
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            created = datetime.fromisoformat(record["created"])
            if not isinstance(record["list_version"], str) or created.tzinfo is None:
                raise ValueError("list_version or created malformed")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as error:
            self._failed(f"{path}: rollback state unreadable, ignored ({error!r})")
            return None
        if created > self._now() + CLOCK_SKEW:
            self._failed(
                f"{path}: rollback state names release {record['list_version']} created "
                f"{record['created']}, in the future; ignored"
            )
            return None
        return record

    def _record(self, candidate: DeletionList) -> str | None:
        """Remember ``candidate`` as the newest accepted release (atomically); the error in words, if any."""
        with self._lock:
            accepted = self._accepted
        if accepted is not None and _timestamp(candidate.created) < _timestamp(
            datetime.fromisoformat(accepted["created"])
        ):
            return None
        record = {
            "list_version": candidate.version,
            "created": candidate.manifest["created"],
            "payload_sha256": candidate.manifest["payload_sha256"],
            "signing_key_id": candidate.manifest["signing_key_id"],
            "accepted_at": self._now().isoformat(),
        }
        path = self.state_dir / ACCEPTED_FILE
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            staged = self.state_dir / f".{ACCEPTED_FILE}-{uuid.uuid4().hex[:8]}"
            _write_bytes(staged, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
            os.replace(staged, path)
            _fsync_dir(self.state_dir)
        except OSError as error:
            return f"{path}: could not record release {candidate.version} for rollback protection ({error})"
        with self._lock:
            self._accepted = record
        return None

    def _persist(self, candidate: DeletionList, staging: Path) -> None:
        """Rename the verified staging folder into ``releases/`` and atomically repoint ``current`` at it."""
        cache_dir = self.cache_dir
        releases = cache_dir / "releases"
        safe_version = re.sub(r"[^A-Za-z0-9._-]", "_", candidate.version)
        target = releases / f"{safe_version}-{staging.name.removeprefix(_INCOMING)}"
        _fsync_dir(staging)
        os.rename(staging, target)
        _fsync_dir(releases)
        current = cache_dir / "current"
        if current.is_dir() and not current.is_symlink():  # a folder put there by hand: keep it, out of the way
            os.rename(current, releases / f"previous-{uuid.uuid4().hex[:8]}")
        link = cache_dir / f".current-{uuid.uuid4().hex}"
        os.symlink(Path("releases") / target.name, link)
        os.replace(link, current)
        _fsync_dir(cache_dir)
        for old in releases.iterdir():
            if old != target and not old.name.startswith(_INCOMING):
                shutil.rmtree(old, ignore_errors=True)

    def _load_cache(self) -> None:
        current = self.cache_dir / "current"
        if not current.exists():
            return
        try:
            loaded = DeletionList.load(current, self.public_key, now=self._now())
            loaded.verify_self_test()
            self._check_rollback(loaded, str(current))
        except (ReleaseError, OSError) as error:
            self._failed(f"cached release unusable: {error}")
            return
        with self._lock:
            self._current = replace(loaded, source=str(current.resolve()))
            self._loaded_from = "cache"
        logger.info(
            "deletion list %s (created %s) loaded from cache %s", loaded.version, loaded.manifest["created"], current
        )

    def _describe(self, error: Exception, staging: Path) -> str:
        """The failure in words naming the source (not the staging folder), plus the ReleaseError text."""
        message = str(error).replace(str(staging), self.source.location) or repr(error)
        if not isinstance(error, ReleaseError | OSError):
            message = f"{type(error).__name__}: {message}"
        if self.source.location not in message:
            message = f"{self.source.location}: {message}"
        return message

    def _succeeded(self, now: float, error: str | None) -> None:
        with self._lock:
            self._last_success = now
            self._last_error = error
        if error:
            logger.warning("%s", error)

    def _failed(self, message: str) -> None:
        with self._lock:
            self._last_error = message
            version = None if self._current is None else self._current.version
        logger.warning(
            "deletion list refresh failed, keeping %s: %s",
            f"list {version}" if version else "no list (none verified yet)",
            message,
        )

    # ---- background thread

    def start(self, *, refresh_now: bool = True) -> Self:
        """Refresh now (so a strict server has its list when this returns), then every ``interval`` seconds
        in a daemon thread."""
        if self._thread is not None and self._thread.is_alive():
            return self
        if refresh_now:
            self.refresh()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop,), name="deletion-list-refresh", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop the thread; returns once it has finished (a refresh in flight completes first)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            self.refresh()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
