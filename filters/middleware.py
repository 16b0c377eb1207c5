"""An ASGI middleware that redacts deletion-list entries from OpenAI-compatible responses.

``DeletionListMiddleware(app, redactor_provider)`` wraps any ASGI app (Starlette, FastAPI,
vLLM's server, ...). It is pure ASGI: streamed responses are filtered event by event, never
buffered whole. On the filtered ``paths`` (by default ``/v1/chat/completions`` and
``/v1/completions``) it:

* asks ``redactor_provider()`` for a ``Redactor`` once per request; the request keeps it even if
  the provider swaps to a newer list meanwhile. When the provider raises or returns None, strict
  mode answers 503 (``deletion_list_unavailable``) without calling the app; non-strict mode
  passes the response through unfiltered, marked ``x-deletion-list: none``.
* adds ``x-deletion-list-version`` and ``x-deletion-list-age`` (whole seconds since the release
  was built) from the redactor's list (none for a pattern-only redactor), or from
  ``version_provider()`` (keys ``list_version`` and ``age_seconds``) when given.
* redacts, per choice, ``message.content`` (a string or text parts), ``reasoning_content``,
  ``reasoning`` and ``refusal`` of chat completions and ``text`` of text completions, and sets
  ``logprobs`` to null (the tokens in them would spell out what was redacted). Tool-call
  arguments are not redacted.
* ``application/json`` bodies are buffered (at most ``max_body`` bytes, else 502), parsed as
  UTF-8 JSON, redacted and re-serialized compactly with a corrected ``content-length``.
* ``text/event-stream`` bodies are parsed incrementally across arbitrary chunk boundaries; see
  ``SSEFilter`` for what is forwarded when.
* strips ``accept-encoding`` from the request it passes on, so the app answers uncompressed.
* counts redactions per category in ``RedactionMetrics``; logs carry counts, never text.

What cannot be filtered: a 2xx response on a filtered path that is neither JSON nor an event
stream, is content-encoded, or whose JSON does not parse (including non-UTF-8 bytes) or is not a
completion (no ``choices`` list). Strict mode answers 502 instead; non-strict mode passes it
through unchanged, marked ``x-deletion-list: none`` (availability first, as when no list is
loaded). An event stream is different in both modes: once events have flowed there is no status
to change, so a malformed event (data that is not a JSON object, invalid UTF-8, a choice of the
wrong shape, a stream cut off mid-event, an event over ``max_body`` bytes) ends the stream with
``data: {"error": {...}}`` and ``data: [DONE]``; the raw event is never forwarded, and text the
redactor still held back for that stream is dropped, not flushed. Responses with a status outside
2xx pass through untouched (the headers are added).
"""

from __future__ import annotations

import codecs
import logging
import re
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio
import anyio.to_thread
import orjson

from apertus_compliance.filters.redactor import RedactionStream, Redactor

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_PATHS = ("/v1/chat/completions", "/v1/completions")
MAX_BODY_BYTES = 8 * 1024 * 1024
MESSAGE_FIELDS = ("content", "reasoning_content", "reasoning", "refusal")
"""Generated text in a chat ``message`` or ``delta``."""
OFFLOAD_BYTES = 64 * 1024
"""Bodies (or one event's buffered data) above this are redacted in a worker thread, so a large
generation does not stall the event loop for the other requests."""

_TEMPLATE_KEYS = ("id", "object", "created", "model", "system_fingerprint")
_NEWLINE = re.compile(r"\r\n|\r|\n")
_SAFE_FIELD = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")
_JSON_TYPES = ("application/json",)
_SSE_TYPE = "text/event-stream"


class RedactionMetrics:
    """Thread-safe counters; values are never stored, only how many were redacted.

    ``redactions[category]``: entries redacted; ``responses``: filtered responses (JSON and
    streams); ``streamed_responses``: of which event streams; ``errors``: 502s, 503s and streams
    ended by an error event; ``unavailable``: 503s for a missing list; ``unfiltered``: responses
    on a filtered path passed through unfiltered (non-strict); ``disconnects``: clients gone
    before the response was complete.
    """

    _COUNTERS = ("responses", "streamed_responses", "errors", "unavailable", "unfiltered", "disconnects")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.redactions: Counter[str] = Counter()
        self.responses = 0
        self.streamed_responses = 0
        self.errors = 0
        self.unavailable = 0
        self.unfiltered = 0
        self.disconnects = 0

    def add_redactions(self, counts: Counter[str]) -> None:
        if counts:
            with self._lock:
                self.redactions.update(counts)

    def increment(self, counter: str, by: int = 1) -> None:
        if counter not in self._COUNTERS:
            raise ValueError(f"unknown counter {counter!r}")
        with self._lock:
            setattr(self, counter, getattr(self, counter) + by)

    def snapshot(self) -> dict:
        with self._lock:
            return {"redactions": dict(self.redactions), **{name: getattr(self, name) for name in self._COUNTERS}}


class Unfilterable(ValueError):
    """A response or event the filter cannot vouch for; ``code`` goes into the error object."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_object(message: str, code: str, type_: str = "server_error") -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


# --------------------------------------------------------------------------------------------
# JSON responses


def redact_message(redactor: Redactor, message: dict) -> Counter[str]:
    """Redact a chat ``message`` in place: its text fields, or the text of its content parts."""
    counts: Counter[str] = Counter()
    for field in MESSAGE_FIELDS:
        value = message.get(field)
        if value is None:
            continue
        if isinstance(value, str):
            message[field], found = redactor.redact_with_counts(value)
            counts.update(found)
        elif isinstance(value, list):
            for part in value:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    part["text"], found = redactor.redact_with_counts(part["text"])
                    counts.update(found)
                elif isinstance(part, str):
                    raise Unfilterable("unexpected_upstream_shape", f"message.{field} holds a bare string part")
        else:
            raise Unfilterable("unexpected_upstream_shape", f"message.{field} is neither text nor parts")
    return counts


def redact_completion(redactor: Redactor, body: bytes) -> tuple[bytes, Counter[str]]:
    """A whole (non-streamed) chat or text completion, redacted per choice, re-serialized."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise Unfilterable("unparsable_upstream_response",
                           "the upstream response is not valid UTF-8 JSON") from error
    if not isinstance(document, dict) or not isinstance(document.get("choices"), list):
        raise Unfilterable("unexpected_upstream_shape", "the upstream response is not a completion (no choices)")
    counts: Counter[str] = Counter()
    for choice in document["choices"]:
        if not isinstance(choice, dict):
            raise Unfilterable("unexpected_upstream_shape", "a choice is not an object")
        if choice.get("logprobs") is not None:
            choice["logprobs"] = None
        message = choice.get("message")
        if message is not None:
            if not isinstance(message, dict):
                raise Unfilterable("unexpected_upstream_shape", "a choice's message is not an object")
            counts.update(redact_message(redactor, message))
        text = choice.get("text")
        if text is not None:
            if not isinstance(text, str):
                raise Unfilterable("unexpected_upstream_shape", "a choice's text is not a string")
            choice["text"], found = redactor.redact_with_counts(text)
            counts.update(found)
    return orjson.dumps(document), counts


# --------------------------------------------------------------------------------------------
# event streams


class SSEFilter:
    """Filters an OpenAI-style ``text/event-stream`` body fed as arbitrary byte chunks.

    ``feed(bytes) -> str`` returns the events to forward now; ``end() -> str`` the rest when the
    body ends. Decisions:

    * Every ``data:`` event that is a completion chunk is forwarded, its text fields replaced by
      what the choice's ``Redactor.stream()`` releases, which may be ``""``: events are never
      dropped, so ``role``, ``finish_reason``, ``usage`` and the pacing still flow.
    * One stream per choice index and field (``delta.content``, ``delta.reasoning_content``, ...,
      or ``text``). When a choice carries a ``finish_reason``, its own text is fed first, then
      its streams are closed and what they held back is appended to the same event, so the
      concatenated text of a choice equals ``Redactor.redact(full_text)``.
    * At ``data: [DONE]``, or at a clean end of the body, streams still open are flushed into one
      synthetic chunk (``id``, ``object``, ``created``, ``model`` copied from the last chunk)
      before ``[DONE]``. Nothing is forwarded after ``[DONE]``; no ``[DONE]`` is invented when
      the upstream ended without one.
    * ``{"error": ...}`` events are forwarded with their message redacted.
    * Comments (keep-alives) are forwarded as a bare ``:``, without their text; ``event``/``id``
      lines are kept only when they are plain tokens, ``retry`` only when numeric.
    * Anything else (data that is not a JSON object, a chunk of the wrong shape, invalid UTF-8,
      an event or line over ``max_event_bytes``, a body that ends mid-event) ends the stream with
      an error event and ``[DONE]``; held-back text is dropped.
    """

    def __init__(self, redactor: Redactor, max_event_bytes: int = MAX_BODY_BYTES) -> None:
        self.redactor = redactor
        self.max_event_bytes = max_event_bytes
        self.counts: Counter[str] = Counter()  # redactions not yet taken by take_counts()
        self.finished = False
        self.error: str | None = None  # the code of the error that ended the stream
        self.saw_done = False
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._buffer = ""
        self._scan = 0
        self._data: list[str] = []
        self._data_size = 0
        self._fields: dict[str, str] = {}
        self._streams: dict[tuple[int, str, str], RedactionStream] = {}
        self._last: dict = {}

    @property
    def buffered(self) -> int:
        return len(self._buffer) + self._data_size

    def take_counts(self) -> Counter[str]:
        counts, self.counts = self.counts, Counter()
        return counts

    def feed(self, data: bytes) -> str:
        if self.finished:
            return ""
        out: list[str] = []
        try:
            self._lines(self._decode(data, final=False), out, final=False)
        except Unfilterable as error:
            out.append(self._fail(error))
        return "".join(out)

    def end(self) -> str:
        if self.finished:
            return ""
        out: list[str] = []
        try:
            self._lines(self._decode(b"", final=True), out, final=True)
            if not self.finished:
                if self._buffer or self._data or self._fields:
                    raise Unfilterable("truncated_upstream_stream", "the upstream stream ended in the middle of an event")
                out.append(self._flush_all())
                self.finished = True
        except Unfilterable as error:
            out.append(self._fail(error))
        return "".join(out)

    # -- parsing ---------------------------------------------------------------------------

    def _decode(self, data: bytes, final: bool) -> str:
        try:
            return self._decoder.decode(data, final)
        except UnicodeDecodeError as error:
            raise Unfilterable("invalid_upstream_encoding", "the upstream stream is not valid UTF-8") from error

    def _lines(self, text: str, out: list[str], final: bool) -> None:
        buffer, start, scan = self._buffer + text, 0, self._scan
        while not self.finished:
            match = _NEWLINE.search(buffer, scan)
            if match is None or (match.group() == "\r" and match.end() == len(buffer) and not final):
                break  # a trailing \r may be the first half of \r\n
            self._line(buffer[start:match.start()], out)
            start = scan = match.end()
        self._buffer = buffer[start:]
        self._scan = len(self._buffer) - self._buffer.endswith("\r")
        if len(self._buffer) + self._data_size > self.max_event_bytes:
            raise Unfilterable("upstream_event_too_large",
                               f"an upstream event exceeds {self.max_event_bytes} bytes")

    def _line(self, line: str, out: list[str]) -> None:
        if not line:
            out.append(self._dispatch())
        elif line.startswith(":"):
            out.append(":\n\n")
        else:
            name, colon, value = line.partition(":")
            if colon and value.startswith(" "):
                value = value[1:]
            if name == "data":
                self._data.append(value)
                self._data_size += len(value) + 1
                if self._data_size > self.max_event_bytes:
                    raise Unfilterable("upstream_event_too_large",
                                       f"an upstream event exceeds {self.max_event_bytes} bytes")
            elif name in ("event", "id", "retry"):
                self._fields[name] = value

    def _dispatch(self) -> str:
        data, fields = self._data, self._fields
        self._data, self._fields, self._data_size = [], {}, 0
        if not data:
            return ""
        prefix = "".join(f"{name}: {value}\n" for name, value in fields.items()
                         if (value.isdigit() if name == "retry" else _SAFE_FIELD.fullmatch(value)))
        payload = "\n".join(data)
        if payload.strip() == "[DONE]":
            flushed = self._flush_all()
            self.finished = self.saw_done = True
            return flushed + prefix + "data: [DONE]\n\n"
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError as error:
            raise Unfilterable("malformed_upstream_event", "an upstream event's data is not JSON") from error
        if not isinstance(event, dict):
            raise Unfilterable("malformed_upstream_event", "an upstream event's data is not a JSON object")
        if "choices" in event:
            self._chunk(event)
        elif "error" in event:
            self._upstream_error(event)
        else:
            raise Unfilterable("unexpected_upstream_shape", "an upstream event is neither a completion chunk nor an error")
        return prefix + "data: " + orjson.dumps(event).decode() + "\n\n"

    # -- redaction -------------------------------------------------------------------------

    def _chunk(self, event: dict) -> None:
        choices = event["choices"]
        if not isinstance(choices, list):
            raise Unfilterable("unexpected_upstream_shape", "an upstream chunk's choices is not a list")
        for position, choice in enumerate(choices):
            if not isinstance(choice, dict):
                raise Unfilterable("unexpected_upstream_shape", "an upstream choice is not an object")
            index = choice.get("index", position)
            if not isinstance(index, int) or isinstance(index, bool):
                raise Unfilterable("unexpected_upstream_shape", "an upstream choice's index is not an integer")
            if choice.get("logprobs") is not None:
                choice["logprobs"] = None
            delta = choice.get("delta")
            if delta is not None:
                if not isinstance(delta, dict):
                    raise Unfilterable("unexpected_upstream_shape", "an upstream choice's delta is not an object")
                for field in MESSAGE_FIELDS:
                    value = delta.get(field)
                    if value is None:
                        continue
                    if not isinstance(value, str):
                        raise Unfilterable("unexpected_upstream_shape", f"an upstream delta.{field} is not a string")
                    delta[field] = self._feed((index, "delta", field), value)
            message = choice.get("message")
            if message is not None:
                if not isinstance(message, dict):
                    raise Unfilterable("unexpected_upstream_shape", "an upstream choice's message is not an object")
                self.counts.update(redact_message(self.redactor, message))
            text = choice.get("text")
            if text is not None:
                if not isinstance(text, str):
                    raise Unfilterable("unexpected_upstream_shape", "an upstream choice's text is not a string")
                choice["text"] = self._feed((index, "text", "text"), text)
            if choice.get("finish_reason") is not None:
                self._close_choice(index, choice)
        self._last = {key: event[key] for key in _TEMPLATE_KEYS if key in event}

    def _upstream_error(self, event: dict) -> None:
        error = event["error"]
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            error["message"], found = self.redactor.redact_with_counts(error["message"])
            self.counts.update(found)
        elif isinstance(error, str):
            event["error"], found = self.redactor.redact_with_counts(error)
            self.counts.update(found)

    def _feed(self, key: tuple[int, str, str], text: str) -> str:
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = self.redactor.stream()
        before = Counter(stream.counts)
        released = stream.feed(text)
        self.counts.update(stream.counts - before)
        return released

    def _close(self, key: tuple[int, str, str]) -> str:
        stream = self._streams.pop(key)
        before = Counter(stream.counts)
        released = stream.close()
        self.counts.update(stream.counts - before)
        return released

    def _close_choice(self, index: int, choice: dict) -> None:
        for key in sorted(key for key in self._streams if key[0] == index):
            tail = self._close(key)
            if not tail:
                continue
            _, container, field = key
            if container == "delta":
                delta = choice.get("delta")
                if delta is None:
                    delta = choice["delta"] = {}
                delta[field] = (delta.get(field) or "") + tail
            else:
                choice["text"] = (choice.get("text") or "") + tail

    def _flush_all(self) -> str:
        choices: dict[tuple[int, str], dict] = {}
        for key in sorted(self._streams):
            tail = self._close(key)
            if not tail:
                continue
            index, container, field = key
            if container == "delta":
                choice = choices.setdefault((index, container), {"index": index, "delta": {}, "finish_reason": None})
                choice["delta"][field] = tail
            else:
                choices[(index, container)] = {"index": index, "text": tail, "logprobs": None, "finish_reason": None}
        if not choices:
            return ""
        chunk = dict(self._last)
        chunk.setdefault("object", "chat.completion.chunk" if any(container == "delta" for _, container in choices)
                         else "text_completion")
        chunk["choices"] = list(choices.values())
        return "data: " + orjson.dumps(chunk).decode() + "\n\n"

    def _fail(self, error: Unfilterable) -> str:
        self.finished = True
        self.error = error.code
        self._streams.clear()  # held-back text is dropped: the stream it belonged to is broken
        return ("data: " + orjson.dumps(error_object(error.message, error.code)).decode() + "\n\n"
                + "data: [DONE]\n\n")


# --------------------------------------------------------------------------------------------
# the middleware


class DeletionListMiddleware:
    """``app = DeletionListMiddleware(app, lambda: redactor)``; see the module docstring."""

    def __init__(self, app: Callable, redactor_provider: Callable[[], Redactor | None], *, strict: bool = False,
                 metrics: RedactionMetrics | None = None, paths: tuple[str, ...] = DEFAULT_PATHS,
                 version_provider: Callable[[], dict] | None = None, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.redactor_provider = redactor_provider
        self.strict = strict
        self.metrics = metrics if metrics is not None else RedactionMetrics()
        self.paths = frozenset(path.rstrip("/") or "/" for path in paths)
        self.version_provider = version_provider
        self.max_body = max_body

    def filters(self, path: str) -> bool:
        return (path.rstrip("/") or "/") in self.paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.filters(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        try:
            redactor = self.redactor_provider()
        except Exception as error:  # e.g. the refresher's ListUnavailable; the message is ours, not content
            logger.warning("deletion list unavailable: %s: %s", type(error).__name__, error)
            redactor = None
        if redactor is None:
            if self.strict:
                self.metrics.increment("unavailable")
                self.metrics.increment("errors")
                await send_json(send, 503, error_object("the deletion list is unavailable; no unfiltered output is "
                                                        "served", "deletion_list_unavailable", "service_unavailable"))
                return
            self.metrics.increment("unfiltered")
            await self.app(scope, receive, _adding_headers(send, [(b"x-deletion-list", b"none")]))
            return
        await _Exchange(self, redactor, scope, receive, send).run()

    def list_headers(self, redactor: Redactor) -> list[tuple[bytes, bytes]]:
        info: dict = {}
        listed = redactor.deletion_list
        if listed is not None:
            info = {"list_version": listed.version, "age_seconds": listed.age_seconds()}
        if self.version_provider is not None:
            try:
                info.update(self.version_provider() or {})
            except Exception as error:
                logger.warning("version_provider failed: %s: %s", type(error).__name__, error)
        headers = []
        if info.get("list_version") is not None:
            headers.append((b"x-deletion-list-version", str(info["list_version"]).encode("latin-1", "replace")))
        if info.get("age_seconds") is not None:
            headers.append((b"x-deletion-list-age", str(max(0, int(info["age_seconds"]))).encode()))
        return headers


class _Exchange:
    """One request on a filtered path: wraps the app's receive and send."""

    def __init__(self, middleware: DeletionListMiddleware, redactor: Redactor, scope: Scope, receive: Receive,
                 send: Send) -> None:
        self.middleware = middleware
        self.metrics = middleware.metrics
        self.redactor = redactor
        self.scope = dict(scope)
        self.scope["headers"] = [(name, value) for name, value in scope.get("headers", [])
                                 if name.lower() != b"accept-encoding"]
        self._receive = receive
        self._send = send
        self.extra_headers = middleware.list_headers(redactor)
        self.mode: str | None = None  # "pass", "json" or "sse" once the response starts
        self.start: Message | None = None
        self.body = bytearray()
        self.sse: SSEFilter | None = None
        self.started = False  # the response start went downstream
        self.closed = False  # the response is complete downstream: later sends are dropped
        self.client_gone = False
        self.stop = anyio.Event()  # set: the app's receive answers http.disconnect

    async def run(self) -> None:
        try:
            await self.middleware.app(self.scope, self.receive, self.send)
        except Exception as error:
            if self.client_gone:
                return
            if self.closed:
                logger.warning("the app failed after its filtered response was complete: %s", type(error).__name__)
                return
            if self.mode == "sse" and self.started:
                self.metrics.increment("errors")
                body = ("data: " + orjson.dumps(error_object("the upstream failed mid-stream", "upstream_failed"))
                        .decode() + "\n\ndata: [DONE]\n\n").encode()
                try:
                    await self.downstream({"type": "http.response.body", "body": body, "more_body": False})
                    self.closed = True
                except Exception:
                    return
            raise

    # -- the app's side ----------------------------------------------------------------------

    async def receive(self) -> Message:
        if self.stop.is_set():
            return {"type": "http.disconnect"}
        message: Message | None = None
        async with anyio.create_task_group() as group:
            async def pull() -> None:
                nonlocal message
                message = await self._receive()
                group.cancel_scope.cancel()

            async def stopped() -> None:
                await self.stop.wait()
                group.cancel_scope.cancel()

            group.start_soon(pull)
            group.start_soon(stopped)
        if message is None:
            return {"type": "http.disconnect"}
        if message["type"] == "http.disconnect" and not self.closed:
            self.gone()
        return message

    async def send(self, message: Message) -> None:
        if self.closed:
            return
        kind = message["type"]
        if kind == "http.response.start":
            await self.on_start(message)
        elif kind == "http.response.body":
            if self.mode == "json":
                await self.on_json_body(message)
            elif self.mode == "sse":
                await self.on_sse_body(message)
            else:
                await self.downstream(message)
                if not message.get("more_body", False):
                    self.closed = True
        else:
            await self.downstream(message)

    # -- the client's side -------------------------------------------------------------------

    def gone(self) -> None:
        if not self.client_gone:
            self.client_gone = True
            self.metrics.increment("disconnects")
        self.closed = True
        self.stop.set()

    async def downstream(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        try:
            await self._send(message)
        except Exception:
            self.gone()
            raise

    async def reject(self, status: int, code: str, message: str) -> None:
        """Answer an error instead of a response that cannot be filtered, and stop the app."""
        logger.warning("refusing an unfilterable upstream response on %s: %s", self.scope.get("path"), code)
        self.metrics.increment("errors")
        self.closed = True
        self.stop.set()
        await send_json(self.downstream, status, error_object(message, code), self.extra_headers)

    async def on_start(self, message: Message) -> None:
        status = int(message.get("status", 200))
        # this layer's x-deletion-list* headers replace an upstream's (a proxy in front of a filtering server)
        headers = [(bytes(name).lower(), bytes(value)) for name, value in message.get("headers", [])
                   if not bytes(name).lower().startswith(b"x-deletion-list")]
        if not 200 <= status < 300:
            self.mode = "pass"
            await self.downstream({**message, "headers": headers + self.extra_headers})
            return
        values = dict(headers)
        media_type = values.get(b"content-type", b"").split(b";")[0].strip().decode("latin-1").lower()
        encoding = values.get(b"content-encoding", b"identity").strip().lower()
        problem = None
        if encoding not in (b"", b"identity"):
            problem = "upstream_content_encoded", "the upstream response is content-encoded"
        elif media_type == _SSE_TYPE:
            self.mode = "sse"
            self.sse = SSEFilter(self.redactor, self.middleware.max_body)
            self.metrics.increment("responses")
            self.metrics.increment("streamed_responses")
            headers = [(name, value) for name, value in headers if name != b"content-length"]
            await self.downstream({**message, "headers": headers + self.extra_headers})
            return
        elif media_type in _JSON_TYPES or media_type.endswith("+json"):
            self.mode = "json"
            self.start = {**message, "headers": headers}
            return
        else:
            problem = "unsupported_upstream_content_type", f"the upstream answered {media_type or 'no content type'}"
        if self.middleware.strict:
            await self.reject(502, *problem)
            return
        logger.warning("passing an unfilterable response through unfiltered (non-strict): %s", problem[0])
        self.mode = "pass"
        self.metrics.increment("unfiltered")
        await self.downstream({**message, "headers": headers + [(b"x-deletion-list", b"none")]})

    async def on_json_body(self, message: Message) -> None:
        self.body += message.get("body", b"")
        if len(self.body) > self.middleware.max_body:
            self.body = bytearray()
            await self.reject(502, "upstream_response_too_large",
                              f"the upstream response exceeds {self.middleware.max_body} bytes")
            return
        if message.get("more_body", False):
            return
        body, self.body = bytes(self.body), bytearray()
        try:
            if len(body) > OFFLOAD_BYTES:
                redacted, counts = await anyio.to_thread.run_sync(redact_completion, self.redactor, body)
            else:
                redacted, counts = redact_completion(self.redactor, body)
        except Unfilterable as error:
            if self.middleware.strict:
                await self.reject(502, error.code, error.message)
                return
            logger.warning("passing an unfilterable response through unfiltered (non-strict): %s", error.code)
            self.metrics.increment("unfiltered")
            self.closed = True
            await self.downstream({**self.start, "headers": self.start["headers"] + [(b"x-deletion-list", b"none")]})
            await self.downstream({"type": "http.response.body", "body": body, "more_body": False})
            return
        self.metrics.add_redactions(counts)
        self.metrics.increment("responses")
        logger.debug("redacted %s in a JSON response", dict(counts))
        headers = [(name, value) for name, value in self.start["headers"] if name != b"content-length"]
        headers += [(b"content-length", str(len(redacted)).encode()), *self.extra_headers]
        self.closed = True
        await self.downstream({**self.start, "headers": headers})
        await self.downstream({"type": "http.response.body", "body": redacted, "more_body": False})

    async def on_sse_body(self, message: Message) -> None:
        chunk, more = message.get("body", b""), message.get("more_body", False)
        sse = self.sse

        def step() -> str:
            out = sse.feed(chunk)
            return out if more or sse.finished else out + sse.end()

        out = await anyio.to_thread.run_sync(step) if sse.buffered + len(chunk) > OFFLOAD_BYTES else step()
        counts = sse.take_counts()
        self.metrics.add_redactions(counts)
        if counts:
            logger.debug("redacted %s in a streamed response", dict(counts))
        if sse.finished:
            if sse.error is not None:
                logger.warning("ended a filtered stream on %s: %s", self.scope.get("path"), sse.error)
                self.metrics.increment("errors")
                self.stop.set()  # the app is told the client left, so it stops generating
            self.closed = True
            await self.downstream({"type": "http.response.body", "body": out.encode(), "more_body": False})
        elif out:
            await self.downstream({"type": "http.response.body", "body": out.encode(), "more_body": True})


async def send_json(send: Send, status: int, payload: dict, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = orjson.dumps(payload)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _adding_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


__all__ = [
    "DEFAULT_PATHS",
    "MAX_BODY_BYTES",
    "DeletionListMiddleware",
    "RedactionMetrics",
    "SSEFilter",
    "Unfilterable",
    "redact_completion",
]
