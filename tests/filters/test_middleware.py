"""DeletionListMiddleware against a scripted OpenAI-style app, served by a real uvicorn server: chat and
text completions, tool calls, the Responses API, error bodies, path variants, and the SSE path fuzzed."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import random
import socket
import threading
import time

import anyio
import httpx
import openai
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from apertus_compliance.filters import DeletionList, Redactor, build_release, generate_keypair
from apertus_compliance.filters.middleware import (
    DeletionListMiddleware,
    InvalidPath,
    RedactionMetrics,
    SSEFilter,
    normalize_path,
    path_kind,
)

pytestmark = pytest.mark.slow  # a real uvicorn server; hypothesis through it

NAME, EMAIL, OTHER_NAME = "Hans Müller", "anna.muster@beispiel.de", "Greta Beispiel"
PHONE = "+41 79 123 45 67"
LISTED = (NAME, "Müller", EMAIL, "muster@", "beispiel.de", "M\\u00fcller")
TEXT = (
    f"Guten Tag, hier spricht {NAME}. Schreiben Sie an {EMAIL} oder an hans müller persönlich; "
    f"{OTHER_NAME} und Hans Meier sind nicht gelistet. Grüsse, {NAME}"
)
SECOND = f"Zweite Antwort: {EMAIL}, {NAME}!"
STATE: dict = {"calls": 0, "closed": threading.Event()}


# --------------------------------------------------------------------------------------------
# releases and redactors


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    root = tmp_path_factory.mktemp("lists")
    private, public = generate_keypair(root / "keys")
    (root / "v1.csv").write_text(
        f"value,category,region\n{NAME},name,\n{EMAIL},email,\n{PHONE},phone,CH\n", encoding="utf-8"
    )
    (root / "v2.csv").write_text(f"value,category\n{OTHER_NAME},name\n", encoding="utf-8")
    build_release(root / "v1.csv", private, root / "v1", "2025-06-v1")
    build_release(root / "v2.csv", private, root / "v2", "2025-07-v2")
    return Redactor(DeletionList.load(root / "v1", public)), Redactor(DeletionList.load(root / "v2", public))


# --------------------------------------------------------------------------------------------
# a scripted OpenAI-compatible upstream


def _pieces(text: str, rng: random.Random, size: int | None) -> list[str]:
    pieces, i = [], 0
    while i < len(text):
        step = size or rng.randint(1, 5)
        pieces.append(text[i : i + step])
        i += step
    return pieces


def _sse(payload: dict, texts: list[str], chat: bool) -> list[str]:
    rng = random.Random(payload.get("seed", 0))
    base = {
        "id": "cmpl-1",
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": 1,
        "model": "apertus-test",
    }
    newline = "\r\n" if payload.get("crlf") else "\n"

    def event(choices: list[dict], **extra) -> str:
        return "data: " + json.dumps({**base, "choices": choices, **extra}) + newline * 2

    def choice(index: int, text: str | None, finish: str | None = None, role: bool = False) -> dict:
        if chat:
            delta = {"role": "assistant"} if role else {}
            if text is not None:
                delta["content"] = text
            out = {"index": index, "delta": delta, "finish_reason": finish}
        else:
            out = {"index": index, "text": text or "", "finish_reason": finish}
        if text:
            out["logprobs"] = {"content": [{"token": text, "logprob": -0.1}]}
        return out

    queues = [_pieces(text, rng, payload.get("piece_size")) for text in texts]
    events = [event([choice(i, "", role=True) for i in range(len(texts))])] if chat else []
    if payload.get("comment"):
        events.append(f": keep-alive {NAME}{newline}{newline}")
    while any(queues):
        i = rng.choice([i for i, queue in enumerate(queues) if queue])
        piece = queues[i].pop(0)
        if not queues[i] and payload.get("finish_with_content"):
            events.append(event([choice(i, piece, "length" if i else "stop")]))
            continue
        events.append(event([choice(i, piece)]))
        if not queues[i]:
            events.append(event([choice(i, None, "length" if i else "stop")]))
    events.append(event([], usage={"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12}))
    if payload.get("malformed"):
        events.insert(
            payload.get("malformed_at", len(events) // 2), f"data: {NAME} schreibt an {EMAIL}{newline}{newline}"
        )
    if payload.get("upstream_error"):
        events.insert(
            len(events) // 2,
            "data: " + json.dumps({"error": {"message": f"failed for {NAME}", "type": "server_error"}}) + "\n\n",
        )
    if not payload.get("no_done"):
        events.append(f"data: [DONE]{newline}{newline}")
    if payload.get("truncate"):
        events.append(f'data: {{"choices": [{{"index": 0, "text": "{NAME}')
    return events


async def _completion(request: Request, chat: bool) -> Response:
    STATE["calls"] += 1
    payload = await request.json()
    if "raw_hex" in payload:
        return Response(
            bytes.fromhex(payload["raw_hex"]),
            media_type=payload.get("media_type", "application/json"),
            status_code=payload.get("status", 200),
        )
    if "raw_sse" in payload:
        return _raw_sse(payload)
    text = payload["messages"][-1]["content"] if chat else payload["prompt"]
    if "status" in payload:
        return JSONResponse(
            {
                "error": {
                    "message": f"failed for {text}",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                },
                "detail": [{"input": text}],
            },
            status_code=payload["status"],
        )
    if chat and payload.get("tools"):
        return _tool_calls(payload, text)
    texts = [text, SECOND][: payload.get("n", 1)]
    if not payload.get("stream"):
        choices = [
            {
                "index": i,
                "finish_reason": "stop",
                "logprobs": {"tokens": text.split()},
                **({"message": {"role": "assistant", "content": text}} if chat else {"text": text}),
            }
            for i, text in enumerate(texts)
        ]
        return JSONResponse(
            {
                "id": "cmpl-1",
                "object": "chat.completion" if chat else "text_completion",
                "created": 1,
                "model": "apertus-test",
                "choices": choices,
            }
        )
    events = _sse(payload, texts, chat)
    data = "".join(events).encode()
    if payload.get("invalid_utf8"):
        data = data.replace(b"\\u00fc", b"\xfc", 1)
    if payload.get("byte_chunks"):
        rng, chunks, i = random.Random(payload.get("seed", 0)), [], 0
        while i < len(data):
            step = rng.randint(1, 7)
            chunks.append(data[i : i + step])
            i += step
    else:
        chunks = [piece.encode() for piece in events] if not payload.get("invalid_utf8") else [data]
    delay, fail_after = payload.get("delay", 0), payload.get("fail_after")
    closed = STATE["closed"]

    async def body():
        try:
            for number, chunk in enumerate(chunks):
                if fail_after is not None and number == fail_after:
                    raise RuntimeError("upstream exploded")
                await asyncio.sleep(delay)
                yield chunk
        finally:
            closed.set()

    return StreamingResponse(body(), media_type="text/event-stream")


def _raw_sse(payload: dict) -> Response:
    """The event stream given as hex chunks; ``fail_at_end``: the app then raises (the connection drops)."""
    chunks = [bytes.fromhex(chunk) for chunk in payload["raw_sse"]]

    async def body():
        for chunk in chunks:
            yield chunk
        if payload.get("fail_at_end"):
            raise RuntimeError("upstream exploded")

    return StreamingResponse(body(), media_type="text/event-stream")


def _tool_calls(payload: dict, text: str) -> Response:
    """The text as the arguments of two tool calls (and of a legacy function_call), whole or streamed."""
    arguments = json.dumps({"who": text}, ensure_ascii=False)
    base = {"id": "chatcmpl-t", "created": 1, "model": "apertus-test"}
    if not payload.get("stream"):
        calls = [
            {"id": f"call_{i}", "type": "function", "function": {"name": "lookup", "arguments": arguments}}
            for i in range(2)
        ]
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": calls,
            "function_call": {"name": "lookup", "arguments": arguments},
        }
        return JSONResponse(
            {
                **base,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
            }
        )
    rng = random.Random(payload.get("seed", 0))
    events = [
        {
            "index": 0,
            "delta": {
                "role": "assistant",
                "tool_calls": [
                    {"index": i, "id": f"call_{i}", "type": "function", "function": {"name": "lookup", "arguments": ""}}
                    for i in range(2)
                ],
            },
            "finish_reason": None,
        }
    ]
    for piece in _pieces(arguments, rng, None):
        for i in range(2):
            events.append(
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": i, "function": {"arguments": piece}}]},
                    "finish_reason": None,
                }
            )
    events.append({"index": 0, "delta": {}, "finish_reason": "tool_calls"})
    lines = [
        f"data: {json.dumps({**base, 'object': 'chat.completion.chunk', 'choices': [choice]})}\n\n" for choice in events
    ]
    return StreamingResponse(iter([*lines, "data: [DONE]\n\n"]), media_type="text/event-stream")


def responses_events(text: str, rng: random.Random, response_id: str = "resp_1") -> list[dict]:
    """A Responses API stream saying ``text`` as reasoning summary, output text, a refusal and function-call
    arguments, in random pieces, ending with ``response.completed`` carrying the whole response."""
    arguments = json.dumps({"who": text}, ensure_ascii=False)
    items = [
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": text}], "status": "completed"},
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [
                {
                    "type": "output_text",
                    "text": text,
                    "annotations": [],
                    "logprobs": [{"token": text, "logprob": -0.1}],
                },
                {"type": "refusal", "refusal": text},
            ],
        },
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_1",
            "name": "lookup",
            "arguments": arguments,
            "status": "completed",
        },
    ]
    response = {
        "id": response_id,
        "object": "response",
        "created_at": 1,
        "model": "apertus-test",
        "status": "completed",
        "output": items,
        "output_text": text,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "metadata": {},
    }
    events: list[dict] = [
        {"type": "response.created", "response": {**response, "status": "in_progress", "output": [], "output_text": ""}}
    ]

    def stream(family: str, full_key: str, full: str, **where) -> None:
        for piece in _pieces(full, rng, None):
            events.append(
                {
                    "type": f"{family}.delta",
                    **where,
                    "delta": piece,
                    **({"logprobs": []} if family == "response.output_text" else {}),
                }
            )
        events.append({"type": f"{family}.done", **where, full_key: full})

    events.append({"type": "response.output_item.added", "output_index": 0, "item": {**items[0], "summary": []}})
    stream("response.reasoning_summary_text", "text", text, item_id="rs_1", output_index=0, summary_index=0)
    events.append({"type": "response.output_item.done", "output_index": 0, "item": items[0]})
    events.append({"type": "response.output_item.added", "output_index": 1, "item": {**items[1], "content": []}})
    events.append(
        {
            "type": "response.content_part.added",
            "item_id": "msg_1",
            "output_index": 1,
            "content_index": 0,
            "part": {"type": "output_text", "text": "", "annotations": []},
        }
    )
    stream("response.output_text", "text", text, item_id="msg_1", output_index=1, content_index=0)
    events.append(
        {
            "type": "response.content_part.done",
            "item_id": "msg_1",
            "output_index": 1,
            "content_index": 0,
            "part": items[1]["content"][0],
        }
    )
    stream("response.refusal", "refusal", text, item_id="msg_1", output_index=1, content_index=1)
    events.append({"type": "response.output_item.done", "output_index": 1, "item": items[1]})
    events.append({"type": "response.output_item.added", "output_index": 2, "item": {**items[2], "arguments": ""}})
    stream("response.function_call_arguments", "arguments", arguments, item_id="fc_1", output_index=2)
    events.append({"type": "response.output_item.done", "output_index": 2, "item": items[2]})
    events.append({"type": "response.completed", "response": response})
    for number, event in enumerate(events):
        event["sequence_number"] = number
    return events


async def responses(request: Request) -> Response:
    STATE["calls"] += 1
    payload = await request.json()
    if "raw_sse" in payload:
        return _raw_sse(payload)
    events = responses_events(payload["input"], random.Random(payload.get("seed", 0)))
    if not payload.get("stream"):
        return JSONResponse(events[-1]["response"])
    lines = [f"event: {event['type']}\ndata: {json.dumps(event)}\n\n" for event in events]
    return StreamingResponse(iter(lines), media_type="text/event-stream")


async def chat_completions(request: Request) -> Response:
    return await _completion(request, chat=True)


async def completions(request: Request) -> Response:
    return await _completion(request, chat=False)


async def models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [{"id": f"{NAME}-7B", "object": "model"}]})


async def tasks(request: Request) -> Response:
    return JSONResponse({"tasks": len(asyncio.all_tasks())})


async def anything(request: Request) -> Response:
    """Any other path: answers with a listed name, as an app's extra endpoint might."""
    return JSONResponse({"path": request.url.path, "said": f"{NAME} schreibt an {EMAIL}"})


UPSTREAM = Starlette(
    routes=[
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/responses", responses, methods=["POST"]),
        Route("/v1/models", models),
        Route("/debug/tasks", tasks),
        Route("/v1/embeddings", anything, methods=["POST"]),
        Route("/extra/{rest:path}", anything, methods=["GET", "POST"]),
    ]
)


# --------------------------------------------------------------------------------------------
# one real server; a header picks the middleware configuration


@pytest.fixture(scope="module")
def server(lists):
    v1, _ = lists
    holder = {"redactor": v1}

    def unavailable():
        raise RuntimeError("ListUnavailable: the deletion list is older than its maximum age")

    metrics = {name: RedactionMetrics() for name in ("default", "strict", "counted", "swap")}
    configs = {
        "default": DeletionListMiddleware(UPSTREAM, lambda: v1, metrics=metrics["default"]),
        "strict": DeletionListMiddleware(UPSTREAM, lambda: v1, strict=True, metrics=metrics["strict"]),
        "counted": DeletionListMiddleware(UPSTREAM, lambda: v1, metrics=metrics["counted"]),
        "swap": DeletionListMiddleware(UPSTREAM, lambda: holder["redactor"], metrics=metrics["swap"]),
        "strict-none": DeletionListMiddleware(UPSTREAM, lambda: None, strict=True),
        "strict-raises": DeletionListMiddleware(UPSTREAM, unavailable, strict=True),
        "lenient-none": DeletionListMiddleware(UPSTREAM, lambda: None),
        "lenient-raises": DeletionListMiddleware(UPSTREAM, unavailable),
        "small": DeletionListMiddleware(UPSTREAM, lambda: v1, strict=True, max_body=1024),
        "versioned": DeletionListMiddleware(UPSTREAM, lambda: v1, version_provider=lambda: {"age_seconds": 42}),
    }

    async def dispatch(scope, receive, send):
        headers = dict(scope.get("headers", [])) if scope["type"] == "http" else {}
        await configs[headers.get(b"x-config", b"default").decode()](scope, receive, send)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(dispatch, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not uv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    # a new connection per request: uvicorn closes a connection whose app failed mid-response, and a
    # pooled keep-alive connection could be reused just as it closes (a reset that is not the filter's)
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}", timeout=120, limits=httpx.Limits(max_keepalive_connections=0)
    ) as client:
        # warm-up: the first redaction through the server loads and compiles (seconds on a busy machine),
        # so no test's own request, timed or not, pays for it
        assert client.post("/v1/completions", json={"prompt": TEXT}).status_code == 200
        assert client.post("/v1/completions", json={"prompt": TEXT, "stream": True}).status_code == 200
        yield {"client": client, "metrics": metrics, "holder": holder, "lists": lists}
    uv.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture()
def client(server):
    return server["client"]


def post(client, path, payload, config="default"):
    return client.post(path, json=payload, headers={"x-config": config})


def stream(client, path, payload, config="default"):
    with client.stream("POST", path, json=payload, headers={"x-config": config}) as response:
        raw = response.read().decode()
    return response, raw


def data_events(raw: str) -> list[str]:
    out = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        lines = [line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")]
        if lines:
            out.append("\n".join(lines))
    return out


def streamed_text(events: list[str], chat: bool) -> dict[int, str]:
    texts: dict[int, str] = {}
    for data in events:
        if data == "[DONE]":
            continue
        for choice in json.loads(data)["choices"]:
            piece = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
            texts[choice["index"]] = texts.get(choice["index"], "") + (piece or "")
    return texts


def assert_clean(raw: str) -> None:
    for value in LISTED:
        assert value.lower() not in raw.lower()


# --------------------------------------------------------------------------------------------
# streams


@pytest.mark.parametrize(
    "options",
    [
        {"seed": 1, "n": 1},
        {"seed": 2, "n": 2},
        {"seed": 3, "n": 2, "crlf": True},
        {"seed": 4, "n": 2, "byte_chunks": True},
        {"seed": 5, "n": 2, "finish_with_content": True, "byte_chunks": True, "crlf": True},
        {"seed": 6, "n": 1, "no_done": True, "comment": True},
    ],
)
@pytest.mark.parametrize("chat", [True, False])
def test_streams_are_redacted_across_chunk_boundaries(client, lists, options, chat):
    redactor = lists[0]
    path = "/v1/chat/completions" if chat else "/v1/completions"
    prompt = {"messages": [{"role": "user", "content": TEXT}]} if chat else {"prompt": TEXT}
    response, raw = stream(client, path, {**prompt, "stream": True, **options})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-deletion-list-version"] == "2025-06-v1"
    assert int(response.headers["x-deletion-list-age"]) >= 0
    assert_clean(raw)
    events = data_events(raw)
    if options.get("no_done"):
        assert "[DONE]" not in events
    else:
        assert events[-1] == "[DONE]" and events.count("[DONE]") == 1
    chunks = [json.loads(data) for data in events if data != "[DONE]"]
    texts = streamed_text(events, chat)
    expected = [TEXT, SECOND][: options["n"]]
    assert texts == {i: redactor.redact(text) for i, text in enumerate(expected)}
    assert OTHER_NAME in texts[0] and "[REDACTED]" in texts[0]
    finishes = {
        choice["index"]: choice["finish_reason"]
        for chunk in chunks
        for choice in chunk["choices"]
        if choice.get("finish_reason")
    }
    assert finishes == {i: "length" if i else "stop" for i in range(options["n"])}
    finished: set[int] = set()
    for chunk in chunks:  # what a choice's stream held back comes with its finish_reason, not later
        for choice in chunk["choices"]:
            piece = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
            assert choice["index"] not in finished or not piece
            if choice.get("finish_reason"):
                finished.add(choice["index"])
    assert all(choice.get("logprobs") is None for chunk in chunks for choice in chunk["choices"])
    assert any(chunk.get("usage") for chunk in chunks)
    if chat:
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    if options.get("comment"):
        assert "\n:\n\n" in raw or raw.startswith(":\n\n")


def test_malformed_event_ends_the_stream_without_raw_text(client, server):
    for config in ("default", "strict"):
        before = server["metrics"][config].errors
        response, raw = stream(
            client, "/v1/chat/completions", {"messages": [{"content": TEXT}], "stream": True, "malformed": True}, config
        )
        assert response.status_code == 200
        assert_clean(raw)
        events = data_events(raw)
        assert events[-1] == "[DONE]"
        error = json.loads(events[-2])["error"]
        assert error["code"] == "malformed_upstream_event" and error["message"]
        assert server["metrics"][config].errors == before + 1


def test_a_broken_stream_stops_the_app(client):
    STATE["closed"] = closed = threading.Event()
    started = time.monotonic()
    response, raw = stream(
        client,
        "/v1/completions",
        {"prompt": TEXT * 5, "stream": True, "delay": 0.05, "malformed": True, "malformed_at": 3},
    )
    assert json.loads(data_events(raw)[-2])["error"]["code"] == "malformed_upstream_event"
    assert closed.wait(5), "the upstream kept generating for a client that was answered"
    assert time.monotonic() - started < 5  # the full upstream stream (about 250 chunks) would take over 10 s


@pytest.mark.parametrize(
    "option, code", [("invalid_utf8", "invalid_upstream_encoding"), ("truncate", "truncated_upstream_stream")]
)
def test_broken_streams_end_with_an_error_event(client, option, code):
    response, raw = stream(client, "/v1/completions", {"prompt": TEXT, "stream": True, "no_done": True, option: True})
    assert_clean(raw)
    events = data_events(raw)
    assert events[-1] == "[DONE]" and json.loads(events[-2])["error"]["code"] == code


def test_upstream_error_events_are_forwarded_redacted(client):
    response, raw = stream(client, "/v1/completions", {"prompt": TEXT, "stream": True, "upstream_error": True})
    assert_clean(raw)
    errors = [json.loads(data)["error"] for data in data_events(raw) if data != "[DONE]" and "error" in data]
    assert errors and errors[0]["message"] == "failed for [REDACTED]"


def test_an_app_failing_mid_stream_ends_it_with_an_error(client):
    response, raw = stream(client, "/v1/completions", {"prompt": TEXT, "stream": True, "fail_after": 5})
    events = data_events(raw)
    assert events[-1] == "[DONE]" and json.loads(events[-2])["error"]["code"] == "upstream_failed"
    assert post(client, "/v1/completions", {"prompt": TEXT}).status_code == 200


def test_a_client_leaving_mid_stream_does_not_break_the_server(client, server):
    baseline = client.get("/debug/tasks").json()["tasks"]
    STATE["closed"] = closed = threading.Event()
    disconnects = server["metrics"]["default"].disconnects
    with client.stream(
        "POST", "/v1/chat/completions", json={"messages": [{"content": TEXT * 20}], "stream": True, "delay": 0.02}
    ) as response:
        received = b""
        for chunk in response.iter_bytes():
            received += chunk
            if received.count(b"\n\n") >= 3:
                break
    assert closed.wait(30), "the upstream generator was not stopped"
    deadline = time.monotonic() + 30
    while client.get("/debug/tasks").json()["tasks"] > baseline:
        assert time.monotonic() < deadline, "tasks were left behind"
        time.sleep(0.05)
    assert server["metrics"]["default"].disconnects == disconnects + 1
    response, raw = stream(client, "/v1/chat/completions", {"messages": [{"content": TEXT}], "stream": True})
    assert response.status_code == 200 and data_events(raw)[-1] == "[DONE]"


def test_a_request_keeps_the_redactor_it_started_with(client, server):
    v1, v2 = server["lists"]
    holder = server["holder"]
    text = f"{OTHER_NAME} trifft {NAME}. " * 3
    try:
        with client.stream(
            "POST",
            "/v1/completions",
            headers={"x-config": "swap"},
            json={"prompt": text, "stream": True, "delay": 0.005},
        ) as response:
            iterator = response.iter_bytes()
            raw = next(iterator)
            holder["redactor"] = v2
            raw = (raw + b"".join(iterator)).decode()
        assert response.headers["x-deletion-list-version"] == "2025-06-v1"
        assert streamed_text(data_events(raw), chat=False) == {0: v1.redact(text)}
        response = post(client, "/v1/completions", {"prompt": text}, "swap")
        assert response.headers["x-deletion-list-version"] == "2025-07-v2"
        assert response.json()["choices"][0]["text"] == v2.redact(text)
        assert NAME in response.json()["choices"][0]["text"]
    finally:
        holder["redactor"] = v1


# --------------------------------------------------------------------------------------------
# JSON


@pytest.mark.parametrize("chat", [True, False])
def test_json_completions_are_redacted_per_choice(client, lists, chat):
    path = "/v1/chat/completions" if chat else "/v1/completions"
    prompt = {"messages": [{"role": "user", "content": TEXT}]} if chat else {"prompt": TEXT}
    response = post(client, path, {**prompt, "n": 2})
    assert response.status_code == 200
    assert_clean(response.text)
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.headers["x-deletion-list-version"] == "2025-06-v1"
    choices = response.json()["choices"]
    texts = [choice["message"]["content"] if chat else choice["text"] for choice in choices]
    assert texts == [lists[0].redact(TEXT), lists[0].redact(SECOND)]
    assert all(choice["logprobs"] is None for choice in choices)
    assert response.content.startswith(b'{"id":"cmpl-1","object":')  # re-serialized compactly


def test_a_one_megabyte_generation_is_redacted(client):
    filler = "lorem ipsum dolor sit amet " * 20000
    text = f"{NAME} {filler} {EMAIL} {filler[:460_000]} {NAME}"
    assert len(text.encode()) > 1_000_000
    response = post(client, "/v1/chat/completions", {"messages": [{"content": text}]})
    assert response.status_code == 200
    content = response.json()["choices"][0]["message"]["content"]
    assert content == text.replace(NAME, "[REDACTED]").replace(EMAIL, "[REDACTED]")


def test_a_one_megabyte_stream_is_redacted(client):
    text = f"{NAME} " + "lorem ipsum dolor sit amet " * 38000 + f" {EMAIL}"
    assert len(text) > 1_000_000
    response, raw = stream(
        client, "/v1/completions", {"prompt": text, "stream": True, "piece_size": 200_003, "byte_chunks": False}
    )
    assert_clean(raw)
    expected = text.replace(NAME, "[REDACTED]").replace(EMAIL, "[REDACTED]")
    assert streamed_text(data_events(raw), chat=False) == {0: expected}


def test_a_body_over_the_cap_is_refused(client):
    response = post(client, "/v1/completions", {"prompt": TEXT * 10}, "small")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_response_too_large"
    assert_clean(response.text)


@pytest.mark.parametrize(
    "raw, media_type, code",
    [
        (b'{"choices": [{"index": 0, "text": "Hans M\xfcller"}]}', "application/json", "unparsable_upstream_response"),
        (f"{NAME} plain".encode(), "text/plain", "unsupported_upstream_content_type"),
        (json.dumps({"data": NAME}).encode(), "application/json", "unexpected_upstream_shape"),
    ],
)
def test_unfilterable_responses(client, raw, media_type, code):
    payload = {"prompt": "x", "raw_hex": raw.hex(), "media_type": media_type}
    strict = post(client, "/v1/completions", payload, "strict")
    assert strict.status_code == 502
    assert strict.json()["error"]["code"] == code and strict.json()["error"]["type"] == "server_error"
    assert_clean(strict.text)
    lenient = post(client, "/v1/completions", payload)
    assert lenient.status_code == 200 and lenient.content == raw
    assert lenient.headers["x-deletion-list"] == "none"


# --------------------------------------------------------------------------------------------
# availability, pass-through, headers, metrics


@pytest.mark.parametrize("config", ["strict-none", "strict-raises"])
def test_strict_without_a_list_answers_503_without_calling_the_app(client, config):
    calls = STATE["calls"]
    for stream_it in (False, True):
        response = post(client, "/v1/chat/completions", {"messages": [{"content": TEXT}], "stream": stream_it}, config)
        assert response.status_code == 503
        assert response.json() == {
            "error": {
                "message": response.json()["error"]["message"],
                "param": None,
                "type": "service_unavailable",
                "code": "deletion_list_unavailable",
            }
        }
    assert STATE["calls"] == calls


@pytest.mark.parametrize("config", ["lenient-none", "lenient-raises"])
def test_non_strict_without_a_list_passes_through_marked(client, config):
    response = post(client, "/v1/completions", {"prompt": TEXT}, config)
    assert response.status_code == 200
    assert response.headers["x-deletion-list"] == "none"
    assert response.json()["choices"][0]["text"] == TEXT
    assert "x-deletion-list-version" not in response.headers


def test_allow_listed_paths_pass_and_error_statuses_are_filtered(client):
    response = client.get("/v1/models")
    assert response.json()["data"][0]["id"] == f"{NAME}-7B"  # the allow-list: no generated text, untouched
    assert not any(name.startswith("x-deletion-list") for name in response.headers)
    wrong_method = client.get("/v1/chat/completions", headers={"x-config": "strict"})
    assert wrong_method.status_code == 405  # Starlette's plain-text body cannot be filtered: replaced
    assert wrong_method.headers["x-deletion-list-version"] == "2025-06-v1"
    assert wrong_method.json()["error"]["code"] == "unfilterable_upstream_error"
    lenient = client.get("/v1/chat/completions")
    assert lenient.status_code == 405 and lenient.headers["x-deletion-list"] == "none"


def test_version_provider_overrides_headers(client):
    response = post(client, "/v1/completions", {"prompt": TEXT}, "versioned")
    assert response.headers["x-deletion-list-age"] == "42"
    assert response.headers["x-deletion-list-version"] == "2025-06-v1"


def test_metrics_count_by_category_and_logs_hold_no_values(client, server, caplog):
    caplog.set_level(logging.DEBUG, logger="apertus_compliance.filters.middleware")
    metrics = server["metrics"]["counted"]
    post(client, "/v1/chat/completions", {"messages": [{"content": TEXT}]}, "counted")
    stream(client, "/v1/completions", {"prompt": TEXT, "stream": True, "n": 2, "seed": 9}, "counted")
    assert metrics.snapshot()["redactions"] == {"name": 3 + 3 + 1, "email": 1 + 1 + 1}  # TEXT twice, SECOND once
    stream(client, "/v1/completions", {"prompt": TEXT, "stream": True, "malformed": True}, "counted")
    snapshot = metrics.snapshot()
    assert snapshot["responses"] == 3 and snapshot["streamed_responses"] == 2 and snapshot["errors"] == 1
    assert caplog.records, "the middleware logged nothing"
    assert_clean(caplog.text)
    assert "malformed_upstream_event" in caplog.text


# --------------------------------------------------------------------------------------------
# the SSE parser on its own: every split of a small stream


def test_sse_filter_is_independent_of_chunk_boundaries(lists):
    redactor = lists[0]
    text = f"an {NAME}, {EMAIL}"
    events = [
        "data: " + json.dumps({"id": "c", "choices": [{"index": 0, "delta": {"content": piece}}]})
        for piece in ("an Hans", " Mü", f"ller, {EMAIL}")
    ]
    events.append("data: " + json.dumps({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    for newline in ("\n", "\r\n", "\r"):
        raw = (newline * 2).join([*events, "data: [DONE]", ""]).encode()
        whole = SSEFilter(redactor)
        reference = whole.feed(raw) + whole.end()
        assert streamed_text(data_events(reference), chat=True) == {0: redactor.redact(text)}
        for cut in range(1, len(raw), 1 if newline == "\r\n" else 3):
            split = SSEFilter(redactor)
            assert split.feed(raw[:cut]) + split.feed(raw[cut:]) + split.end() == reference, (newline, cut)


def test_sse_filter_flushes_open_streams_before_done(lists):
    redactor = lists[0]
    sse = SSEFilter(redactor)
    out = sse.feed(
        b'data: {"id": "x", "model": "m", "created": 5, "choices": [{"index": 1, "text": "Gruesse, Hans"}]}'
        b"\n\ndata: [DONE]\n\n"
    )
    events = data_events(out)
    assert events[-1] == "[DONE]" and len(events) == 3
    synthetic = json.loads(events[1])
    assert synthetic["id"] == "x" and synthetic["model"] == "m" and synthetic["created"] == 5
    assert synthetic["choices"] == [{"index": 1, "text": "Hans", "logprobs": None, "finish_reason": None}]
    assert sse.feed(b"data: more after done\n\n") == "" and sse.end() == ""


# --------------------------------------------------------------------------------------------
# paths: one normalization, one decision


PATH_TABLE = [
    # (path as sent, the normalized path or None when refused, its kind)
    ("/v1/chat/completions", "/v1/chat/completions", "chat"),
    ("/v1/./chat/completions", "/v1/chat/completions", "chat"),
    ("/v1//chat/completions", "/v1/chat/completions", "chat"),
    ("/v1/%2E/chat/completions", "/v1/chat/completions", "chat"),
    ("/v1/%2e/chat/completions", "/v1/chat/completions", "chat"),
    ("/v1/chat/x/../completions", "/v1/chat/completions", "chat"),
    ("/v1/chat/x/%2E%2E/completions", "/v1/chat/completions", "chat"),
    ("/v1/chat/completions/", "/v1/chat/completions", "chat"),
    ("//v1/chat/completions", "/v1/chat/completions", "chat"),
    ("/v1/%63hat/completions", "/v1/chat/completions", "chat"),
    ("/v1/models/../chat/completions", "/v1/chat/completions", "chat"),
    ("/../../v1/completions", "/v1/completions", "completions"),
    ("/v1/../v1/responses", "/v1/responses", "responses"),
    ("/v1/responses/resp_1/input_items", "/v1/responses/resp_1/input_items", "responses"),
    ("/v1/chat%2Fcompletions", None, None),
    ("/v1/chat%2fcompletions", None, None),
    ("/v1%5Cchat/completions", None, None),
    ("/v1/chat\\completions", None, None),
    ("/v1/chat/completions%00", None, None),
    ("/v1/chat/completions%zz", None, None),
    ("/v1/chat/completions%4", None, None),
    ("/v1/chat/compl etions", None, None),
    ("/v1/chät/completions", None, None),
    ("v1/chat/completions", None, None),
    ("/V1/chat/completions", "/V1/chat/completions", "other"),
    ("/v1/Chat/Completions", "/v1/Chat/Completions", "other"),
    ("/v1/chat/completions;x", "/v1/chat/completions;x", "other"),
    ("/v1/embeddings", "/v1/embeddings", "other"),
    ("/v1/audio/speech", "/v1/audio/speech", "other"),
    ("/", "/", "other"),
    ("/v1/models", "/v1/models", "pass"),
    ("/v1/models/swiss-ai/Apertus-8B", "/v1/models/swiss-ai/Apertus-8B", "pass"),
    ("/v1/models/a%20b%c3%bc", "/v1/models/a%20b%C3%BC", "pass"),
    ("/v1/models/swiss-ai%2fApertus-8B", "/v1/models/swiss-ai%2FApertus-8B", "pass"),  # the openai client's form
    ("/v1/models/x%2F..%2F..%2Fchat%2Fcompletions", None, None),
    ("/v1/models/x%2F%2E%2E", None, None),
    ("/v1/models%2Fx", None, None),
    ("/healthz/", "/healthz", "pass"),
    ("/metrics", "/metrics", "pass"),
    ("/admin/reload", "/admin/reload", "pass"),
]


@pytest.mark.parametrize("raw, normalized, kind", PATH_TABLE)
def test_path_normalization_table(raw, normalized, kind):
    if normalized is None:
        with pytest.raises(InvalidPath):
            normalize_path(raw)
        return
    assert normalize_path(raw) == normalized
    assert normalize_path(raw.encode("latin-1")) == normalized
    assert normalize_path(normalized) == normalized  # one normalization: a second one changes nothing
    assert path_kind(normalized) == kind


def raw_request(
    base: str, method: str, path: str, body: dict | None = None, headers: dict | None = None
) -> tuple[int, dict, bytes]:
    """A request with the path sent byte for byte as given (httpx and http.client would normalize or refuse it)."""
    host, port = base.removeprefix("http://").rstrip("/").split(":")
    data = json.dumps(body).encode() if body is not None else b""
    lines = [
        f"{method} {path} HTTP/1.1",
        f"host: {host}:{port}",
        "content-type: application/json",
        f"content-length: {len(data)}",
        "connection: close",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall("\r\n".join(lines).encode("utf-8") + b"\r\n\r\n" + data)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        return answer.status, {name.lower(): value for name, value in answer.getheaders()}, answer.read()


@pytest.mark.parametrize("raw, normalized, kind", [case for case in PATH_TABLE if case[2] != "pass"])
def test_path_variants_through_the_middleware_are_filtered(client, lists, raw, normalized, kind):
    base = str(client.base_url)
    calls = STATE["calls"]
    for config in ("strict", "default"):
        status, headers, body = raw_request(
            base, "POST", raw, {"messages": [{"content": TEXT}], "prompt": TEXT, "input": TEXT}, {"x-config": config}
        )
        text = body.decode()
        assert_clean(text)
        if normalized is None:  # refused by the middleware, or already by the HTTP server (a raw space)
            assert status == 400
            if headers.get("content-type") == "application/json":
                assert json.loads(body)["error"]["code"] == "invalid_path"
        elif 200 <= status < 300:
            assert kind in ("chat", "completions", "responses", "other")
            assert headers["x-deletion-list-version"] == "2025-06-v1"
            if kind in ("chat", "completions"):
                choice = json.loads(body)["choices"][0]
                assert (choice.get("message") or {}).get("content", choice.get("text")) == lists[0].redact(TEXT)
        else:
            assert headers.get("x-deletion-list-version") == "2025-06-v1" or headers.get("x-deletion-list") == "none"
    if normalized is None:
        assert STATE["calls"] == calls  # refused before the app


def test_strict_without_a_list_refuses_every_path_but_the_allow_list(client):
    for raw in ("/v1/./chat/completions", "/v1/%2E/responses", "/v1/embeddings", "/extra/x", "/V1/chat/completions"):
        status, _, body = raw_request(
            str(client.base_url), "POST", raw, {"prompt": TEXT, "input": TEXT}, {"x-config": "strict-none"}
        )
        assert status == 503 and json.loads(body)["error"]["code"] == "deletion_list_unavailable", raw
    status, _, body = raw_request(str(client.base_url), "GET", "/v1//models/", None, {"x-config": "strict-none"})
    assert status == 200 and json.loads(body)["data"]


def test_other_paths_are_filtered_generically(client):
    for path in ("/v1/embeddings", "/extra/report"):
        response = post(client, path, {"x": 1})
        assert response.status_code == 200
        assert response.json()["said"] == "[REDACTED] schreibt an [REDACTED]"
        assert response.headers["x-deletion-list-version"] == "2025-06-v1"


# --------------------------------------------------------------------------------------------
# tool calls, the Responses API, error bodies


def api(client, config: str = "strict") -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{str(client.base_url).rstrip('/')}/v1",
        api_key="x",
        max_retries=0,
        timeout=30,
        default_headers={"x-config": config},
    )


def test_tool_call_arguments_are_redacted(client, lists):
    redactor = lists[0]
    arguments = json.dumps({"who": TEXT}, ensure_ascii=False)
    answer = api(client).chat.completions.create(
        model="m", messages=[{"role": "user", "content": TEXT}], extra_body={"tools": True}
    )
    message = answer.choices[0].message
    assert [call.function.arguments for call in message.tool_calls] == [redactor.redact(arguments)] * 2
    assert message.function_call.arguments == redactor.redact(arguments)
    assert json.loads(message.tool_calls[0].function.arguments)["who"] == redactor.redact(TEXT)
    for seed in range(3):
        response, raw = stream(
            client,
            "/v1/chat/completions",
            {"messages": [{"content": TEXT}], "tools": True, "stream": True, "seed": seed},
            "strict",
        )
        assert_clean(raw)
        streamed: dict[int, str] = {}
        for data in data_events(raw)[:-1]:
            for call in json.loads(data)["choices"][0]["delta"].get("tool_calls") or []:
                streamed[call["index"]] = streamed.get(call["index"], "") + call["function"].get("arguments", "")
        assert streamed == {0: redactor.redact(arguments), 1: redactor.redact(arguments)}
        assert data_events(raw)[-1] == "[DONE]"
    chunks = api(client).chat.completions.create(
        model="m", messages=[{"role": "user", "content": TEXT}], stream=True, extra_body={"tools": True, "seed": 4}
    )
    calls: dict[int, str] = {}
    for chunk in chunks:
        for call in chunk.choices[0].delta.tool_calls or []:
            calls[call.index] = calls.get(call.index, "") + (call.function.arguments or "")
    assert calls == {0: redactor.redact(arguments), 1: redactor.redact(arguments)}


def test_responses_json_is_redacted(client, lists):
    redactor = lists[0]
    clean = redactor.redact(TEXT)
    response = api(client).responses.create(model="m", input=TEXT)
    reasoning, message, call = response.output
    assert response.output_text == clean
    assert reasoning.summary[0].text == clean
    assert message.content[0].text == clean and message.content[0].logprobs == []
    assert message.content[1].refusal == clean
    assert call.arguments == redactor.redact(json.dumps({"who": TEXT}, ensure_ascii=False))
    assert call.call_id == "call_1" and call.name == "lookup" and response.id == "resp_1"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_responses_stream_is_redacted_event_by_event(client, lists, seed):
    redactor = lists[0]
    clean = redactor.redact(TEXT)
    arguments = redactor.redact(json.dumps({"who": TEXT}, ensure_ascii=False))
    deltas: dict[str, str] = {}
    dones: dict[str, str] = {}
    completed = None
    for event in api(client).responses.create(model="m", input=TEXT, stream=True, extra_body={"seed": seed}):
        dumped = event.model_dump_json()
        assert_clean(dumped)
        if event.type.endswith(".delta"):
            deltas[event.type] = deltas.get(event.type, "") + event.delta
        elif event.type == "response.output_text.done" or event.type == "response.reasoning_summary_text.done":
            dones[event.type] = event.text
        elif event.type == "response.function_call_arguments.done":
            dones[event.type] = event.arguments
        elif event.type == "response.refusal.done":
            dones[event.type] = event.refusal
        elif event.type == "response.completed":
            completed = event.response
    assert deltas == {
        "response.reasoning_summary_text.delta": clean,
        "response.output_text.delta": clean,
        "response.refusal.delta": clean,
        "response.function_call_arguments.delta": arguments,
    }
    assert dones == {
        "response.reasoning_summary_text.done": clean,
        "response.output_text.done": clean,
        "response.refusal.done": clean,
        "response.function_call_arguments.done": arguments,
    }
    assert completed is not None and completed.output_text == clean and completed.output[2].arguments == arguments


def test_error_bodies_are_filtered(client, lists):
    with pytest.raises(openai.BadRequestError) as failed:
        api(client).chat.completions.create(
            model="m", messages=[{"role": "user", "content": TEXT}], extra_body={"status": 400}
        )
    assert failed.value.status_code == 400 and failed.value.message.endswith(lists[0].redact(TEXT))
    assert_clean(failed.value.response.text)
    assert failed.value.response.json()["detail"] == [{"input": lists[0].redact(TEXT)}]
    raw = {
        "prompt": "x",
        "raw_hex": f"upstream trace: {NAME}".encode().hex(),
        "media_type": "text/plain",
        "status": 500,
    }
    strict = post(client, "/v1/completions", raw, "strict")
    assert strict.status_code == 500 and strict.json()["error"]["code"] == "unfilterable_upstream_error"
    assert_clean(strict.text)
    lenient = post(client, "/v1/completions", raw)
    assert lenient.status_code == 500 and lenient.headers["x-deletion-list"] == "none"
    empty = post(client, "/v1/completions", {**raw, "raw_hex": "", "status": 404}, "strict")
    assert empty.status_code == 404 and empty.content == b""


# --------------------------------------------------------------------------------------------
# upstream failures: held-back text is dropped, never released


def test_an_app_failing_mid_stream_drops_the_held_back_part_of_a_phone_number(client, server):
    text = "Rufen Sie an: +41 79 123 45"  # the start of the listed +41 79 123 45 67, then the upstream dies
    chunks = [
        "data: " + json.dumps({"id": "c", "choices": [{"index": 0, "delta": {"content": text[i : i + 3]}}]}) + "\n\n"
        for i in range(0, len(text), 3)
    ]
    before = server["metrics"]["strict"].errors
    response, raw = stream(
        client,
        "/v1/chat/completions",
        {"raw_sse": [chunk.encode().hex() for chunk in chunks], "fail_at_end": True},
        "strict",
    )
    events = data_events(raw)
    said = streamed_text(events[:-2], chat=True).get(0, "")
    assert said.startswith("Rufen Sie an:") and "79" not in said and "123 45" not in raw
    assert json.loads(events[-2])["error"]["code"] == "upstream_failed" and events[-1] == "[DONE]"
    assert server["metrics"]["strict"].errors == before + 1


def test_an_upstream_error_event_drops_the_held_back_text(lists):
    sse = SSEFilter(lists[0])
    out = sse.feed(
        b'data: {"choices": [{"index": 0, "delta": {"content": "Ruf +41 79 123 45"}}]}\n\n'
        b'data: {"error": {"message": "upstream gone", "type": "server_error"}}\n\n'
        b'data: {"choices": [{"index": 0, "delta": {"content": " 67"}}]}\n\n'
    )
    out += sse.end()
    events = data_events(out)
    assert "79" not in out and json.loads(events[-2])["error"]["message"] == "upstream gone"
    assert events[-1] == "[DONE]" and sse.error == "upstream_error"


# --------------------------------------------------------------------------------------------
# the SSE path, fuzzed: chunk boundaries, event interleavings, line ends, failures

WORDS = ("Hallo", "und", "Grüsse", "Tel.", "an", "Nachricht", "ok")
PARTIALS = ("79 123", "Müller", "muster@")  # a listed value's parts appear only inside it, never alone


@st.composite
def field_texts(draw) -> str:
    parts = []
    for value in draw(st.lists(st.sampled_from([NAME, EMAIL, PHONE]), max_size=3)):
        parts += [draw(st.sampled_from(WORDS)), value]
    return " ".join([*parts, draw(st.sampled_from(WORDS))])


def _split(draw, text: str) -> list[str]:
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=6)) if len(text) > 1 else set())
    return [text[start:end] for start, end in zip([0, *cuts], [*cuts, len(text)], strict=True)]


CHAT_FIELDS = [
    ("content", 0, None),
    ("reasoning_content", 0, None),
    ("tool", 0, 0),
    ("tool", 0, 1),
    ("content", 1, None),
]
RESPONSE_FIELDS = [
    ("response.output_text", "text", {"item_id": "msg_1", "output_index": 1, "content_index": 0}),
    ("response.refusal", "refusal", {"item_id": "msg_1", "output_index": 1, "content_index": 1}),
    ("response.function_call_arguments", "arguments", {"item_id": "fc_1", "output_index": 2}),
    ("response.reasoning_summary_text", "text", {"item_id": "rs_1", "output_index": 0, "summary_index": 0}),
]


@st.composite
def sse_streams(draw) -> dict:
    """An upstream event stream (bytes in chunks) with listed values in every kind of text field."""
    kind = draw(st.sampled_from(["chat", "responses", "mixed"]))
    fields = ([("chat", field) for field in CHAT_FIELDS] if kind != "responses" else []) + (
        [("responses", field) for field in RESPONSE_FIELDS] if kind != "chat" else []
    )
    chosen = draw(st.lists(st.integers(0, len(fields) - 1), min_size=1, max_size=len(fields), unique=True))
    fields = [fields[number] for number in chosen]
    texts = [draw(field_texts()) for _ in fields]
    queues = [_split(draw, text) for text in texts]
    rng = draw(st.randoms(use_true_random=False))
    events: list[dict] = []
    open_choices = {field[1] for family, field in fields if family == "chat"}
    while any(queues):
        number = rng.choice([i for i, queue in enumerate(queues) if queue])
        (family, field), piece = fields[number], queues[number].pop(0)
        if family == "chat":
            name, index, tool = field
            delta = (
                {"tool_calls": [{"index": tool, "function": {"arguments": piece}}]} if name == "tool" else {name: piece}
            )
            events.append(
                {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "m",
                    "choices": [{"index": index, "delta": delta, "finish_reason": None}],
                }
            )
            if not any(queues[i] for i, (f, other) in enumerate(fields) if f == "chat" and other[1] == index):
                events.append({"id": "c", "choices": [{"index": index, "delta": {}, "finish_reason": "stop"}]})
                open_choices.discard(index)
        else:
            name, full_key, where = field
            events.append({"type": f"{name}.delta", **where, "delta": piece})
            if not queues[number]:
                events.append({"type": f"{name}.done", **where, full_key: texts[number]})
    if kind != "chat":
        events.append(
            {
                "type": "response.completed",
                "response": {
                    "id": "r",
                    "object": "response",
                    "output_text": " ".join(texts),
                    "output": [
                        {"type": "message", "content": [{"type": "output_text", "text": text}]} for text in texts
                    ],
                },
            }
        )
    ending = draw(st.sampled_from(["done", "error", "abort"]))
    if ending == "error":
        error = draw(
            st.sampled_from(
                [
                    {"error": {"message": f"failed for {NAME}", "type": "server_error"}},
                    {"type": "error", "code": "x", "message": f"failed for {NAME}"},
                ]
            )
        )
        events.insert(draw(st.integers(0, len(events))), error)
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    pieces = []
    for number, event in enumerate(events):
        if draw(st.booleans()) and number % 3 == 0:
            pieces.append(f": keep-alive {NAME}{newline}{newline}")
        named = f"event: {event['type']}{newline}" if "type" in event and draw(st.booleans()) else ""
        if "type" in event:
            event["sequence_number"] = number
        pieces.append(named + "data: " + json.dumps(event, ensure_ascii=draw(st.booleans())) + newline * 2)
    pieces.append(f"data: [DONE]{newline}{newline}")
    data = "".join(pieces).encode()
    if ending == "abort":
        data = data[: draw(st.integers(0, len(data)))]
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(data) - 1)), max_size=12))) if len(data) > 1 else []
    chunks = [data[start:end] for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    return {"chunks": chunks, "ending": ending, "fields": fields, "texts": texts}


def check_filtered(raw: str, generated: dict, redactor: Redactor) -> None:
    """No listed value or part of one; ends with [DONE] (after an error event when something failed); a
    stream that completed adds up, per field, to the redacted text."""
    for value in (*LISTED, *PARTIALS):
        assert value.lower() not in raw.lower(), value
    events = data_events(raw)
    assert events and events[-1] == "[DONE]" and events.count("[DONE]") == 1
    decoded = [json.loads(data) for data in events[:-1]]
    errors = [event for event in decoded if "error" in event or event.get("type") == "error"]
    if generated["ending"] == "done":
        assert not errors
        texts: dict = {}
        for event in decoded:
            for choice in event.get("choices", []):
                delta = choice.get("delta") or {}
                for name in ("content", "reasoning_content"):
                    key = ("chat", (name, choice["index"], None))
                    texts[key] = texts.get(key, "") + (delta.get(name) or "")
                for call in delta.get("tool_calls") or []:
                    key = ("chat", ("tool", choice["index"], call["index"]))
                    texts[key] = texts.get(key, "") + (call["function"].get("arguments") or "")
            if event.get("type", "").endswith(".delta"):
                family = event["type"][: -len(".delta")]
                where = next(field[2] for field in RESPONSE_FIELDS if field[0] == family)
                assert {name: event[name] for name in where} == where
                key = ("responses", family)
                texts[key] = texts.get(key, "") + event["delta"]
        for (family, field), text in zip(generated["fields"], generated["texts"], strict=True):
            key = ("chat", field) if family == "chat" else ("responses", field[0])
            assert texts.get(key, "") == redactor.redact(text), (key, text)
    elif generated["ending"] == "error":
        assert errors and decoded[-1] in errors  # the error event, then [DONE], then nothing
    elif errors:
        assert decoded[-1] in errors and decoded[-1]["error"]["code"] in (
            "upstream_failed",
            "truncated_upstream_stream",
        )


@settings(max_examples=150, deadline=None)
@given(generated=sse_streams())
def test_sse_filter_fuzzed_never_leaks_and_always_ends(lists, generated):
    redactor = lists[0]
    sse = SSEFilter(redactor)
    out = "".join(sse.feed(chunk) for chunk in generated["chunks"])
    out += sse.abort("upstream_failed", "the upstream failed") if generated["ending"] == "abort" else sse.end()
    check_filtered(out, generated, redactor)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(generated=sse_streams())
def test_sse_path_fuzzed_through_the_server(client, lists, generated):
    payload = {"raw_sse": [chunk.hex() for chunk in generated["chunks"]], "fail_at_end": generated["ending"] == "abort"}
    path = (
        "/v1/responses" if any(family == "responses" for family, _ in generated["fields"]) else "/v1/chat/completions"
    )
    response, raw = stream(client, path, payload, "strict")
    assert response.status_code == 200
    check_filtered(raw, generated, lists[0])


def test_websockets_are_refused_at_the_handshake(lists):
    called, sent = [], []

    async def app(scope, receive, send):
        called.append(scope)

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    middleware = DeletionListMiddleware(app, lambda: lists[0], strict=True)
    anyio.run(
        middleware,
        {"type": "websocket", "path": "/v1/realtime", "raw_path": b"/v1/realtime", "headers": []},
        receive,
        send,
    )
    assert sent == [{"type": "websocket.close", "code": 1008}] and not called
