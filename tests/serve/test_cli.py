"""``apertus-compliance serve`` and ``proxy`` as a deployer runs them: real processes, one behind the other."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import httpx
import openai
import pytest

pytestmark = pytest.mark.slow  # real server and proxy processes

COMMAND = str(Path(sys.executable).parent / "apertus-compliance")
SERVE_EXTRA = "needs the serve extra (torch, transformers): pip install -e '.[serve]'"


def start(arguments: list[str], port: int, log) -> subprocess.Popen:
    process = subprocess.Popen(
        [COMMAND, *arguments, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "APERTUS_ADMIN_TOKEN": "t0ken", "HF_HUB_OFFLINE": "1"},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{arguments[0]} exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"{arguments[0]} did not become healthy")


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


@pytest.mark.serve
def test_serve_and_proxy_in_front_of_it(checkpoint, releases, tmp_path, unused_port):
    """The engine server (no pattern filtering, list v1) behind the proxy (also list v1, plus e-mail patterns)."""
    serve_port, proxy_port = unused_port(), unused_port()
    list_options = ["--deletion-list", str(releases["v1"]), "--public-key", str(releases["public_key"])]
    with (tmp_path / "serve.log").open("w") as serve_log, (tmp_path / "proxy.log").open("w") as proxy_log:
        server = start(
            ["serve", "--model", str(checkpoint), "--served-model-name", "tiny", "--threads", "1", *list_options],
            serve_port,
            serve_log,
        )
        try:
            proxy = start(
                [
                    "proxy",
                    "--upstream",
                    f"http://127.0.0.1:{serve_port}/v1",
                    "--pattern",
                    "email",
                    "--max-request-bytes",
                    "100000",
                    "--state-dir",
                    str(tmp_path / "proxy-state"),
                    "--download-timeout",
                    "60",
                    "--max-download-bytes",
                    "1000000",
                    *list_options,
                ],
                proxy_port,
                proxy_log,
            )
            try:
                for port in (serve_port, proxy_port):
                    api = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)
                    assert [model.id for model in api.models.list().data] == ["tiny"]
                    raw = api.chat.completions.with_raw_response.create(
                        model="tiny", messages=[{"role": "user", "content": "Hallo"}], max_tokens=12, seed=1
                    )
                    assert raw.headers["x-deletion-list-version"] == "2026-11-v1"
                    assert raw.parse().usage.completion_tokens <= 12
                    streamed = api.chat.completions.create(
                        model="tiny", messages=[{"role": "user", "content": "x"}], max_tokens=12, stream=True
                    )
                    assert [chunk for chunk in streamed]
                too_large = httpx.post(
                    f"http://127.0.0.1:{proxy_port}/v1/chat/completions",
                    timeout=30,
                    json={"model": "tiny", "messages": [{"role": "user", "content": "x" * 200_000}]},
                )
                assert too_large.status_code == 413 and too_large.json()["error"]["code"] == "request_too_large"
                reload = httpx.post(
                    f"http://127.0.0.1:{proxy_port}/admin/reload", headers={"authorization": "Bearer t0ken"}, timeout=60
                )
                assert reload.status_code == 200 and reload.json()["reloaded"] is False
                accepted = (tmp_path / "proxy-state" / "accepted.json").read_text()  # rollback state where asked
                assert "2026-11-v1" in accepted
            finally:
                assert stop(proxy) == 0
        finally:
            assert stop(server) == 0
    log = (tmp_path / "serve.log").read_text()
    assert "Application startup complete" in log and "Traceback" not in log


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param(
            ["serve", "--model", "/nonexistent/model"],
            "--model /nonexistent/model: no such folder",
            marks=[pytest.mark.serve, pytest.mark.skipif(find_spec("torch") is None, reason=SERVE_EXTRA)],
        ),
        (["serve", "--model", "m", "--deletion-list", "/x", "--public-key", "/no/key.pem"], "does not exist"),
        (["proxy", "--upstream", "localhost:8000"], "expected the base URL an OpenAI client takes"),
        (["serve", "--model", "m", "--dtype", "int3"], "Invalid value for '--dtype'"),
    ],
)
def test_bad_arguments_fail_with_a_clear_message(releases, arguments, message):
    if "--deletion-list" not in arguments:
        arguments = [*arguments, "--deletion-list", str(releases["v1"]), "--public-key", str(releases["public_key"])]
    done = subprocess.run(
        [COMMAND, *arguments], capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    assert done.returncode != 0
    assert message in done.stderr
