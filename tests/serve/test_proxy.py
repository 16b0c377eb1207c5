"""The proxy in front of a scripted OpenAI-compatible upstream, both real uvicorn servers on loopback."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from apertus_compliance.serve.proxy import ProxyError, build_proxy, upstream_base


class ScriptedUpstream:
    """Says ``text`` in 3-character pieces. The requested model picks the behaviour: ``say`` (normal), ``die``
    (the connection breaks after a few pieces), ``slow`` (a piece every 50 ms until the client leaves)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.closed = threading.Event()
        self.seen: list[dict] = []

    def pieces(self) -> list[str]:
        return [self.text[i:i + 3] for i in range(0, len(self.text), 3)]

    async def completions(self, request: Request):
        payload = await request.json()
        self.seen.append({"path": request.url.path, "query": request.url.query, "payload": payload,
                          "authorization": request.headers.get("authorization"),
                          "accept-encoding": request.headers.get("accept-encoding")})
        chat = request.url.path.endswith("chat/completions")
        base = {"id": "up-1", "created": 1, "model": payload["model"],
                "object": "chat.completion.chunk" if chat else "text_completion"}

        def choice(text: str | None, finish: str | None = None) -> dict:
            if chat:
                return {"index": 0, "delta": {} if text is None else {"content": text}, "finish_reason": finish}
            return {"index": 0, "text": text or "", "finish_reason": finish}

        if not payload.get("stream"):
            if payload["model"] == "die":
                return _cut_json_body
            message = {"message": {"role": "assistant", "content": self.text}} if chat else {"text": self.text}
            return JSONResponse({**base, "object": "chat.completion" if chat else "text_completion",
                                 "choices": [{"index": 0, **message, "finish_reason": "stop"}]})

        async def events():
            try:
                pieces = self.pieces()
                if payload["model"] == "slow":
                    pieces = pieces * 200
                for number, piece in enumerate(pieces):
                    if payload["model"] == "die" and number == 5:
                        raise RuntimeError("the scripted upstream dies")
                    if payload["model"] == "slow":
                        await asyncio.sleep(0.05)
                    yield f"data: {json.dumps({**base, 'choices': [choice(piece)]})}\n\n"
                yield f"data: {json.dumps({**base, 'choices': [choice(None, 'stop')]})}\n\n"
                yield "data: [DONE]\n\n"
            finally:
                self.closed.set()

        return StreamingResponse(events(), media_type="text/event-stream")

    async def models(self, request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": "upstream-model", "object": "model", "created": 1,
                                                         "owned_by": "someone"}]})

    async def embeddings(self, request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}],
                             "model": "e", "usage": {"prompt_tokens": 1, "total_tokens": 1}})

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/chat/completions", self.completions, methods=["POST"]),
            Route("/v1/completions", self.completions, methods=["POST"]),
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/v1/embeddings", self.embeddings, methods=["POST"]),
        ])


async def _cut_json_body(scope, receive, send) -> None:
    """Announces 1000 bytes of JSON, sends 40, then the connection breaks."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")]})
    await send({"type": "http.response.body", "body": b'{"id": "x", "choices": [{"message": {"co', "more_body": True})
    raise RuntimeError("the scripted upstream dies mid-body")


@pytest.fixture
def chain(serve_app, list_filter, words):
    """(proxy base URL, scripted upstream): the upstream says the forced sentence with a listed name."""
    upstream = ScriptedUpstream(words["SAID"])
    upstream_url = serve_app(upstream.app())
    proxy_url = serve_app(build_proxy(f"{upstream_url}/v1", list_filter("v1"), timeout=20))
    return proxy_url, upstream


def client(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key="sk-client", max_retries=0, timeout=30)


def expected(words: dict) -> str:
    return words["SAID"].replace(words["NAME"], "[REDACTED]").replace(words["EMAIL"], "[REDACTED]")


def test_chat_through_the_proxy_is_redacted_both_ways(chain, words):
    base, upstream = chain
    raw = client(base).chat.completions.with_raw_response.create(model="say", messages=[{"role": "user",
                                                                                         "content": "hi"}])
    assert raw.headers["x-deletion-list-version"] == "2026-11-v1"
    assert raw.parse().choices[0].message.content == expected(words)
    chunks = [chunk.choices[0].delta.content or "" for chunk in client(base).chat.completions.create(
        model="say", messages=[{"role": "user", "content": "hi"}], stream=True) if chunk.choices]
    assert "".join(chunks) == expected(words)
    assert len(chunks) > 5 and all("Müller" not in chunk and "muster" not in chunk for chunk in chunks)
    assert upstream.seen[0]["authorization"] == "Bearer sk-client"  # the client's credentials pass through
    assert upstream.seen[0]["accept-encoding"] in (None, "identity")  # asked uncompressed, so it can be filtered


@pytest.mark.parametrize("stream", [False, True])
def test_text_completions_through_the_proxy(chain, words, stream):
    base, _ = chain
    answer = client(base).completions.create(model="say", prompt="hi", stream=stream)
    text = "".join(chunk.choices[0].text for chunk in answer) if stream else answer.choices[0].text
    assert text == expected(words)


def test_every_other_endpoint_passes_through(chain):
    base, upstream = chain
    assert [model.id for model in client(base).models.list().data] == ["upstream-model"]
    assert client(base).embeddings.create(model="e", input="x").data[0].embedding == [0.5]
    httpx.post(f"{base}/v1/completions?trace=1", json={"model": "say", "prompt": "x"})
    assert upstream.seen[-1]["query"] == "trace=1"
    assert httpx.get(f"{base}/v1/unknown").status_code == 404  # the upstream's answer, relayed


def test_upstream_dying_mid_stream_ends_with_an_error_and_nothing_unfiltered(chain):
    base, _ = chain
    received = []
    with pytest.raises(openai.APIError, match="upstream"):
        for chunk in client(base).chat.completions.create(model="die", messages=[{"role": "user", "content": "x"}],
                                                          stream=True):
            received.extend(choice.delta.content or "" for choice in chunk.choices)
    assert "Müller" not in "".join(received)  # the name was held back or never sent; nothing after the error


def test_upstream_dying_mid_json_is_not_passed_on_as_a_whole_body(chain):
    base, _ = chain
    with pytest.raises((openai.APIError, openai.APIConnectionError)):
        client(base).chat.completions.create(model="die", messages=[{"role": "user", "content": "x"}])


def test_client_leaving_closes_the_upstream_request(chain):
    base, upstream = chain
    body = {"model": "slow", "messages": [{"role": "user", "content": "x"}], "stream": True}
    with httpx.stream("POST", f"{base}/v1/chat/completions", json=body, timeout=20) as response:
        for _ in zip(range(3), response.iter_lines(), strict=False):
            pass
    assert upstream.closed.wait(15)


def test_unreachable_upstream_is_a_502_error_object(serve_app, list_filter, unused_port):
    base = serve_app(build_proxy(f"http://127.0.0.1:{unused_port()}/v1", list_filter("v1")))
    with pytest.raises(openai.APIStatusError) as failed:
        client(base).chat.completions.create(model="say", messages=[{"role": "user", "content": "x"}])
    assert failed.value.status_code == 502 and failed.value.code == "upstream_unreachable"
    health = httpx.get(f"{base}/healthz")
    assert health.status_code == 503 and "unreachable" in health.json()["upstream"]["models"]


def test_health_reports_the_upstream_and_the_list(chain, serve_app, list_filter):
    base, _ = chain
    health = httpx.get(f"{base}/healthz").json()
    assert health["status"] == "ok" and health["deletion_list"]["version"] == "2026-11-v1"
    assert 'apertus_redactions_total' in httpx.get(f"{base}/metrics").text


@pytest.mark.parametrize("url", ["ftp://host/v1", "127.0.0.1:8000/v1", "http:///v1", "http://h/v1?x=1"])
def test_bad_upstream_urls_are_refused(url):
    with pytest.raises(ProxyError, match="--upstream"):
        upstream_base(url)


def test_strict_proxy_without_list_refuses_before_calling_upstream(serve_app, list_filter, words):
    upstream = ScriptedUpstream(words["SAID"])
    upstream_url = serve_app(upstream.app())
    base = serve_app(build_proxy(f"{upstream_url}/v1", list_filter(None)))
    with pytest.raises(openai.APIStatusError) as refused:
        client(base).chat.completions.create(model="say", messages=[{"role": "user", "content": "x"}])
    assert refused.value.status_code == 503 and not upstream.seen
