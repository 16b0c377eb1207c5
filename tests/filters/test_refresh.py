"""RefreshingDeletionList against a real HTTP server on loopback and against local release folders.

The server implements ETag / If-None-Match and Last-Modified / If-Modified-Since and logs every
request, so the tests can see that an unchanged list costs one 304 and no payload download.
"""

import json
import os
import shutil
import threading
import time
import warnings
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import formatdate, parsedate_to_datetime
from hashlib import sha256
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from apertus_compliance.filters.deletion_list import ReleaseError, build_release, generate_keypair
from apertus_compliance.filters.refresh import (
    DeletionListWarning,
    DirectorySource,
    HttpSource,
    ListUnavailable,
    RefreshingDeletionList,
    parse_interval,
)

DEC = datetime(2025, 12, 1, tzinfo=UTC)
JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
ROWS = "value,category\nHans Müller,name\nhans.mueller@example.org,email\n"
MORE_ROWS = ROWS + "Erika Mustermann,name\n"


class Clock:
    """A settable clock for ages and warning intervals."""

    def __init__(self, now: datetime) -> None:
        self.now = now.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ReleaseServer:
    """Serves the files in ``root`` under ``/releases/latest/`` with conditional GET; records (name, status)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.use_etag = True
        self.truncate: dict[str, int] = {}  # name -> bytes actually sent (Content-Length stays the full size)
        self.requests: list[tuple[str, int]] = []
        self._mtime = 1_767_225_600  # whole seconds, so Last-Modified round-trips exactly
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/releases/latest"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()
        self._running = True

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                name = self.path.rsplit("/", 1)[-1]
                path = server.root / name
                if not self.path.startswith("/releases/latest/") or not path.is_file():
                    server.requests.append((name, 404))
                    self.send_error(404)
                    return
                data = path.read_bytes()
                etag = f'"{sha256(data).hexdigest()[:16]}"'
                mtime = int(path.stat().st_mtime)
                if_none_match = self.headers.get("If-None-Match")
                if_modified_since = self.headers.get("If-Modified-Since")
                if server.use_etag and if_none_match is not None:  # RFC 9110: If-None-Match wins
                    unchanged = etag in [tag.strip() for tag in if_none_match.split(",")]
                elif if_modified_since is not None:
                    unchanged = parsedate_to_datetime(if_modified_since).timestamp() >= mtime
                else:
                    unchanged = False
                server.requests.append((name, 304 if unchanged else 200))
                self.send_response(304 if unchanged else 200)
                if server.use_etag:
                    self.send_header("ETag", etag)
                self.send_header("Last-Modified", formatdate(mtime, usegmt=True))
                if unchanged:
                    self.end_headers()
                    return
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[:server.truncate.get(name, len(data))])

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def publish(self, release: Path) -> None:
        """Replace the served files atomically (payload first), each with a later Last-Modified."""
        self._mtime += 10
        for name in ("payload.bin", "manifest.json"):
            staged = self.root / f".{name}.tmp"
            shutil.copyfile(release / name, staged)
            os.utime(staged, (self._mtime, self._mtime))
            os.replace(staged, self.root / name)

    def count(self, name: str, status: int | None = None) -> int:
        return sum(1 for seen, code in self.requests if seen == name and status in (None, code))

    def stop(self) -> None:
        if self._running:
            self._running = False
            self.httpd.shutdown()
            self.httpd.server_close()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    return {name: generate_keypair(tmp_path_factory.mktemp(f"keys-{name}")) for name in ("ours", "other")}


@pytest.fixture
def release(tmp_path: Path, keys: dict[str, tuple[Path, Path]]):
    """``release(version, created, rows=ROWS, key="ours", out=None)`` builds a release folder."""
    built = Counter()

    def make(version: str, created: datetime, rows: str = ROWS, key: str = "ours", out: Path | None = None) -> Path:
        built[version] += 1
        requests = tmp_path / f"requests-{version}-{built[version]}.csv"
        requests.write_text(rows, encoding="utf-8")
        out = out or tmp_path / f"release-{version}-{built[version]}"
        build_release(requests, keys[key][0], out, version, created=created)
        return out

    return make


@pytest.fixture
def server(tmp_path: Path):
    root = tmp_path / "served"
    root.mkdir()
    served = ReleaseServer(root)
    yield served
    served.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock(FEB + timedelta(days=10))


@pytest.fixture
def loader(keys: dict[str, tuple[Path, Path]], clock: Clock):
    """``loader(location, **options)`` with our public key, the test clock and a short network timeout."""
    made: list[RefreshingDeletionList] = []

    def make(location, **options) -> RefreshingDeletionList:
        options.setdefault("clock", clock)
        options.setdefault("timeout", 5.0)
        made.append(RefreshingDeletionList(location, keys["ours"][1], **options))
        return made[-1]

    yield make
    for each in made:
        each.stop()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback requests must not go through a proxy configured in the environment."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def flip_byte(path: Path, position: int = 3) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


# --------------------------------------------------------------------------------------------
# loading and refreshing over HTTP


def test_initial_load_from_url(server, release, loader, clock):
    server.publish(release("2026.01", JAN))
    lists = loader(server.url)
    assert lists.current is None
    assert isinstance(lists.source, HttpSource)

    assert lists.refresh() is True
    current = lists.current
    assert current.version == "2026.01" and current.created == JAN and current.source == server.url
    status = lists.status()
    assert status["version"] == "2026.01"
    assert status["created"] == JAN.isoformat()
    assert status["age_seconds"] == pytest.approx(clock.now - JAN.timestamp())
    assert status["stale"] is False and status["strict"] is False and status["source"] == server.url
    assert status["last_error"] is None and status["loaded_from"] == "source"
    assert status["last_checked"] == status["last_success"] == datetime.fromtimestamp(clock.now, UTC).isoformat()
    assert "key" not in json.dumps(status)  # never the hash key
    assert server.requests == [("manifest.json", 200), ("payload.bin", 200)]


def test_unchanged_list_costs_one_304_and_no_payload(server, release, loader, clock):
    server.publish(release("2026.01", JAN))
    lists = loader(server.url)
    assert lists.refresh() is True
    first = lists.current
    clock.advance(86400)

    assert lists.refresh() is False
    assert lists.current is first
    assert server.requests[-1] == ("manifest.json", 304)
    assert server.count("payload.bin") == 1
    status = lists.status()
    assert status["last_checked"] == datetime.fromtimestamp(clock.now, UTC).isoformat()
    assert status["last_success"] == status["last_checked"] and status["last_error"] is None


def test_if_modified_since_without_etag_and_same_version_is_not_swapped(server, release, loader):
    server.use_etag = False
    first_build = release("2026.01", JAN)
    server.publish(first_build)
    lists = loader(server.url)
    assert lists.refresh() is True
    assert lists.refresh() is False
    assert server.requests[-1] == ("manifest.json", 304)  # answered by If-Modified-Since

    server.publish(first_build)  # same release, newer Last-Modified: downloaded, verified, kept as is
    first = lists.current
    assert lists.refresh() is False
    assert lists.current is first and lists.last_error is None
    assert server.count("payload.bin", 200) == 2
    assert lists.refresh() is False
    assert server.requests[-1] == ("manifest.json", 304)


def test_new_release_is_swapped_in(server, release, loader):
    server.publish(release("2026.01", JAN))
    lists = loader(server.url)
    lists.refresh()
    server.publish(release("2026.02", FEB, rows=MORE_ROWS))

    assert lists.refresh() is True
    assert lists.current.version == "2026.02" and lists.current.created == FEB
    assert lists.current.manifest["counts"]["name"] == 2
    assert lists.status()["version"] == "2026.02"


def test_tampered_payload_is_refused_and_the_last_good_list_kept(server, release, loader):
    server.publish(release("2026.01", JAN))
    lists = loader(server.url)
    lists.refresh()
    good = release("2026.02", FEB)
    server.publish(good)
    flip_byte(server.root / "payload.bin")

    assert lists.refresh() is False
    assert lists.current.version == "2026.01"
    error = lists.last_error
    assert "sha256" in error and "tampered" in error and f"{server.url}/payload.bin" in error
    assert lists.status()["last_error"] == error
    assert lists.require().version == "2026.01"

    server.publish(good)  # fixed on the server: a refused candidate is fetched again, not skipped as seen
    assert lists.refresh() is True
    assert lists.current.version == "2026.02" and lists.last_error is None


def test_release_signed_with_another_key_is_refused(server, release, loader):
    server.publish(release("2026.01", JAN))
    lists = loader(server.url)
    lists.refresh()
    server.publish(release("2026.02", FEB, key="other"))

    assert lists.refresh() is False
    assert lists.current.version == "2026.01"
    assert "signature does not verify" in lists.last_error and server.url in lists.last_error


@pytest.mark.parametrize(("name", "how", "expected"), [
    ("payload.bin", "connection closed early", "incomplete"),
    ("payload.bin", "short file served", "truncated"),
    ("manifest.json", "connection closed early", "incomplete"),
])
def test_truncated_download_is_refused(server, release, loader, name, how, expected):
    server.publish(release("2026.01", JAN))
    lists = loader(server.url)
    lists.refresh()
    server.publish(release("2026.02", FEB))
    size = (server.root / name).stat().st_size
    if how == "connection closed early":
        server.truncate[name] = size - 5
    else:
        (server.root / name).write_bytes((server.root / name).read_bytes()[:size - 5])

    assert lists.refresh() is False
    assert lists.current.version == "2026.01"
    assert f"{server.url}/{name}" in lists.last_error and expected in lists.last_error


def test_manifest_of_another_format_version_is_refused(server, release, loader):
    server.publish(release("2026.01", JAN))
    lists = loader(server.url)
    lists.refresh()
    server.publish(release("2026.02", FEB))
    manifest = json.loads((server.root / "manifest.json").read_text())
    manifest["format_version"] = 2
    (server.root / "manifest.json").write_text(json.dumps(manifest))

    assert lists.refresh() is False
    assert lists.current.version == "2026.01"
    assert "format version 2" in lists.last_error


def test_server_down_keeps_the_last_good_list(server, release, loader, clock):
    server.publish(release("2026.01", JAN))
    lists = loader(server.url)
    lists.refresh()
    success = lists.status()["last_success"]
    server.stop()
    clock.advance(86400)

    assert lists.refresh() is False
    assert lists.current.version == "2026.01"
    assert "cannot connect" in lists.last_error and server.url in lists.last_error
    status = lists.status()
    assert status["last_success"] == success and status["last_checked"] != success
    assert lists.require().version == "2026.01"


def test_not_found_is_reported(server, loader):
    lists = loader(server.url)
    assert lists.refresh() is False
    assert lists.current is None
    assert "HTTP 404" in lists.last_error and f"{server.url}/manifest.json" in lists.last_error


def test_older_release_is_refused_as_a_rollback(server, release, loader):
    server.publish(release("2026.02", FEB))
    lists = loader(server.url)
    lists.refresh()
    server.publish(release("2025.12", DEC))

    assert lists.refresh() is False
    assert lists.current.version == "2026.02"
    assert "rollback" in lists.last_error and "2025.12" in lists.last_error and "older" in lists.last_error


# --------------------------------------------------------------------------------------------
# local folders


def test_local_directory_reloads_only_when_the_manifest_changes(tmp_path, release, loader):
    folder = tmp_path / "published"
    release("2026.01", JAN, out=folder)
    lists = loader(folder)
    assert isinstance(lists.source, DirectorySource)

    assert lists.refresh() is True
    assert lists.current.version == "2026.01" and lists.current.source == str(folder)
    assert lists.refresh() is False
    os.utime(folder / "manifest.json", (1, 1))  # touched, same bytes: not reloaded
    first = lists.current
    assert lists.refresh() is False and lists.current is first

    release("2026.02", FEB, out=folder)
    assert lists.refresh() is True
    assert lists.current.version == "2026.02"

    release("2026.03", FEB + timedelta(days=5), out=folder)
    flip_byte(folder / "payload.bin")
    assert lists.refresh() is False
    assert lists.current.version == "2026.02"
    assert f"{folder}/payload.bin" in lists.last_error and "sha256" in lists.last_error


def test_missing_local_folder_is_reported(tmp_path, loader):
    lists = loader(tmp_path / "nowhere")
    assert lists.refresh() is False
    assert lists.current is None and "nowhere" in lists.last_error


# --------------------------------------------------------------------------------------------
# strict mode, max_age and warnings


def test_strict_without_a_list_refuses_to_serve(server, loader):
    lists = loader(server.url, strict=True)
    lists.refresh()
    with pytest.raises(ListUnavailable, match="strict mode refuses") as raised:
        lists.require()
    assert isinstance(raised.value, RuntimeError)
    assert "HTTP 404" in str(raised.value)  # says why there is no list


def test_strict_with_a_list_past_max_age_refuses_to_serve(server, release, loader, clock):
    server.publish(release("2026.01", JAN))
    lists = loader(server.url, strict=True)
    lists.refresh()
    assert lists.require().version == "2026.01"

    clock.now = (JAN + timedelta(days=200)).timestamp()  # default max_age: 183 days
    assert lists.status()["stale"] is True
    with pytest.raises(ListUnavailable, match="past max_age"):
        lists.require()

    assert loader(server.url, strict=True, max_age=None).start().require().version == "2026.01"


def test_non_strict_stale_list_is_served_with_an_hourly_warning(server, release, loader, clock):
    server.publish(release("2026.01", JAN))
    lists = loader(server.url, max_age="30d")
    lists.refresh()
    with pytest.warns(DeletionListWarning, match="past max_age of 30 days"):
        assert lists.require().version == "2026.01"

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clock.advance(1800)
        assert lists.require().version == "2026.01"  # within the hour: no second warning

    clock.advance(1801)
    with pytest.warns(DeletionListWarning):
        lists.require()


def test_non_strict_without_a_list_returns_none_and_warns(server, loader):
    lists = loader(server.url)
    lists.refresh()
    with pytest.warns(DeletionListWarning, match="WITHOUT deletion-list filtering"):
        assert lists.require() is None


# --------------------------------------------------------------------------------------------
# background refresh


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_background_thread_swaps_in_a_new_release(server, release, loader):
    server.publish(release("2026.01", JAN))
    lists = loader(server.url, interval=0.1)
    lists.start()
    assert lists.current.version == "2026.01"  # the first refresh ran before start() returned
    assert lists.status()["refreshing"] is True

    server.publish(release("2026.02", FEB))
    assert wait_for(lambda: lists.current.version == "2026.02")

    began = time.monotonic()
    lists.stop()
    assert time.monotonic() - began < 1.0
    assert lists.status()["refreshing"] is False
    assert not any(thread.name == "deletion-list-refresh" for thread in threading.enumerate())


def test_context_manager_starts_and_stops(server, release, loader):
    server.publish(release("2026.01", JAN))
    with loader(server.url, interval="90s") as lists:
        assert lists.current.version == "2026.01" and lists.status()["refreshing"] is True
    assert lists.status()["refreshing"] is False


# --------------------------------------------------------------------------------------------
# cache_dir: restarts start from the last good list


def test_restart_starts_from_the_cache_when_the_server_is_down(tmp_path, server, release, loader):
    cache = tmp_path / "cache"
    server.publish(release("2026.01", JAN))
    first = loader(server.url, cache_dir=cache)
    first.refresh()
    assert (cache / "current").is_symlink() and (cache / "current" / "payload.bin").is_file()
    server.publish(release("2026.02", FEB))
    first.refresh()
    assert json.loads((cache / "current" / "manifest.json").read_text())["list_version"] == "2026.02"
    assert len(list((cache / "releases").iterdir())) == 1  # the replaced release is cleaned up
    server.stop()

    second = loader(server.url, cache_dir=cache, strict=True)
    assert second.current.version == "2026.02" and second.status()["loaded_from"] == "cache"
    assert second.refresh() is False
    assert "cannot connect" in second.last_error
    assert second.require().version == "2026.02"


def test_a_tampered_cache_is_not_used(tmp_path, server, release, loader):
    cache = tmp_path / "cache"
    server.publish(release("2026.01", JAN))
    loader(server.url, cache_dir=cache).refresh()
    flip_byte(cache / "current" / "payload.bin")
    server.stop()

    restarted = loader(server.url, cache_dir=cache, strict=True)
    assert restarted.current is None
    assert "cached release unusable" in restarted.last_error and "sha256" in restarted.last_error
    with pytest.raises(ListUnavailable):
        restarted.require()


# --------------------------------------------------------------------------------------------
# configuration


@pytest.mark.parametrize(("value", "seconds"), [
    ("24h", 86400.0), ("30m", 1800.0), ("90s", 90.0), ("1d", 86400.0), ("2w", 1209600.0), ("1.5h", 5400.0),
    ("3600", 3600.0), (" 24H ", 86400.0), (86400, 86400.0), (0.1, 0.1),
])
def test_parse_interval(value, seconds):
    assert parse_interval(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "h", "24x", "-1h", "0", "0s", "1 day", "nan", True, float("inf"), None, -5])
def test_parse_interval_rejects_bad_input(value):
    with pytest.raises(ValueError, match="interval"):
        parse_interval(value)


def test_bad_configuration_fails_loudly(tmp_path, keys):
    with pytest.raises(ValueError, match="http"):
        RefreshingDeletionList("ftp://example.org/list", keys["ours"][1])
    with pytest.raises(ReleaseError, match="public key not found"):
        RefreshingDeletionList(tmp_path, tmp_path / "missing.key")
    with pytest.raises(ValueError, match="interval"):
        RefreshingDeletionList(tmp_path, keys["ours"][1], interval="soon")
