"""One hostile stream must not freeze the others: a client whose answer is the worst case for
the filter (a listed phone number and an endless run of space-separated numbers, sent in large
bursts) streams through the filter middleware on a real uvicorn server while ordinary clients
stream beside it. The ordinary clients' longest gap between chunks is compared with their own
gap measured alone in the same test, with a wide margin (the old filter froze every client for
tens of seconds here).
"""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from apertus_compliance.filters import build_release, generate_keypair
from apertus_compliance.filters.refresh import RefreshingDeletionList
from apertus_compliance.serve.output_filter import OutputFilter

pytestmark = pytest.mark.slow  # a real server under load

LISTED_PHONE = "+41 79 123 45 67"
ATTACK_NUMBERS = 8000
BURST = 800  # events per body chunk: under the middleware's thread-offload size, so handled on the event loop
VICTIMS = 3
VICTIM_CHUNKS = 40


def event(text: str) -> bytes:
    chunk = {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


async def completions(request: Request) -> StreamingResponse:
    body = orjson.loads(await request.body())
    attack = body["messages"][-1]["content"] == "attack"

    async def attack_events():
        numbers = [f"{number} " for number in range(1, ATTACK_NUMBERS)]
        numbers[ATTACK_NUMBERS // 2 : ATTACK_NUMBERS // 2] = [piece + " " for piece in LISTED_PHONE.split()]
        for start in range(0, len(numbers), BURST):
            yield b"".join(event(piece) for piece in numbers[start : start + BURST])
            await asyncio.sleep(0)
        yield b"data: [DONE]\n\n"

    async def ordinary_events():
        for index in range(VICTIM_CHUNKS):
            yield event(f"Wort{index} ")
            await asyncio.sleep(0.02)
        yield b"data: [DONE]\n\n"

    return StreamingResponse(attack_events() if attack else ordinary_events(), media_type="text/event-stream")


@pytest.fixture
def filtered_upstream(tmp_path, serve_app):
    private, public = generate_keypair(tmp_path / "keys")
    (tmp_path / "requests.csv").write_text(f"value,category,region\n{LISTED_PHONE},phone,CH\n", encoding="utf-8")
    build_release(tmp_path / "requests.csv", private, tmp_path / "published", "load-1")
    refresher = RefreshingDeletionList(tmp_path / "published", public, strict=True, cache_dir=tmp_path / "cache")
    output_filter = OutputFilter(refresher, strict=True)
    output_filter.start()
    app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
    try:
        yield serve_app(output_filter.wrap(app))
    finally:
        output_filter.stop()


async def stream(client: httpx.AsyncClient, content: str) -> tuple[str, list[float]]:
    """The streamed text and the arrival time of every body chunk."""
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": content}]}
    raw, arrivals = bytearray(), []
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_raw():
            raw += chunk
            arrivals.append(time.monotonic())
    text = []
    for block in bytes(raw).split(b"\n\n"):
        if block.startswith(b"data: {"):
            payload = orjson.loads(block[6:])
            assert "error" not in payload, payload
            text.extend(choice["delta"].get("content") or "" for choice in payload["choices"])
    assert raw.rstrip().endswith(b"data: [DONE]")
    return "".join(text), arrivals


def longest_gap(arrivals: list[float]) -> float:
    return max((later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)), default=0.0)


async def scenario(base: str, attack: bool) -> tuple[list[float], str | None]:
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        await stream(client, "warm-up")  # the first request warms everything before anything is timed
        attacker = asyncio.create_task(stream(client, "attack")) if attack else None
        if attacker is not None:
            await asyncio.sleep(0.05)
        victims = await asyncio.gather(*(stream(client, f"frage {index}") for index in range(VICTIMS)))
        attacked = (await attacker)[0] if attacker is not None else None
    for text, _ in victims:
        assert text == "".join(f"Wort{index} " for index in range(VICTIM_CHUNKS))
    return [longest_gap(arrivals) for _, arrivals in victims], attacked


def test_a_worst_case_stream_does_not_stall_the_other_clients(filtered_upstream):
    alone, _ = asyncio.run(scenario(filtered_upstream, attack=False))
    beside_attack, attacked = asyncio.run(scenario(filtered_upstream, attack=True))
    assert "[REDACTED]" in attacked and "123 45 67" not in attacked
    assert attacked.startswith("1 2 3 4 5 ") and attacked.rstrip().endswith(str(ATTACK_NUMBERS - 1))
    # per-chunk latency of the ordinary clients: wide margin for a loaded machine, far below a freeze
    print(f"longest gap between chunks: alone {max(alone):.3f} s, beside the attack {max(beside_attack):.3f} s")
    assert max(beside_attack) <= max(3.0, 20 * max(alone)), (alone, beside_attack)
