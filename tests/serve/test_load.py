"""64 concurrent streaming clients against the engine server on loopback, bounded in rounds and time.

Every client's stream must end cleanly, carry no listed word in any chunk, and add up to the
redacted text; the server's memory must not grow from round to round.
"""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path

import openai
import pytest

pytest.importorskip("torch", reason="needs the serve extra (torch, transformers): pip install -e '.[serve]'")

from apertus_compliance.serve.api import build_app

pytestmark = [pytest.mark.serve, pytest.mark.slow]  # 64 clients against a real server

CLIENTS = 64
ROUNDS = 4
TIME_LIMIT_SECONDS = 240


def resident_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def one_round(base: str, words: dict) -> list[str]:
    """All clients at once; returns each client's whole text (raises on any error)."""
    api = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=120)

    async def client(index: int) -> str:
        stream = await api.chat.completions.create(
            model="tiny-apertus", stream=True, max_tokens=200, messages=[{"role": "user", "content": f"Frage {index}"}]
        )
        pieces = []
        async for chunk in stream:
            for choice in chunk.choices:
                piece = choice.delta.content or ""
                assert "Müller" not in piece and "muster" not in piece and "beispiel.de" not in piece
                pieces.append(piece)
        return "".join(pieces)

    try:
        return await asyncio.gather(*(client(index) for index in range(CLIENTS)))
    finally:
        await api.close()


def test_64_streaming_clients_no_errors_no_unfiltered_chunk_memory_stable(make_engine, list_filter, serve_app, words):
    engine = make_engine(force=words["SAID"], max_batch_size=16)
    base = serve_app(build_app(engine, list_filter("v1")))
    expected = words["SAID"].replace(words["NAME"], "[REDACTED]").replace(words["EMAIL"], "[REDACTED]")
    started = time.monotonic()
    memory = []
    for _ in range(ROUNDS):
        texts = asyncio.run(one_round(base, words))
        assert texts == [expected] * CLIENTS
        gc.collect()
        memory.append(resident_mib())
        assert time.monotonic() - started < TIME_LIMIT_SECONDS
    assert engine.load_report() == {"active": 0, "waiting": 0}
    assert engine.stats["requests"] == CLIENTS * ROUNDS
    # the first round warms allocator pools and caches; after it, the server must not keep growing
    print(f"resident memory after each round (MiB): {[round(value, 1) for value in memory]}")
    assert memory[-1] - memory[1] < 25, f"resident memory per round (MiB): {memory}"
