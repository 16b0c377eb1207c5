"""DeletionListMiddleware against a scripted OpenAI-style app, served by a real uvicorn server."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import threading
import time

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from apertus_compliance.filters import DeletionList, Redactor, build_release, generate_keypair
from apertus_compliance.filters.middleware import DeletionListMiddleware, RedactionMetrics, SSEFilter

NAME, EMAIL, OTHER_NAME = "Hans Müller", "anna.muster@beispiel.de", "Greta Beispiel"
LISTED = (NAME, "Müller", EMAIL, "muster@", "beispiel.de", "M\\u00fcller")
TEXT = (f"Guten Tag, hier spricht {NAME}. Schreiben Sie an {EMAIL} oder an hans müller persönlich; "
        f"{OTHER_NAME} und Hans Meier sind nicht gelistet. Grüsse, {NAME}")
SECOND = f"Zweite Antwort: {EMAIL}, {NAME}!"
STATE: dict = {"calls": 0, "closed": threading.Event()}


# --------------------------------------------------------------------------------------------
# releases and redactors


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    root = tmp_path_factory.mktemp("lists")
    private, public = generate_keypair(root / "keys")
    (root / "v1.csv").write_text(f"value,category\n{NAME},name\n{EMAIL},email\n", encoding="utf-8")
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
        pieces.append(text[i:i + step])
        i += step
    return pieces


def _sse(payload: dict, texts: list[str], chat: bool) -> list[str]:
    rng = random.Random(payload.get("seed", 0))
    base = {"id": "cmpl-1", "object": "chat.completion.chunk" if chat else "text_completion", "created": 1,
            "model": "apertus-test"}
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
        events.insert(payload.get("malformed_at", len(events) // 2), f"data: {NAME} schreibt an {EMAIL}{newline}{newline}")
    if payload.get("upstream_error"):
        events.insert(len(events) // 2, "data: " + json.dumps({"error": {"message": f"failed for {NAME}",
                                                                            "type": "server_error"}}) + "\n\n")
    if not payload.get("no_done"):
        events.append(f"data: [DONE]{newline}{newline}")
    if payload.get("truncate"):
        events.append(f"data: {{\"choices\": [{{\"index\": 0, \"text\": \"{NAME}")
    return events


async def _completion(request: Request, chat: bool) -> Response:
    STATE["calls"] += 1
    payload = await request.json()
    if "raw_hex" in payload:
        return Response(bytes.fromhex(payload["raw_hex"]), media_type=payload.get("media_type", "application/json"))
    text = payload["messages"][-1]["content"] if chat else payload["prompt"]
    texts = [text, SECOND][:payload.get("n", 1)]
    if not payload.get("stream"):
        choices = [{"index": i, "finish_reason": "stop", "logprobs": {"tokens": text.split()},
                    **({"message": {"role": "assistant", "content": text}} if chat else {"text": text})}
                   for i, text in enumerate(texts)]
        return JSONResponse({"id": "cmpl-1", "object": "chat.completion" if chat else "text_completion",
                             "created": 1, "model": "apertus-test", "choices": choices})
    events = _sse(payload, texts, chat)
    data = "".join(events).encode()
    if payload.get("invalid_utf8"):
        data = data.replace(b"\\u00fc", b"\xfc", 1)
    if payload.get("byte_chunks"):
        rng, chunks, i = random.Random(payload.get("seed", 0)), [], 0
        while i < len(data):
            step = rng.randint(1, 7)
            chunks.append(data[i:i + step])
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


async def chat_completions(request: Request) -> Response:
    return await _completion(request, chat=True)


async def completions(request: Request) -> Response:
    return await _completion(request, chat=False)


async def models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [{"id": f"{NAME}-7B", "object": "model"}]})


async def tasks(request: Request) -> Response:
    return JSONResponse({"tasks": len(asyncio.all_tasks())})


UPSTREAM = Starlette(routes=[Route("/v1/chat/completions", chat_completions, methods=["POST"]),
                             Route("/v1/completions", completions, methods=["POST"]),
                             Route("/v1/models", models), Route("/debug/tasks", tasks)])


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
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
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


@pytest.mark.parametrize("options", [
    {"seed": 1, "n": 1},
    {"seed": 2, "n": 2},
    {"seed": 3, "n": 2, "crlf": True},
    {"seed": 4, "n": 2, "byte_chunks": True},
    {"seed": 5, "n": 2, "finish_with_content": True, "byte_chunks": True, "crlf": True},
    {"seed": 6, "n": 1, "no_done": True, "comment": True},
])
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
    expected = [TEXT, SECOND][:options["n"]]
    assert texts == {i: redactor.redact(text) for i, text in enumerate(expected)}
    assert OTHER_NAME in texts[0] and "[REDACTED]" in texts[0]
    finishes = {choice["index"]: choice["finish_reason"] for chunk in chunks for choice in chunk["choices"]
                if choice.get("finish_reason")}
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
        response, raw = stream(client, "/v1/chat/completions",
                               {"messages": [{"content": TEXT}], "stream": True, "malformed": True}, config)
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
    response, raw = stream(client, "/v1/completions", {"prompt": TEXT * 5, "stream": True, "delay": 0.01,
                                                        "malformed": True, "malformed_at": 3})
    assert json.loads(data_events(raw)[-2])["error"]["code"] == "malformed_upstream_event"
    assert closed.wait(1), "the upstream kept generating for a client that was answered"
    assert time.monotonic() - started < 1.5  # the full upstream stream would take over 2 s


@pytest.mark.parametrize("option, code", [("invalid_utf8", "invalid_upstream_encoding"),
                                          ("truncate", "truncated_upstream_stream")])
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
    with client.stream("POST", "/v1/chat/completions",
                       json={"messages": [{"content": TEXT * 20}], "stream": True, "delay": 0.02}) as response:
        received = b""
        for chunk in response.iter_bytes():
            received += chunk
            if received.count(b"\n\n") >= 3:
                break
    assert closed.wait(5), "the upstream generator was not stopped"
    deadline = time.monotonic() + 5
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
        with client.stream("POST", "/v1/completions", headers={"x-config": "swap"},
                           json={"prompt": text, "stream": True, "delay": 0.005}) as response:
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
    response, raw = stream(client, "/v1/completions",
                           {"prompt": text, "stream": True, "piece_size": 200_003, "byte_chunks": False})
    assert_clean(raw)
    expected = text.replace(NAME, "[REDACTED]").replace(EMAIL, "[REDACTED]")
    assert streamed_text(data_events(raw), chat=False) == {0: expected}


def test_a_body_over_the_cap_is_refused(client):
    response = post(client, "/v1/completions", {"prompt": TEXT * 10}, "small")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_response_too_large"
    assert_clean(response.text)


@pytest.mark.parametrize("raw, media_type, code", [
    (b'{"choices": [{"index": 0, "text": "Hans M\xfcller"}]}', "application/json", "unparsable_upstream_response"),
    (f"{NAME} plain".encode(), "text/plain", "unsupported_upstream_content_type"),
    (json.dumps({"data": NAME}).encode(), "application/json", "unexpected_upstream_shape"),
])
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
        assert response.json() == {"error": {"message": response.json()["error"]["message"], "param": None,
                                             "type": "service_unavailable", "code": "deletion_list_unavailable"}}
    assert STATE["calls"] == calls


@pytest.mark.parametrize("config", ["lenient-none", "lenient-raises"])
def test_non_strict_without_a_list_passes_through_marked(client, config):
    response = post(client, "/v1/completions", {"prompt": TEXT}, config)
    assert response.status_code == 200
    assert response.headers["x-deletion-list"] == "none"
    assert response.json()["choices"][0]["text"] == TEXT
    assert "x-deletion-list-version" not in response.headers


def test_other_paths_and_error_statuses_pass_through(client):
    response = client.get("/v1/models")
    assert response.json()["data"][0]["id"] == f"{NAME}-7B"
    assert not any(name.startswith("x-deletion-list") for name in response.headers)
    wrong_method = client.get("/v1/chat/completions")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["x-deletion-list-version"] == "2025-06-v1"


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
    events = ["data: " + json.dumps({"id": "c", "choices": [{"index": 0, "delta": {"content": piece}}]})
              for piece in ("an Hans", " Mü", f"ller, {EMAIL}")]
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
    out = sse.feed(b'data: {"id": "x", "model": "m", "created": 5, "choices": [{"index": 1, "text": "Gruesse, Hans"}]}'
                   b"\n\ndata: [DONE]\n\n")
    events = data_events(out)
    assert events[-1] == "[DONE]" and len(events) == 3
    synthetic = json.loads(events[1])
    assert synthetic["id"] == "x" and synthetic["model"] == "m" and synthetic["created"] == 5
    assert synthetic["choices"] == [{"index": 1, "text": "Hans", "logprobs": None, "finish_reason": None}]
    assert sse.feed(b"data: more after done\n\n") == "" and sse.end() == ""
