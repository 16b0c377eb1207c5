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
                self.wfile.write(data[: server.truncate.get(name, len(data))])

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


@pytest.mark.parametrize(
    ("name", "how", "expected"),
    [
        ("payload.bin", "connection closed early", "incomplete"),
        ("payload.bin", "short file served", "truncated"),
        ("manifest.json", "connection closed early", "incomplete"),
    ],
)
def test_truncated_download_is_refused(server, release, loader, name, how, expected):
    server.publish(release("2026.01", JAN))
    lists = loader(server.url)
    lists.refresh()
    server.publish(release("2026.02", FEB))
    size = (server.root / name).stat().st_size
    if how == "connection closed early":
        server.truncate[name] = size - 5
    else:
        (server.root / name).write_bytes((server.root / name).read_bytes()[: size - 5])

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


def wait_for(condition, timeout: float = 30.0) -> bool:
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
    assert time.monotonic() - began < 10  # a refresh in flight completes first; not the 30 s join time-out
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


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("24h", 86400.0),
        ("30m", 1800.0),
        ("90s", 90.0),
        ("1d", 86400.0),
        ("2w", 1209600.0),
        ("1.5h", 5400.0),
        ("3600", 3600.0),
        (" 24H ", 86400.0),
        (86400, 86400.0),
        (0.1, 0.1),
    ],
)
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


# --------------------------------------------------------------------------------------------
# releases that are signed but must still be refused, and rollback state across restarts


def resign(folder: Path, private_key: Path, change) -> Path:
    """Apply ``change(manifest)`` and sign again with the publisher's own key: only validation can tell."""
    from cryptography.hazmat.primitives import serialization

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    change(manifest)
    signer = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
    unsigned = {key: value for key, value in manifest.items() if key != "signature"}
    manifest["signature"] = signer.sign(json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()).hex()
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    return folder


def dated_2099(manifest: dict) -> None:
    manifest["created"] = "2099-01-01T00:00:00+00:00"


def state_file(root: Path, keys) -> Path:
    from apertus_compliance.filters.deletion_list import public_key_id

    return root / "deletion-list" / public_key_id(keys["ours"][1]) / "accepted.json"


def test_restart_without_cache_dir_still_refuses_an_older_release(tmp_path, server, release, loader, keys, monkeypatch):
    state = tmp_path / "state-home"
    monkeypatch.setenv("APERTUS_STATE_DIR", str(state))
    server.publish(release("2026.02", FEB))
    first = loader(server.url)
    assert first.refresh() is True
    record = json.loads(state_file(state, keys).read_text())
    assert record["list_version"] == "2026.02" and record["created"] == FEB.isoformat()
    assert first.status()["state_dir"] == str(state_file(state, keys).parent)
    first.stop()

    server.publish(release("2026.01", JAN))  # older, still fresh, correctly signed
    restarted = loader(server.url)  # no cache_dir: the state folder remembers
    assert restarted.current is None
    assert restarted.refresh() is False
    assert restarted.current is None
    error = restarted.last_error
    assert "rollback" in error and "2026.01" in error and "2026.02" in error and "accepted before" in error

    server.publish(release("2026.03", FEB + timedelta(days=3)))
    assert restarted.refresh() is True and restarted.current.version == "2026.03"
    assert json.loads(state_file(state, keys).read_text())["list_version"] == "2026.03"


def test_the_same_release_is_accepted_again_after_a_restart(tmp_path, release, loader, keys):
    folder = release("2026.02", FEB, out=tmp_path / "published")
    assert loader(folder).refresh() is True
    again = loader(folder)
    assert again.refresh() is True and again.current.version == "2026.02" and again.last_error is None


def test_default_state_dir_follows_the_environment(tmp_path, keys, monkeypatch):
    from apertus_compliance.filters.deletion_list import public_key_id
    from apertus_compliance.filters.refresh import default_state_dir

    key_id = public_key_id(keys["ours"][1])
    monkeypatch.setenv("APERTUS_STATE_DIR", str(tmp_path / "explicit"))
    assert default_state_dir(keys["ours"][1]) == tmp_path / "explicit" / "deletion-list" / key_id
    monkeypatch.delenv("APERTUS_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_dir(keys["ours"][1]) == tmp_path / "xdg" / "apertus-compliance" / "deletion-list" / key_id
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_state_dir(keys["ours"][1]) == (
        tmp_path / "home" / ".local" / "state" / "apertus-compliance" / "deletion-list" / key_id
    )
    other = default_state_dir(keys["other"][1])
    assert other.name != key_id  # one folder per publisher key


def test_state_dir_argument_and_cache_dir_hold_the_state(tmp_path, release, loader, keys):
    folder = release("2026.02", FEB, out=tmp_path / "published")
    loader(folder, state_dir=tmp_path / "given").refresh()
    assert json.loads((tmp_path / "given" / "accepted.json").read_text())["list_version"] == "2026.02"
    loader(folder, cache_dir=tmp_path / "cache").refresh()
    assert json.loads((tmp_path / "cache" / "accepted.json").read_text())["list_version"] == "2026.02"


def test_a_release_dated_2099_is_refused_and_blocks_no_later_release(tmp_path, server, release, loader, keys):
    server.publish(release("2026.01", JAN))
    lists = loader(server.url)
    assert lists.refresh() is True
    server.publish(resign(release("2099.01", FEB), keys["ours"][0], dated_2099))

    assert lists.refresh() is False
    assert lists.current.version == "2026.01"
    assert "'created'" in lists.last_error and "future" in lists.last_error and server.url in lists.last_error

    restarted = loader(server.url)
    server.publish(release("2026.02", FEB))  # a genuine later release
    assert restarted.refresh() is True and restarted.current.version == "2026.02"
    assert lists.refresh() is True and lists.current.version == "2026.02"


def test_a_future_dated_state_record_is_ignored(tmp_path, release, loader, keys):
    state = tmp_path / "state"
    state.mkdir()
    (state / "accepted.json").write_text(
        json.dumps({"list_version": "2099.01", "created": "2099-01-01T00:00:00+00:00", "payload_sha256": "0" * 64})
    )
    lists = loader(release("2026.01", JAN, out=tmp_path / "published"), state_dir=state)
    assert "in the future; ignored" in lists.last_error
    assert lists.refresh() is True and lists.current.version == "2026.01"
    assert json.loads((state / "accepted.json").read_text())["list_version"] == "2026.01"


def test_an_unreadable_state_record_is_reported_and_ignored(tmp_path, release, loader):
    state = tmp_path / "state"
    state.mkdir()
    (state / "accepted.json").write_text("{broken")
    lists = loader(release("2026.01", JAN, out=tmp_path / "published"), state_dir=state)
    assert "rollback state unreadable" in lists.last_error
    assert lists.refresh() is True and lists.last_error is None


def test_a_release_whose_canary_is_not_listed_is_refused(server, release, loader, keys):
    server.publish(release("2026.01", JAN))
    lists = loader(server.url, strict=True)
    lists.refresh()

    def replace_the_key(manifest: dict) -> None:
        key = bytes(range(32))
        manifest["hash"] = {**manifest["hash"], "key": key.hex(), "key_id": sha256(key).hexdigest()[:16]}

    server.publish(resign(release("2026.02", FEB), keys["ours"][0], replace_the_key))
    assert lists.refresh() is False
    assert lists.current.version == "2026.01" and "'self_test'" in lists.last_error


def test_a_release_whose_self_test_redaction_fails_is_not_swapped_in(server, release, loader, monkeypatch):
    from apertus_compliance.filters.redactor import Redactor

    server.publish(release("2026.01", JAN))
    lists = loader(server.url, strict=True)
    assert lists.refresh() is True
    server.publish(release("2026.02", FEB))

    def broken(self, text):
        raise RuntimeError("anonymizer broken")

    with monkeypatch.context() as patch:
        patch.setattr(Redactor, "redact", broken)
        assert lists.refresh() is False
    assert lists.current.version == "2026.01"
    assert "self-test redaction failed" in lists.last_error and "anonymizer broken" in lists.last_error
    assert lists.refresh() is True and lists.current.version == "2026.02"


def test_a_cached_release_older_than_the_state_is_not_used(tmp_path, release, loader):
    cache = tmp_path / "cache"
    folder = tmp_path / "published"
    release("2026.01", JAN, out=folder)
    loader(folder, cache_dir=cache).refresh()
    (cache / "accepted.json").write_text(json.dumps({"list_version": "2026.02", "created": FEB.isoformat()}))
    restarted = loader(folder, cache_dir=cache)
    assert restarted.current is None and "cached release unusable" in restarted.last_error
    assert "rollback" in restarted.last_error


# --------------------------------------------------------------------------------------------
# hostile mirrors: the deployer's limits bound disk and time, whatever the server sends


class HostileServer:
    """Serves ``manifest.json`` and ``payload.bin`` in a chosen way: ``normal``, ``drip`` (one byte
    every 50 ms: longer than the tests' 1.5 s budget), ``drip-headers`` (the status line, then header bytes one by
    one), or ``endless`` (64 KiB chunks without end, no Content-Length)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.modes: dict[str, str] = {}
        self.requests: list[str] = []
        self.stopping = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/list"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                name = self.path.rsplit("/", 1)[-1]
                server.requests.append(name)
                data = server.files[name]
                mode = server.modes.get(name, "normal")
                try:
                    if mode == "drip-headers":
                        self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
                        while not server.stopping.wait(0.05):
                            self.wfile.write(b"a")
                            self.wfile.flush()
                        return
                    self.send_response(200)
                    if mode != "endless":
                        self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if mode == "normal":
                        self.wfile.write(data)
                    elif mode == "drip":
                        for byte in data:
                            if server.stopping.wait(0.05):
                                return
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                    else:
                        while not server.stopping.is_set():
                            self.wfile.write(b"\0" * 65536)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up: that is what the test wants

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hostile(release):
    """A HostileServer serving a genuine release (2026.01)."""
    folder = release("2026.01", JAN)
    served = HostileServer({name: (folder / name).read_bytes() for name in ("manifest.json", "payload.bin")})
    yield served
    served.stop()


@pytest.mark.parametrize("name", ["manifest.json", "payload.bin"])
@pytest.mark.parametrize("mode", ["drip", "drip-headers"])
@pytest.mark.slow
def test_a_dripping_mirror_cannot_extend_the_total_timeout(tmp_path, hostile, name, mode):
    hostile.modes[name] = mode
    source = HttpSource(hostile.url, timeout=5.0, total_timeout=1.5)
    began = time.monotonic()
    with pytest.raises(ReleaseError) as error:
        source.fetch(tmp_path)
    assert time.monotonic() - began < 15  # 1.5 s budget; generous bound for a busy machine
    message = str(error.value)
    assert f"{hostile.url}/{name}" in message and "total_timeout" in message and "1.5 s" in message


def test_an_endless_payload_stops_at_the_declared_size(tmp_path, hostile):
    hostile.modes["payload.bin"] = "endless"
    declared = len(hostile.files["payload.bin"])
    with pytest.raises(ReleaseError) as error:
        HttpSource(hostile.url, timeout=5.0, total_timeout=30).fetch(tmp_path)
    assert f"{hostile.url}/payload.bin" in str(error.value) and f"{declared} bytes" in str(error.value)
    assert (tmp_path / "payload.bin").stat().st_size <= declared


def test_an_endless_manifest_stops_at_max_manifest_bytes(tmp_path, hostile):
    hostile.modes["manifest.json"] = "endless"
    with pytest.raises(ReleaseError) as error:
        HttpSource(hostile.url, timeout=5.0, total_timeout=30, max_manifest_bytes=4096).fetch(tmp_path)
    assert f"{hostile.url}/manifest.json" in str(error.value) and "max_manifest_bytes" in str(error.value)
    assert "payload.bin" not in hostile.requests


def test_the_payload_limit_is_the_deployers_not_the_manifests(tmp_path, hostile):
    manifest = json.loads(hostile.files["manifest.json"])
    manifest["entries"] = 10**12  # unverified yet: it may only lower the limit, never raise it
    hostile.files["manifest.json"] = json.dumps(manifest).encode()
    with pytest.raises(ReleaseError) as error:
        HttpSource(hostile.url, timeout=5.0, max_payload_bytes=1 << 20).fetch(tmp_path)
    assert "max_payload_bytes" in str(error.value) and str(1 << 20) in str(error.value)
    assert "payload.bin" not in hostile.requests and not (tmp_path / "payload.bin").exists()


def test_download_limits_reach_the_source_through_the_loader(hostile, loader):
    lists = loader(hostile.url, max_payload_bytes=64, total_timeout=20)
    assert lists.source.max_payload_bytes == 64 and lists.source.total_timeout == 20
    assert lists.refresh() is False
    assert "max_payload_bytes" in lists.last_error and lists.current is None
    assert loader(hostile.url).refresh() is True  # the same mirror within the default limits


@pytest.mark.parametrize("option", ["total_timeout", "max_payload_bytes", "max_manifest_bytes", "timeout"])
@pytest.mark.parametrize("value", [0, -1, float("inf"), True])
def test_bad_download_limits_fail_loudly(option, value):
    with pytest.raises(ValueError, match=option):
        HttpSource("http://127.0.0.1:1/list", **{option: value})


def test_a_local_folder_is_held_to_the_same_size_limits(release, loader, tmp_path):
    """A shared or mounted folder is no more trusted than a mirror: nothing over a limit is read or copied."""
    folder = release("2025.02", FEB)
    lists = loader(folder, max_payload_bytes=64)
    assert lists.refresh() is False and lists.current is None
    assert "max_payload_bytes" in lists.last_error and str(folder) in lists.last_error
    with pytest.raises(ReleaseError, match="max_manifest_bytes"):
        DirectorySource(folder, max_manifest_bytes=64).fetch(tmp_path)
    assert not (tmp_path / "manifest.json").exists()
    assert loader(folder).refresh() is True  # the same folder within the default limits
