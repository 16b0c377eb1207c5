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
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from apertus_compliance.serve.proxy import ProxyError, build_proxy, upstream_base

pytestmark = pytest.mark.slow  # real servers on loopback


class ScriptedUpstream:
    """Says ``text`` in 3-character pieces. The requested model picks the behaviour: ``say`` (normal), ``die``
    (the connection breaks after ``die_after`` pieces, after half an event when ``die_mid_event``), ``slow``
    (a piece every 50 ms until the client leaves), ``tools`` (the text as tool-call arguments), ``error`` (a
    400 error object quoting the text), ``error-text`` (a plain-text 500 quoting it). Like a permissive
    server, it answers every other path with a completion too, and records what it was asked."""

    def __init__(self, text: str, *, die_after: int = 5, die_mid_event: bool = False) -> None:
        self.text = text
        self.die_after = die_after
        self.die_mid_event = die_mid_event
        self.closed = threading.Event()
        self.seen: list[dict] = []

    def pieces(self) -> list[str]:
        return [self.text[i : i + 3] for i in range(0, len(self.text), 3)]

    async def completions(self, request: Request):
        payload = await request.json()
        self.seen.append(
            {
                "path": request.url.path,
                "query": request.url.query,
                "payload": payload,
                "authorization": request.headers.get("authorization"),
                "accept-encoding": request.headers.get("accept-encoding"),
            }
        )
        chat = request.url.path.endswith("chat/completions")
        base = {
            "id": "up-1",
            "created": 1,
            "model": payload["model"],
            "object": "chat.completion.chunk" if chat else "text_completion",
        }

        def choice(text: str | None, finish: str | None = None) -> dict:
            if chat:
                return {"index": 0, "delta": {} if text is None else {"content": text}, "finish_reason": finish}
            return {"index": 0, "text": text or "", "finish_reason": finish}

        if payload["model"] == "error":
            return JSONResponse(
                {
                    "error": {
                        "message": f"cannot answer: {self.text}",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "bad",
                    }
                },
                status_code=400,
            )
        if payload["model"] == "error-text":
            return PlainTextResponse(f"Traceback: {self.text}", status_code=500)
        if payload["model"] == "tools":
            call = {
                "id": "call_1",
                "type": "function",
                "function": {"name": "lookup", "arguments": json.dumps({"who": self.text}, ensure_ascii=False)},
            }
            return JSONResponse(
                {
                    **base,
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                            "finish_reason": "tool_calls",
                        }
                    ],
                }
            )
        if not payload.get("stream"):
            if payload["model"] == "die":
                return _cut_json_body
            message = {"message": {"role": "assistant", "content": self.text}} if chat else {"text": self.text}
            return JSONResponse(
                {
                    **base,
                    "object": "chat.completion" if chat else "text_completion",
                    "choices": [{"index": 0, **message, "finish_reason": "stop"}],
                }
            )

        async def events():
            try:
                pieces = self.pieces()
                if payload["model"] == "slow":
                    pieces = pieces * 200
                for number, piece in enumerate(pieces):
                    if payload["model"] == "die" and number == self.die_after:
                        if self.die_mid_event:
                            yield 'data: {"id": "up-1", "choices": [{"index": 0, "delta": {"content": "' + piece
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
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": "upstream-model", "object": "model", "created": 1, "owned_by": "someone"}],
            }
        )

    async def model(self, request: Request) -> JSONResponse:
        return JSONResponse({"id": request.path_params["name"], "object": "model", "created": 1, "owned_by": "x"})

    async def responses(self, request: Request):
        payload = await request.json()
        self.seen.append({"path": request.url.path, "payload": payload})
        message = {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": self.text, "annotations": []}],
        }
        response = {
            "id": "resp_1",
            "object": "response",
            "created_at": 1,
            "model": payload["model"],
            "status": "completed",
            "output": [message],
            "output_text": self.text,
            "error": None,
            "incomplete_details": None,
            "instructions": None,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "metadata": {},
        }
        if not payload.get("stream"):
            return JSONResponse(response)
        where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
        events = [
            {"type": "response.created", "response": {**response, "status": "in_progress", "output": []}},
            {"type": "response.output_item.added", "output_index": 0, "item": {**message, "content": []}},
            *(
                {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}
                for piece in self.pieces()
            ),
            {"type": "response.output_text.done", **where, "text": self.text, "logprobs": []},
            {"type": "response.output_item.done", "output_index": 0, "item": message},
            {"type": "response.completed", "response": response},
        ]
        lines = [
            f"event: {event['type']}\ndata: {json.dumps({**event, 'sequence_number': number})}\n\n"
            for number, event in enumerate(events)
        ]
        return StreamingResponse(iter(lines), media_type="text/event-stream")

    async def anything(self, request: Request) -> JSONResponse:
        self.seen.append({"path": request.url.path, "query": request.url.query, "payload": None})
        return JSONResponse(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 1,
                "model": "any",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": self.text}, "finish_reason": "stop"}
                ],
            }
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self.completions, methods=["POST"]),
                Route("/v1/completions", self.completions, methods=["POST"]),
                Route("/v1/responses", self.responses, methods=["POST"]),
                Route("/v1/models", self.models, methods=["GET"]),
                Route("/v1/models/{name:path}", self.model, methods=["GET"]),
                Route("/{rest:path}", self.anything, methods=["GET", "POST"]),
            ]
        )


async def _cut_json_body(scope, receive, send) -> None:
    """Announces 1000 bytes of JSON, sends 40, then the connection breaks."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
        }
    )
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
    raw = client(base).chat.completions.with_raw_response.create(
        model="say", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-deletion-list-version"] == "2026-11-v1"
    assert raw.parse().choices[0].message.content == expected(words)
    chunks = [
        chunk.choices[0].delta.content or ""
        for chunk in client(base).chat.completions.create(
            model="say", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        if chunk.choices
    ]
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


def test_the_allow_list_passes_and_unknown_endpoints_are_not_forwarded(chain):
    base, upstream = chain
    assert [model.id for model in client(base).models.list().data] == ["upstream-model"]
    assert client(base).models.retrieve("swiss-ai/Apertus-8B").id == "swiss-ai/Apertus-8B"
    httpx.post(f"{base}/v1/completions?trace=1", json={"model": "say", "prompt": "x"}, timeout=60)
    assert upstream.seen[-1]["query"] == "trace=1"
    seen = len(upstream.seen)
    with pytest.raises(openai.NotFoundError):
        client(base).embeddings.create(model="e", input="x")
    for path in ("/v1/unknown", "/v1/audio/speech", "/v1/chat/completions/abc/messages"):
        answer = httpx.post(f"{base}{path}", json={"model": "say"}, timeout=60)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    assert len(upstream.seen) == seen  # the permissive upstream would have answered them all


def test_upstream_dying_mid_stream_ends_with_an_error_and_nothing_unfiltered(chain):
    base, _ = chain
    received = []
    with pytest.raises(openai.APIError, match="upstream"):
        for chunk in client(base).chat.completions.create(
            model="die", messages=[{"role": "user", "content": "x"}], stream=True
        ):
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
    health = httpx.get(f"{base}/healthz", timeout=60)
    assert health.status_code == 503 and "unreachable" in health.json()["upstream"]["models"]


def test_health_reports_the_upstream_and_the_list(chain, serve_app, list_filter):
    base, _ = chain
    health = httpx.get(f"{base}/healthz", timeout=60).json()
    assert health["status"] == "ok" and health["deletion_list"]["version"] == "2026-11-v1"
    assert "apertus_redactions_total" in httpx.get(f"{base}/metrics", timeout=60).text


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


# --------------------------------------------------------------------------------------------
# one decision per request, on the normalized path

BYPASS_PATHS = [
    # (path as sent, what it normalizes to: the path forwarded, or None when refused or not forwarded)
    ("/v1/./chat/completions", "/v1/chat/completions"),
    ("/v1//chat/completions", "/v1/chat/completions"),
    ("/v1/%2E/chat/completions", "/v1/chat/completions"),
    ("/v1/chat/x/../completions", "/v1/chat/completions"),
    ("/v1/chat/completions/", "/v1/chat/completions"),
    ("//v1/chat/completions", "/v1/chat/completions"),
    ("/v1/chat/completions?x=1", "/v1/chat/completions"),
    ("/v1/%63hat/%2e%2E/chat/completions", "/v1/chat/completions"),
    ("/v1/../v1/completions", "/v1/completions"),
    ("/v1/chat%2Fcompletions", None),
    ("/v1/chat%5Ccompletions", None),
    ("/V1/chat/completions", None),
    ("/v1/Chat/Completions", None),
    ("/v1/chat/completions;x", None),
    ("/v1/chat/completions%3Bx", None),
    ("/v1/embeddings", None),
    ("/v1/audio/transcriptions", None),
]


@pytest.mark.parametrize("path, forwarded", BYPASS_PATHS)
def test_path_variants_never_bypass_the_strict_filter_without_a_list(
    serve_app, list_filter, words, send_raw, path, forwarded
):
    upstream = ScriptedUpstream(words["SAID"])
    upstream_url = serve_app(upstream.app())
    base = serve_app(build_proxy(f"{upstream_url}/v1", list_filter(None), timeout=20))
    body = json.dumps({"model": "say", "messages": [{"role": "user", "content": "x"}], "prompt": "x"}).encode()
    status, _, answer = send_raw(base, "POST", path, body)
    assert not 200 <= status < 300, (status, answer)
    assert status in (400, 404, 503)
    assert words["NAME"] not in answer.decode() and "Müller" not in answer.decode()
    assert not upstream.seen  # nothing was forwarded while no list is loaded


@pytest.mark.parametrize("path, forwarded", BYPASS_PATHS)
def test_path_variants_are_forwarded_normalized_and_filtered(chain, words, send_raw, path, forwarded):
    base, upstream = chain
    body = json.dumps({"model": "say", "messages": [{"role": "user", "content": "x"}], "prompt": "x"}).encode()
    status, headers, answer = send_raw(base, "POST", path, body)
    assert "Müller" not in answer.decode()
    if forwarded is None:
        assert status in (400, 404) and not upstream.seen
        return
    assert status == 200 and headers["x-deletion-list-version"] == "2026-11-v1"
    choice = json.loads(answer)["choices"][0]
    assert (choice.get("message") or {}).get("content", choice.get("text")) == expected(words)
    assert [seen["path"] for seen in upstream.seen] == [forwarded]  # exactly the form decided on


# --------------------------------------------------------------------------------------------
# the Responses API, tool calls and error bodies through the proxy


def test_responses_api_through_the_proxy_is_redacted(chain, words):
    base, upstream = chain
    answer = client(base).responses.create(model="say", input="hi")
    assert answer.output_text == expected(words) and answer.output[0].content[0].text == expected(words)
    deltas, completed = [], None
    for event in client(base).responses.create(model="say", input="hi", stream=True):
        assert "Müller" not in event.model_dump_json() and "muster@" not in event.model_dump_json()
        if event.type == "response.output_text.delta":
            deltas.append(event.delta)
        elif event.type == "response.completed":
            completed = event.response
    assert "".join(deltas) == expected(words) and len(deltas) > 3
    assert completed.output_text == expected(words)
    assert [seen["path"] for seen in upstream.seen] == ["/v1/responses", "/v1/responses"]


def test_tool_call_arguments_and_error_bodies_through_the_proxy(chain, words):
    base, _ = chain
    message = (
        client(base)
        .chat.completions.create(model="tools", messages=[{"role": "user", "content": "x"}])
        .choices[0]
        .message
    )
    assert json.loads(message.tool_calls[0].function.arguments) == {"who": expected(words)}
    with pytest.raises(openai.BadRequestError) as failed:
        client(base).chat.completions.create(model="error", messages=[{"role": "user", "content": "x"}])
    assert failed.value.message.endswith(f"cannot answer: {expected(words)}") and failed.value.code == "bad"
    with pytest.raises(openai.InternalServerError) as failed:
        client(base).chat.completions.create(model="error-text", messages=[{"role": "user", "content": "x"}])
    assert failed.value.code == "unfilterable_upstream_error" and "Müller" not in failed.value.response.text


# --------------------------------------------------------------------------------------------
# upstream failures: held-back text is dropped, never released


@pytest.mark.parametrize("mid_event", [False, True])
def test_upstream_dropping_mid_stream_releases_no_part_of_a_listed_phone_number(
    serve_app, list_filter, words, mid_event
):
    said = f"Rufen Sie {words['PHONE']} an, bitte."
    assert said[:24] == "Rufen Sie +41 79 123 45 "  # 8 pieces of 3: the listed number without its last group
    upstream = ScriptedUpstream(said, die_after=8, die_mid_event=mid_event)
    upstream_url = serve_app(upstream.app())
    base = serve_app(build_proxy(f"{upstream_url}/v1", list_filter("phone"), timeout=20))
    body = {"model": "die", "messages": [{"role": "user", "content": "x"}], "stream": True}
    with httpx.stream("POST", f"{base}/v1/chat/completions", json=body, timeout=30) as response:
        raw = response.read().decode()
    events = [block.removeprefix("data: ") for block in raw.split("\n\n") if block.startswith("data: ")]
    text = "".join(
        choice["delta"].get("content") or "" for data in events[:-2] for choice in json.loads(data).get("choices", [])
    )
    assert text.startswith("Rufen Sie") and "79" not in raw and "123" not in raw and "41 " not in text
    assert json.loads(events[-2])["error"]["code"] == "upstream_failed" and events[-1] == "[DONE]"


def test_an_unfiltered_relay_also_ends_a_dropped_stream_with_an_error_and_done(serve_app, list_filter, words):
    upstream = ScriptedUpstream(words["SAID"], die_mid_event=True)
    upstream_url = serve_app(upstream.app())
    base = serve_app(build_proxy(f"{upstream_url}/v1", list_filter(None, strict=False), timeout=20))
    body = {"model": "die", "messages": [{"role": "user", "content": "x"}], "stream": True}
    with httpx.stream("POST", f"{base}/v1/chat/completions", json=body, timeout=30) as response:
        raw = response.read().decode()
    assert response.headers["x-deletion-list"] == "none"
    events = [block.removeprefix("data: ") for block in raw.split("\n\n") if block.strip()]
    assert events[-1] == "[DONE]" and json.loads(events[-2])["error"]["code"] == "upstream_failed"
    assert all(json.loads(data) for data in events[:-1])  # whole events only: the cut-off one was dropped


# --------------------------------------------------------------------------------------------
# request bodies


def test_request_bodies_over_the_limit_are_refused_before_they_are_read(serve_app, list_filter, words, send_raw):
    upstream = ScriptedUpstream(words["SAID"])
    upstream_url = serve_app(upstream.app())
    base = serve_app(build_proxy(f"{upstream_url}/v1", list_filter("v1"), timeout=20, max_request_bytes=10_000))
    # announced as 50 MB, none of it sent: the answer comes without the body
    status, _, answer = send_raw(base, "POST", "/v1/chat/completions", headers={"content-length": "50000000"})
    assert status == 413 and json.loads(answer)["error"]["code"] == "request_too_large"
    status, _, answer = send_raw(base, "POST", "/v1/chat/completions", chunks=[b" " * 4096] * 5)
    assert status == 413 and json.loads(answer)["error"]["code"] == "request_too_large"
    assert not upstream.seen
    small = client(base).chat.completions.create(model="say", messages=[{"role": "user", "content": "x" * 5000}])
    assert small.choices[0].message.content == expected(words)
