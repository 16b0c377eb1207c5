"""Keep a verified deletion list current: load it from a folder or an http(s) URL, refresh on a schedule.

Fail closed (DESIGN.md "Principles"): every candidate release is verified (ed25519 signature,
payload sha256 and size, format version) in a staging folder before it replaces anything. A bad
download, a tampered file, an older release or an unreachable server leaves the last good list in
place and records why in ``last_error``. A list older than ``max_age`` warns; a strict loader
refuses to serve without a fresh, verified list.
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
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

from apertus_compliance.filters.deletion_list import DeletionList, ReleaseError

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = 86400.0
DEFAULT_MAX_AGE = 183 * 86400.0  # the model card asks users to re-download at least every six months
WARN_EVERY = 3600.0
MANIFEST_LIMIT = 1 << 20  # a manifest is a few hundred bytes; anything near this is not one
USER_AGENT = "apertus-compliance-deletion-list/1"
_CHUNK = 1 << 20
_INCOMING = ".incoming-"
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


class ListUnavailable(RuntimeError):
    """Strict mode has no verified list younger than max_age: refuse to serve rather than serve unfiltered."""


class DeletionListWarning(UserWarning):
    """The list in use is older than max_age, or none could be loaded (non-strict mode serves anyway)."""


def parse_interval(value: str | float) -> float:
    """Seconds from ``90s``, ``30m``, ``24h``, ``1d``, ``2w`` or a plain number of seconds (``--refresh``)."""
    if isinstance(value, bool):
        raise ValueError(f"interval {value!r}: expected a duration such as 24h, 30m, 90s or 1d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhdw]?)\s*", value.lower())
        if match is None:
            raise ValueError(f"interval {value!r}: expected a number with an optional unit s, m, h, d or w "
                             f"(e.g. 24h, 30m, 90s, 1d)")
        seconds = float(match[1]) * _UNITS[match[2] or "s"]
    else:
        raise ValueError(f"interval {value!r}: expected a number of seconds or a string such as 24h")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"interval {value!r}: must be a positive, finite duration")
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
    """A release folder on disk; changed when manifest.json's mtime/size and then its sha256 differ."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.location = str(self.folder)
        self._seen: tuple[tuple[int, int], str] | None = None

    def fetch(self, into: Path) -> object | None:
        manifest_path = self.folder / "manifest.json"
        stat = manifest_path.stat()
        fingerprint = (stat.st_mtime_ns, stat.st_size)
        if self._seen is not None and self._seen[0] == fingerprint:
            return None
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
    accepted because integrity comes from the signature, not from the transport.
    """

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.location = base_url.rstrip("/")
        self.timeout = timeout
        self._validators: dict[str, str] = {}

    def _get(self, name: str, headers: dict[str, str]) -> http.client.HTTPResponse | None:
        """The response, or None for 304 Not Modified; any other failure is a ReleaseError naming the URL."""
        url = f"{self.location}/{name}"
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **headers})
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            error.close()
            if error.code == 304 and headers:
                return None
            raise ReleaseError(f"{url}: HTTP {error.code} {error.reason}") from error
        except urllib.error.URLError as error:
            raise ReleaseError(f"{url}: cannot connect ({error.reason})") from error
        except (OSError, http.client.HTTPException) as error:
            raise ReleaseError(f"{url}: request failed ({error!r})") from error

    def fetch(self, into: Path) -> object | None:
        conditional = {}
        if "etag" in self._validators:
            conditional["If-None-Match"] = self._validators["etag"]
        if "last_modified" in self._validators:
            conditional["If-Modified-Since"] = self._validators["last_modified"]
        manifest_url = f"{self.location}/manifest.json"
        response = self._get("manifest.json", conditional)
        if response is None:
            return None
        with response:
            manifest = _read_all(response, manifest_url, MANIFEST_LIMIT)
            marker = {key: value for key, value in (("etag", response.headers.get("ETag")),
                                                    ("last_modified", response.headers.get("Last-Modified")))
                      if value}
        _write_bytes(into / "manifest.json", manifest)
        payload_url = f"{self.location}/payload.bin"
        declared = _declared_payload_size(manifest, manifest_url)
        response = self._get("payload.bin", {})
        if response is None:  # unreachable: an unconditional GET never gets 304 passed through
            raise ReleaseError(f"{payload_url}: unexpected 304 Not Modified")
        with response, (into / "payload.bin").open("wb") as target:
            _copy_limited(response, target, payload_url, declared)
        return marker

    def accept(self, marker: object) -> None:
        self._validators = dict(marker)  # type: ignore[call-overload]


def open_source(location: str | Path, *, timeout: float = 30.0) -> ListSource:
    """A source for a local release folder or an ``http://`` / ``https://`` base URL."""
    if isinstance(location, str) and "://" in location:
        scheme = location.split("://", 1)[0].lower()
        if scheme in ("http", "https"):
            return HttpSource(location, timeout=timeout)
        raise ValueError(f"deletion list location {location!r}: expected a local folder or an http(s):// URL")
    return DirectorySource(location)


def _read_all(response: http.client.HTTPResponse, url: str, limit: int) -> bytes:
    try:
        data = response.read(limit + 1)
    except (OSError, http.client.HTTPException) as error:
        raise ReleaseError(f"{url}: download incomplete ({error!r})") from error
    if len(data) > limit:
        raise ReleaseError(f"{url}: larger than {limit} bytes, not a release manifest")
    announced = response.headers.get("Content-Length")
    if announced is not None and announced.strip().isdigit() and len(data) != int(announced):
        raise ReleaseError(f"{url}: download incomplete, {len(data)} of {int(announced)} bytes")
    return data


def _copy_limited(response: http.client.HTTPResponse, target: BinaryIO, url: str, limit: int) -> None:
    """Stream to ``target``; stop past ``limit`` bytes (what the manifest declares) so a hostile server can't fill
    the disk."""
    total = 0
    try:
        while chunk := response.read(_CHUNK):
            total += len(chunk)
            if total > limit:
                raise ReleaseError(f"{url}: more than the {limit} bytes the manifest declares")
            target.write(chunk)
    except (OSError, http.client.HTTPException) as error:
        raise ReleaseError(f"{url}: download incomplete after {total} bytes ({error!r})") from error
    announced = response.headers.get("Content-Length")
    if announced is not None and announced.strip().isdigit() and total != int(announced):
        # read(amt) returns short at EOF without raising: a connection closed early shows only here
        raise ReleaseError(f"{url}: download incomplete, {total} of {int(announced)} bytes")
    target.flush()
    os.fsync(target.fileno())


def _declared_payload_size(manifest: bytes, url: str) -> int:
    """The payload size an (as yet unverified) manifest declares: only a bound for the download."""
    try:
        parsed = json.loads(manifest)
        entries, prefixes = parsed["entries"], parsed["prefixes"]
    except (ValueError, TypeError, KeyError) as error:
        raise ReleaseError(f"{url}: not a deletion-list manifest ({error!r})") from error
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (entries, prefixes)):
        raise ReleaseError(f"{url}: not a deletion-list manifest (entries/prefixes are not counts)")
    return entries * 9 + prefixes * 8


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
    """

    def __init__(self, location: str | Path | ListSource, public_key: str | Path, *,
                 interval: float | str = DEFAULT_INTERVAL, max_age: float | str | None = DEFAULT_MAX_AGE,
                 strict: bool = False, cache_dir: str | Path | None = None,
                 clock: Callable[[], float] = time.time, timeout: float = 30.0) -> None:
        self.source = location if isinstance(location, ListSource) else open_source(location, timeout=timeout)
        self.public_key = Path(public_key)
        if not self.public_key.is_file():
            raise ReleaseError(f"{self.public_key}: public key not found (configure the deployer's key)")
        self.interval = parse_interval(interval)
        self.max_age = None if max_age is None else parse_interval(max_age)
        self.strict = strict
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
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
            message = (f"deletion list {current.version} from {self.source.location} is {age / 86400:.0f} days "
                       f"old, past max_age of {self.max_age / 86400:.0f} days{because}")
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
                candidate = DeletionList.load(staging, self.public_key)
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
        """Swap in a verified candidate unless it is the loaded version or older (rollback protection)."""
        current = self.current
        if current is not None:
            if candidate.version == current.version:
                if candidate.manifest["payload_sha256"] != current.manifest["payload_sha256"]:
                    logger.warning("deletion list %s at %s was republished with other content under the same "
                                   "version; keeping the loaded one", candidate.version, self.source.location)
                return False, None
            if _timestamp(candidate.created) < _timestamp(current.created):
                raise ReleaseError(
                    f"{self.source.location}: release {candidate.version} (created {candidate.manifest['created']}) "
                    f"is older than the loaded {current.version} (created {current.manifest['created']}); "
                    f"refused (rollback protection)")
        cache_error = None
        if self.cache_dir is not None:
            try:
                self._persist(candidate, staging)
            except OSError as error:  # the verified list is still better than the old one: use it, report this
                cache_error = f"{self.cache_dir}: could not cache release {candidate.version} ({error})"
        with self._lock:
            self._current = replace(candidate, source=self.source.location)
            self._loaded_from = "source"
        logger.info("deletion list %s (created %s) swapped in from %s", candidate.version,
                    candidate.manifest["created"], self.source.location)
        return True, cache_error

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
            loaded = DeletionList.load(current, self.public_key)
        except (ReleaseError, OSError) as error:
            self._failed(f"cached release unusable: {error}")
            return
        with self._lock:
            self._current = replace(loaded, source=str(current.resolve()))
            self._loaded_from = "cache"
        logger.info("deletion list %s (created %s) loaded from cache %s", loaded.version,
                    loaded.manifest["created"], current)

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
        logger.warning("deletion list refresh failed, keeping %s: %s",
                       f"list {version}" if version else "no list (none verified yet)", message)

    # ---- background thread

    def start(self, *, refresh_now: bool = True) -> Self:
        """Refresh now (so a strict server has its list when this returns), then every ``interval`` seconds
        in a daemon thread."""
        if self._thread is not None and self._thread.is_alive():
            return self
        if refresh_now:
            self.refresh()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop,), name="deletion-list-refresh",
                                        daemon=True)
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

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
