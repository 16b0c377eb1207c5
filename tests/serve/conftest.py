"""Shared by the serving tests: a tiny random Apertus checkpoint, signed deletion-list releases, a
logits processor that makes the engine say a listed name, real uvicorn servers on loopback, and raw HTTP
requests (a path sent byte for byte, a chunked body).

torch and transformers (the serve extra) are imported only by the fixtures that need them: without the
extra, the engine tests skip with a reason and the proxy and filter tests still run. Test modules that
import the engine at module level call ``pytest.importorskip`` first.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from typing import TYPE_CHECKING

import pytest
import uvicorn

from apertus_compliance.filters import build_release, generate_keypair
from apertus_compliance.filters.refresh import RefreshingDeletionList
from apertus_compliance.serve.output_filter import OutputFilter
from apertus_compliance.serve.random_model import write_random_checkpoint

if TYPE_CHECKING:
    import torch

SERVE_EXTRA = "needs the serve extra (torch, transformers): pip install -e '.[serve]'"

NAME, EMAIL, OTHER_NAME = "Hans Müller", "anna.muster@beispiel.de", "Greta Beispiel"
PHONE = "+41 79 123 45 67"
SAID = f" Guten Tag, hier spricht {NAME}. Schreiben Sie an {EMAIL}, Grüsse!"
"""What ForceText makes the engine generate: a listed name and e-mail address, split into many tokens."""


@pytest.fixture(scope="session")
def words() -> dict[str, str]:
    """The listed values and the forced answer, for the test modules (conftest is not importable)."""
    return {"NAME": NAME, "EMAIL": EMAIL, "OTHER_NAME": OTHER_NAME, "SAID": SAID, "PHONE": PHONE}


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    """A tiny random Apertus checkpoint (skips the test without the serve extra)."""
    torch = pytest.importorskip("torch", reason=SERVE_EXTRA)
    pytest.importorskip("transformers", reason=SERVE_EXTRA)
    torch.set_num_threads(1)
    return write_random_checkpoint(tmp_path_factory.mktemp("model") / "tiny-apertus")


@pytest.fixture(scope="session")
def releases(tmp_path_factory):
    """Signed releases: v1 lists NAME and EMAIL, v2 also OTHER_NAME, "phone" NAME, EMAIL and PHONE; plus the
    public key."""
    root = tmp_path_factory.mktemp("lists")
    private, public = generate_keypair(root / "keys")
    (root / "v1.csv").write_text(f"value,category\n{NAME},name\n{EMAIL},email\n", encoding="utf-8")
    (root / "v2.csv").write_text(f"value,category\n{NAME},name\n{EMAIL},email\n{OTHER_NAME},name\n", encoding="utf-8")
    (root / "phone.csv").write_text(
        f"value,category,region\n{NAME},name,\n{EMAIL},email,\n{PHONE},phone,CH\n", encoding="utf-8"
    )
    build_release(root / "v1.csv", private, root / "v1", "2026-11-v1")
    build_release(root / "v2.csv", private, root / "v2", "2026-12-v2")
    build_release(root / "phone.csv", private, root / "phone", "2026-12-phone")
    return {"v1": root / "v1", "v2": root / "v2", "phone": root / "phone", "public_key": public, "private_key": private}


class ForceText:
    """A transformers-style logits processor: the output continues ``text`` wherever it stands, then ends.

    The tokens generated so far are found as the longest prefix of ``text``'s tokens that the
    sequence ends with, so it works for any prompt that does not itself end in that text.
    """

    def __init__(self, tokenizer, text: str, *, fail_after: int | None = None) -> None:
        self.target = tokenizer(text, add_special_tokens=False)["input_ids"]
        self.eos = tokenizer.eos_token_id
        self.fail_after = fail_after

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        seen = input_ids[0].tolist()
        done = max((size for size in range(len(self.target), 0, -1) if seen[-size:] == self.target[:size]), default=0)
        if self.fail_after is not None and done >= self.fail_after:
            raise RuntimeError("scripted failure in the middle of a generation")
        forced = self.target[done] if done < len(self.target) else self.eos
        out = torch.full_like(scores, float("-inf"))
        out[:, forced] = 0.0
        return out


@pytest.fixture
def make_engine(checkpoint):
    """``make_engine(force=None|text, **options)``: an Engine on the tiny checkpoint, stopped after the test."""
    from apertus_compliance.serve.engine import Engine

    engines = []

    def make(force: str | None = None, fail_after: int | None = None, **options) -> Engine:
        engine = Engine.load(str(checkpoint), name=options.pop("name", "tiny-apertus"), **options)
        if force is not None:
            engine.logits_processor = ForceText(engine.tokenizer, force, fail_after=fail_after)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def unused_port():
    """``unused_port() -> int``: a loopback port nothing listens on now."""
    return free_port


@pytest.fixture
def serve_app():
    """``serve_app(asgi_app) -> base URL``: a real uvicorn server on loopback, in a thread, shut down after the test."""
    servers = []

    def start(app) -> str:
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=5)
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
def list_filter(releases, tmp_path):
    """``list_filter(version="v1", strict=True)``: an OutputFilter reading a folder that holds that release."""

    def make(version: str | None = "v1", *, strict: bool = True, **options) -> OutputFilter:
        folder = tmp_path / f"published-{version}-{strict}"
        if version is not None:
            import shutil

            shutil.copytree(releases[version], folder)
        else:
            folder.mkdir()
        refresher = RefreshingDeletionList(folder, releases["public_key"], strict=strict)
        return OutputFilter(refresher, strict=strict, **options)

    return make


def _send_raw(
    base: str, method: str, path: str, body: bytes = b"", headers: dict | None = None, chunks: list[bytes] | None = None
) -> tuple[int, dict, bytes]:
    """One request with the path sent byte for byte (httpx and the openai client normalize it); ``chunks``:
    a chunked body instead of ``body``."""
    host, port = base.removeprefix("http://").split(":")
    head = [
        f"{method} {path} HTTP/1.1",
        f"host: {host}:{port}",
        "content-type: application/json",
        "connection: close",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    if chunks is not None:
        head.append("transfer-encoding: chunked")
    elif "content-length" not in (headers or {}):
        head.append(f"content-length: {len(body)}")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall("\r\n".join(head).encode() + b"\r\n\r\n")
        try:
            if chunks is None:
                sock.sendall(body)
            else:
                for chunk in chunks:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed before taking the whole body
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        return answer.status, {name.lower(): value for name, value in answer.getheaders()}, answer.read()


@pytest.fixture
def send_raw():
    """``send_raw(base, method, path, body=b"", headers=None, chunks=None) -> (status, headers, body)``."""
    return _send_raw
