"""An ASGI middleware that redacts deletion-list entries from OpenAI-compatible responses.

``DeletionListMiddleware(app, redactor_provider)`` wraps any ASGI app (Starlette, FastAPI,
vLLM's server, ...). It is pure ASGI: streamed responses are filtered event by event, never
buffered whole. Per HTTP request it:

* normalizes the path once (``normalize_path``: RFC 3986 dot segments, percent-decoding of
  unreserved characters only, repeated and trailing slashes dropped), answers 400 for a path it
  refuses (an encoded ``/``, ``\\`` or control character, a malformed escape, characters outside
  RFC 3986), and hands the app the normalized path, so the app routes on what was decided on.
* decides once, on that path (``path_kind``): the allow-list ``PASS_THROUGH_PATHS`` (and
  ``/v1/models/{id}``) carries no generated text and passes untouched; everything else is
  filtered: chat completions, completions and the Responses API by their shapes, any other path
  (an app's own extra endpoints, a 404) generically. Strict mode so lets nothing unfiltered out,
  whatever the path. WebSocket connections are refused (they cannot be filtered).
* asks ``redactor_provider()`` for a ``Redactor`` once per request; the request keeps it even if
  the provider swaps to a newer list meanwhile. When the provider raises or returns None, strict
  mode answers 503 (``deletion_list_unavailable``) without calling the app; non-strict mode
  passes the response through unfiltered, marked ``x-deletion-list: none``.
* adds ``x-deletion-list-version`` and ``x-deletion-list-age`` (whole seconds since the release
  was built) from the redactor's list (none for a pattern-only redactor), or from
  ``version_provider()`` (keys ``list_version`` and ``age_seconds``) when given.
* redacts every string of a JSON body except the values of ``STRUCTURAL_KEYS`` (ids, types,
  roles, model names, opaque encrypted blobs): message content and every content part,
  ``reasoning_content``, ``reasoning``, ``refusal``, tool-call and legacy ``function_call``
  names and arguments, a text completion's ``text``, a Responses object's output text, refusals,
  function-call arguments, reasoning summaries and ``output_text``. ``logprobs`` become null (an
  empty list where the schema wants a list): their tokens would spell out what was redacted.
  Chat and text completions must have a ``choices`` list.
* ``application/json`` bodies are buffered (at most ``max_body`` bytes, else 502), parsed as
  UTF-8 JSON, redacted and re-serialized compactly with a corrected ``content-length``.
* ``text/event-stream`` bodies are parsed incrementally across arbitrary chunk boundaries; see
  ``SSEFilter`` for what is forwarded when.
* error responses (status outside 2xx) are filtered too: a JSON body is redacted as above; an
  empty body passes; any other body is replaced by a generic error object with the same status
  in strict mode, and passed through marked ``x-deletion-list: none`` otherwise.
* strips ``accept-encoding`` from the request it passes on, so the app answers uncompressed.
* counts redactions per category in ``RedactionMetrics``; logs carry counts, never text.

What cannot be filtered: a 2xx response that is neither JSON nor an event stream, is
content-encoded, or whose JSON does not parse (including non-UTF-8 bytes) or is not a completion
on a completion path (no ``choices`` list). Strict mode answers 502 instead; non-strict mode
passes it through unchanged, marked ``x-deletion-list: none`` (availability first, as when no
list is loaded). An event stream is different in both modes: once events have flowed there is no
status to change, so a malformed event (data that is not a JSON object, invalid UTF-8, a chunk of
the wrong shape, a stream cut off mid-event, an event over ``max_body`` bytes), an error event
from the upstream, or the app failing mid-stream ends the stream with ``data: {"error": {...}}``
and ``data: [DONE]``; the raw event is never forwarded, and text the redactor still held back for
that stream is dropped, never released.

``RequestBodyLimit(app, max_bytes)`` is the other guard both servers put in front: it answers
413 for a request body over the limit before the body is read whole.
"""

from __future__ import annotations

import codecs
import logging
import re
import string
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote, unquote

import anyio
import anyio.to_thread
import orjson

from apertus_compliance.errors import ApertusError
from apertus_compliance.filters.redactor import RedactionStream, Redactor

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

FILTERED_PATHS: dict[str, str] = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completions",
    "/v1/responses": "responses",
}
"""The text-bearing OpenAI endpoints, by normalized path; ``/v1/responses/{id}[/...]`` counts as ``responses``."""
PASS_THROUGH_PATHS = ("/v1/models", "/healthz", "/metrics", "/admin/reload")
"""Endpoints that carry no generated text, passed unfiltered (``/v1/models/{id}`` too); the allow-list."""
DEFAULT_PATHS = tuple(FILTERED_PATHS)
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_REQUEST_BYTES = 4 * 1024 * 1024
"""Default limit on a request body (``RequestBodyLimit``, ``--max-request-bytes``)."""
MESSAGE_FIELDS = ("content", "reasoning_content", "reasoning", "refusal")
"""Generated text in a chat ``message`` or ``delta``."""
STRUCTURAL_KEYS = frozenset(
    {
        "id",
        "object",
        "type",
        "role",
        "model",
        "status",
        "item_id",
        "call_id",
        "tool_call_id",
        "previous_response_id",
        "system_fingerprint",
        "finish_reason",
        "service_tier",
        "encrypted_content",
        "obfuscation",
    }
)
"""Keys whose string values are set by the server, not generated, and are never redacted (a pattern must not
corrupt an id). Every other string in a filtered body is redacted."""
OFFLOAD_BYTES = 64 * 1024
"""Bodies (or one event's buffered data) above this are redacted in a worker thread, so a large
generation does not stall the event loop for the other requests."""

_TEMPLATE_KEYS = ("id", "object", "created", "model", "system_fingerprint")
_NEWLINE = re.compile(r"\r\n|\r|\n")
_SAFE_FIELD = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")
_JSON_TYPES = ("application/json",)
_SSE_TYPE = "text/event-stream"
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*")
"""RFC 3986 ``path-absolute`` characters: pchar and ``/``."""
_ESCAPE = re.compile(r"%(.{0,2})", re.DOTALL)
_CONTAINER_DONE = frozenset(
    {"response.content_part.done", "response.output_item.done", "response.reasoning_summary_part.done"}
)
"""Responses events that end every text stream inside them, whatever its kind."""
_TERMINAL_TYPES = frozenset({"response.completed", "response.failed", "response.incomplete"})
_BINARY_DELTAS = frozenset({"response.audio.delta"})
"""Deltas that are not text (base64 audio): forwarded as they are."""


# --------------------------------------------------------------------------------------------
# paths: one normalization, one decision, for the middleware and the proxy


class InvalidPath(ApertusError, ValueError):
    """A request path the servers refuse (400) rather than guess how an upstream would read it."""


def normalize_path(raw: str | bytes) -> str:
    """The one form of a request path that is decided on, routed on and forwarded.

    ``raw`` is the path as sent (ASGI ``raw_path``, without the query). Percent-escapes of
    unreserved characters are decoded (``%2E`` -> ``.``), other escapes upper-cased; ``.`` and
    ``..`` segments are resolved (RFC 3986 remove_dot_segments), and empty segments (repeated or
    trailing slashes) dropped. Raises ``InvalidPath`` for an encoded ``\\`` or control character, a
    malformed escape, a character outside RFC 3986 paths, or an encoded ``/`` (servers read it
    differently) except inside a model id (``/v1/models/swiss-ai%2FApertus-8B``, as the openai client
    sends it) whose parts are neither empty nor dot segments.
    """
    if isinstance(raw, bytes):
        raw = raw.decode("latin-1")
    if not _PATH.fullmatch(raw):
        raise InvalidPath("the request path must be an absolute path of RFC 3986 characters")

    def decode(match: re.Match) -> str:
        digits = match.group(1)
        if len(digits) != 2 or not all(char in string.hexdigits for char in digits):
            raise InvalidPath("the request path holds a malformed percent-escape")
        char = chr(int(digits, 16))
        if char in _UNRESERVED:
            return char
        if char == "\\" or ord(char) < 0x20 or ord(char) == 0x7F:
            raise InvalidPath(f"the request path holds an encoded {char!r}, which servers read differently")
        return "%" + digits.upper()

    segments: list[str] = []
    for segment in _ESCAPE.sub(decode, raw).split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    path = "/" + "/".join(segments)
    if "%2F" in path:
        model = path.removeprefix("/v1/models/")
        if model == path or any(part in ("", ".", "..") for part in re.split("/|%2F", model)):
            raise InvalidPath("the request path holds an encoded '/', which servers read differently")
    return path


def path_kind(path: str) -> str:
    """What a normalized path is: ``chat``, ``completions`` or ``responses`` (filtered by shape), ``pass``
    (the allow-list: no generated text), or ``other`` (filtered generically here; 404 in the proxy)."""
    kind = FILTERED_PATHS.get(path)
    if kind is not None:
        return kind
    if path.startswith("/v1/responses/"):
        return "responses"
    if path in PASS_THROUGH_PATHS or path.startswith("/v1/models/"):
        return "pass"
    return "other"


def scope_path(scope: Scope) -> str:
    """``normalize_path`` of an ASGI scope's path (its ``raw_path`` when the server gives one)."""
    raw = scope.get("raw_path")
    if not raw:
        raw = quote(scope.get("path", ""), safe="/!$&'()*+,;=:@")
    return normalize_path(raw)


class RedactionMetrics:
    """Thread-safe counters; values are never stored, only how many were redacted.

    ``redactions[category]``: entries redacted; ``responses``: filtered responses (JSON and
    streams); ``streamed_responses``: of which event streams; ``errors``: 502s, 503s, replaced
    error bodies and streams ended by an error event; ``unavailable``: 503s for a missing list;
    ``unfiltered``: responses on a filtered path passed through unfiltered (non-strict);
    ``disconnects``: clients gone before the response was complete.
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


class Unfilterable(ApertusError, ValueError):
    """A response or event the filter cannot vouch for; ``code`` goes into the error object."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_object(message: str, code: str, type_: str = "server_error") -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


# --------------------------------------------------------------------------------------------
# JSON


class _Walker:
    """Redacts every string in a JSON document in place, except the values of ``STRUCTURAL_KEYS``;
    ``logprobs`` emptied. Iterative (a hostile document may nest 1,000 levels deep). Equal strings
    are redacted, and counted into ``counts`` (when given), once per walker."""

    def __init__(self, redactor: Redactor, counts: Counter[str] | None) -> None:
        self.redactor = redactor
        self.counts = counts
        self._done: dict[str, str] = {}

    def text(self, value: str) -> str:
        done = self._done.get(value)
        if done is None:
            done, found = self.redactor.redact_with_counts(value)
            self._done[value] = done
            if self.counts is not None:
                self.counts.update(found)
        return done

    def walk(self, document: Any, skip: frozenset[str] | set[str] = frozenset()) -> Any:
        """``document`` redacted (in place where it is a container); ``skip``: keys of the top object left alone."""
        if isinstance(document, str):
            return self.text(document)
        stack: list[tuple[Any, frozenset[str] | set[str]]] = [(document, skip)]
        while stack:
            node, ignore = stack.pop()
            if isinstance(node, dict):
                for key, value in node.items():
                    if key in ignore:
                        continue
                    if key == "logprobs" and value is not None:
                        node[key] = [] if isinstance(value, list) else None
                    elif isinstance(value, str):
                        if key not in STRUCTURAL_KEYS:
                            node[key] = self.text(value)
                    elif isinstance(value, (dict, list)):
                        stack.append((value, frozenset()))
            elif isinstance(node, list):
                for position, value in enumerate(node):
                    if isinstance(value, str):
                        node[position] = self.text(value)
                    elif isinstance(value, (dict, list)):
                        stack.append((value, frozenset()))
        return document


def redact_document(redactor: Redactor, document: Any, kind: str = "other", counts: Counter[str] | None = None) -> Any:
    """A parsed JSON body redacted in place (see ``_Walker``). ``kind`` ``chat`` or ``completions``: it
    must be a completion (a ``choices`` list of objects), else ``Unfilterable``."""
    if kind in ("chat", "completions"):
        if not isinstance(document, dict) or not isinstance(document.get("choices"), list):
            raise Unfilterable("unexpected_upstream_shape", "the upstream response is not a completion (no choices)")
        for choice in document["choices"]:
            if not isinstance(choice, dict):
                raise Unfilterable("unexpected_upstream_shape", "a choice is not an object")
            message = choice.get("message")
            if message is not None and not isinstance(message, dict):
                raise Unfilterable("unexpected_upstream_shape", "a choice's message is not an object")
            if choice.get("text") is not None and not isinstance(choice["text"], str):
                raise Unfilterable("unexpected_upstream_shape", "a choice's text is not a string")
    return _Walker(redactor, counts).walk(document)


def redact_json(redactor: Redactor, body: bytes, kind: str = "other") -> tuple[bytes, Counter[str]]:
    """A whole JSON body (a completion, a Responses object, an error, ...) redacted and re-serialized."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise Unfilterable("unparsable_upstream_response", "the upstream response is not valid UTF-8 JSON") from error
    counts: Counter[str] = Counter()
    document = redact_document(redactor, document, kind, counts)
    return orjson.dumps(document), counts


def redact_completion(redactor: Redactor, body: bytes) -> tuple[bytes, Counter[str]]:
    """A whole (non-streamed) chat or text completion, redacted, re-serialized."""
    return redact_json(redactor, body, "chat")


# --------------------------------------------------------------------------------------------
# event streams


def _data(event: dict) -> str:
    return "data: " + orjson.dumps(event).decode() + "\n\n"


class SSEFilter:
    """Filters an OpenAI-style ``text/event-stream`` body fed as arbitrary byte chunks.

    ``feed(bytes) -> str`` returns the events to forward now; ``end() -> str`` the rest when the
    body ends; ``abort(code, message) -> str`` ends it now because the upstream failed. Decisions:

    * Chat and text completion chunks: every ``data:`` event is forwarded, its generated text
      replaced by what a ``Redactor.stream()`` releases, which may be ``""``: events are never
      dropped, so ``role``, ``finish_reason``, ``usage`` and the pacing still flow. One stream per
      choice index and field: ``delta.content``, ``delta.reasoning_content``, ``delta.reasoning``,
      ``delta.refusal``, each tool call's ``function.arguments`` (by the tool call's ``index``),
      a legacy ``delta.function_call.arguments``, or ``text``. Every other string of a chunk
      (a tool call's name, a whole ``message``) is redacted whole. When a choice carries a
      ``finish_reason``, its own text is fed first, then its streams are closed and what they
      held back is appended to the same event, so the concatenated text of each field equals
      ``Redactor.redact(full_text)``.
    * Responses API events (``{"type": "response...."}``): a ``*.delta`` event's ``delta`` goes
      through a stream per event family and position (``item_id`` and the ``*_index`` fields):
      output text, refusals, function-call arguments, reasoning text and summaries, custom tool
      input, ... A matching ``*.done`` event (or ``content_part.done`` / ``output_item.done``
      around it, or ``response.completed`` / ``.failed`` / ``.incomplete``) closes the stream; what
      it held back goes out first as a synthetic ``*.delta`` event (same positions, the closing
      event's ``sequence_number``). Every other event (``response.created``, ``.completed``
      carrying the full response, ``output_item.*``, ``content_part.*``, ``*.done`` with the full
      text) is redacted whole; only the streams' redactions are counted, not these repeats.
    * At ``data: [DONE]``, or at a clean end of the body, streams still open are flushed into one
      synthetic chunk (``id``, ``object``, ``created``, ``model`` copied from the last chunk) or
      synthetic ``*.delta`` events before ``[DONE]``. Nothing is forwarded after ``[DONE]``; no
      ``[DONE]`` is invented when the upstream ended cleanly without one.
    * An error event from the upstream (``{"error": ...}`` or ``{"type": "error", ...}``) is
      forwarded redacted, followed by ``[DONE]``, and ends the stream: text held back is dropped.
    * Comments (keep-alives) are forwarded as a bare ``:``, without their text; ``event``/``id``
      lines are kept only when they are plain tokens, ``retry`` only when numeric.
    * Anything else (data that is not a JSON object, a chunk of the wrong shape, invalid UTF-8,
      an event or line over ``max_event_bytes``, a body that ends mid-event), and ``abort``, end
      the stream with an error event and ``[DONE]``; held-back text is dropped.
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
        self._streams: dict[tuple[int, str, int, str], RedactionStream] = {}
        self._typed: dict[tuple, tuple[str, dict, RedactionStream]] = {}
        self._last: dict = {}
        self._sequence: Any = None
        self._named_events = False  # the upstream names its events (``event:`` lines)

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
                    raise Unfilterable(
                        "truncated_upstream_stream", "the upstream stream ended in the middle of an event"
                    )
                out.append(self._flush_all())
                self.finished = True
        except Unfilterable as error:
            out.append(self._fail(error))
        return "".join(out)

    def abort(self, code: str, message: str) -> str:
        """End the stream now (the upstream failed): an error event and ``[DONE]``; held-back text is dropped."""
        if self.finished:
            return ""
        return self._fail(Unfilterable(code, message))

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
            self._line(buffer[start : match.start()], out)
            start = scan = match.end()
        self._buffer = buffer[start:]
        self._scan = len(self._buffer) - self._buffer.endswith("\r")
        if len(self._buffer) + self._data_size > self.max_event_bytes:
            raise Unfilterable("upstream_event_too_large", f"an upstream event exceeds {self.max_event_bytes} bytes")

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
                    raise Unfilterable(
                        "upstream_event_too_large", f"an upstream event exceeds {self.max_event_bytes} bytes"
                    )
            elif name in ("event", "id", "retry"):
                self._fields[name] = value

    def _dispatch(self) -> str:
        data, fields = self._data, self._fields
        self._data, self._fields, self._data_size = [], {}, 0
        if not data:
            return ""
        prefix = "".join(
            f"{name}: {value}\n"
            for name, value in fields.items()
            if (value.isdigit() if name == "retry" else _SAFE_FIELD.fullmatch(value))
        )
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
        kind = event.get("type")
        if "choices" in event:
            self._chunk(event)
            return prefix + _data(event)
        if kind == "error" or (kind is None and event.get("error") is not None):
            return self._upstream_error(event, prefix)
        if isinstance(kind, str):
            self._named_events = self._named_events or "event" in fields
            return self._typed_event(event, prefix)
        raise Unfilterable(
            "unexpected_upstream_shape",
            "an upstream event is neither a completion chunk, a Responses event nor an error",
        )

    # -- chat and text completion chunks -----------------------------------------------------

    def _chunk(self, event: dict) -> None:
        choices = event["choices"]
        if not isinstance(choices, list):
            raise Unfilterable("unexpected_upstream_shape", "an upstream chunk's choices is not a list")
        walker = _Walker(self.redactor, self.counts)
        for position, choice in enumerate(choices):
            if not isinstance(choice, dict):
                raise Unfilterable("unexpected_upstream_shape", "an upstream choice is not an object")
            index = choice.get("index", position)
            if not isinstance(index, int) or isinstance(index, bool):
                raise Unfilterable("unexpected_upstream_shape", "an upstream choice's index is not an integer")
            delta = choice.get("delta")
            if delta is not None:
                if not isinstance(delta, dict):
                    raise Unfilterable("unexpected_upstream_shape", "an upstream choice's delta is not an object")
                self._delta(index, delta, walker)
            message = choice.get("message")
            if message is not None and not isinstance(message, dict):
                raise Unfilterable("unexpected_upstream_shape", "an upstream choice's message is not an object")
            text = choice.get("text")
            if text is not None:
                if not isinstance(text, str):
                    raise Unfilterable("unexpected_upstream_shape", "an upstream choice's text is not a string")
                choice["text"] = self._feed((index, "text", 0, "text"), text)
            walker.walk(choice, skip={"delta", "text"})  # a whole message, logprobs, any other text
            if choice.get("finish_reason") is not None:
                self._close_choice(index, choice)
        walker.walk(event, skip={"choices"})
        self._last = {key: event[key] for key in _TEMPLATE_KEYS if key in event}

    def _delta(self, index: int, delta: dict, walker: _Walker) -> None:
        for field in MESSAGE_FIELDS:
            value = delta.get(field)
            if value is None:
                continue
            if not isinstance(value, str):
                raise Unfilterable("unexpected_upstream_shape", f"an upstream delta.{field} is not a string")
            delta[field] = self._feed((index, "delta", 0, field), value)
        calls = delta.get("tool_calls")
        if calls is not None:
            if not isinstance(calls, list):
                raise Unfilterable("unexpected_upstream_shape", "an upstream delta.tool_calls is not a list")
            for position, call in enumerate(calls):
                if not isinstance(call, dict):
                    raise Unfilterable("unexpected_upstream_shape", "an upstream tool call is not an object")
                call_index = call.get("index", position)
                if not isinstance(call_index, int) or isinstance(call_index, bool):
                    raise Unfilterable("unexpected_upstream_shape", "an upstream tool call's index is not an integer")
                self._function(call.get("function"), (index, "tool_calls", call_index, "arguments"), walker)
                walker.walk(call, skip={"function"})
        self._function(delta.get("function_call"), (index, "function_call", 0, "arguments"), walker)
        walker.walk(delta, skip={*MESSAGE_FIELDS, "tool_calls", "function_call"})

    def _function(self, function: Any, key: tuple[int, str, int, str], walker: _Walker) -> None:
        """A streamed ``function`` object: its ``arguments`` through a stream, its name and the rest whole."""
        if function is None:
            return
        if not isinstance(function, dict):
            raise Unfilterable("unexpected_upstream_shape", "an upstream function call is not an object")
        arguments = function.get("arguments")
        if arguments is not None:
            if not isinstance(arguments, str):
                raise Unfilterable(
                    "unexpected_upstream_shape", "an upstream function call's arguments are not a string"
                )
            function["arguments"] = self._feed(key, arguments)
        walker.walk(function, skip={"arguments"})

    def _upstream_error(self, event: dict, prefix: str) -> str:
        _Walker(self.redactor, self.counts).walk(event)
        self.finished = True
        self.error = "upstream_error"
        self._streams.clear()  # held-back text is dropped: the stream it belonged to is broken
        self._typed.clear()
        return prefix + _data(event) + "data: [DONE]\n\n"

    def _feed(self, key: tuple[int, str, int, str], text: str) -> str:
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = self.redactor.stream()
        return self._counted(stream, stream.feed, text)

    def _counted(self, stream: RedactionStream, step: Callable, *arguments: str) -> str:
        before = Counter(stream.counts)
        released = step(*arguments)
        self.counts.update(stream.counts - before)
        return released

    def _close(self, key: tuple[int, str, int, str]) -> str:
        stream = self._streams.pop(key)
        return self._counted(stream, stream.close)

    def _close_choice(self, index: int, choice: dict) -> None:
        for key in sorted(key for key in self._streams if key[0] == index):
            tail = self._close(key)
            if tail:
                _attach(choice, key, tail)

    # -- Responses API events ------------------------------------------------------------------

    def _typed_event(self, event: dict, prefix: str) -> str:
        kind = event["type"]
        self._sequence = event.get("sequence_number", self._sequence)
        if kind.endswith(".delta") and isinstance(event.get("delta"), str):
            if kind in _BINARY_DELTAS:
                return prefix + _data(event)
            family, where = kind[: -len(".delta")], _position(event)
            key = (family, tuple(sorted(where.items())))
            entry = self._typed.get(key)
            if entry is None:
                entry = self._typed[key] = (family, where, self.redactor.stream())
            event["delta"] = self._counted(entry[2], entry[2].feed, event["delta"])
            _Walker(self.redactor, None).walk(event, skip={"delta"})
            return prefix + _data(event)
        tails = ""
        if kind in _TERMINAL_TYPES:
            tails = self._close_typed(None, {})
        elif kind in _CONTAINER_DONE:
            tails = self._close_typed(None, _position(event))
        elif kind.endswith(".done"):
            tails = self._close_typed(kind[: -len(".done")], _position(event))
        _Walker(self.redactor, None).walk(event)
        return tails + prefix + _data(event)

    def _close_typed(self, family: str | None, where: dict) -> str:
        """Close the open streams of ``family`` (any when None) at ``where``; their tails as synthetic deltas."""
        out = []
        for key in sorted(self._typed, key=repr):
            stream_family, position, stream = self._typed[key]
            if (family is not None and stream_family != family) or any(
                position.get(name) != value for name, value in where.items()
            ):
                continue
            del self._typed[key]
            tail = self._counted(stream, stream.close)
            if not tail:
                continue
            synthetic = {"type": f"{stream_family}.delta", **position, "delta": tail}
            if stream_family == "response.output_text":
                synthetic["logprobs"] = []
            if self._sequence is not None:
                synthetic["sequence_number"] = self._sequence
            out.append((f"event: {stream_family}.delta\n" if self._named_events else "") + _data(synthetic))
        return "".join(out)

    # -- ends --------------------------------------------------------------------------------

    def _flush_all(self) -> str:
        choices: dict[int, dict] = {}
        for key in sorted(self._streams):
            tail = self._close(key)
            if not tail:
                continue
            index, container = key[0], key[1]
            if index not in choices:
                choices[index] = (
                    {"index": index, "text": "", "logprobs": None, "finish_reason": None}
                    if container == "text"
                    else {"index": index, "delta": {}, "finish_reason": None}
                )
            _attach(choices[index], key, tail)
        out = ""
        if choices:
            chunk = dict(self._last)
            chunk.setdefault(
                "object",
                "text_completion" if all("text" in choice for choice in choices.values()) else "chat.completion.chunk",
            )
            chunk["choices"] = list(choices.values())
            out = _data(chunk)
        return out + self._close_typed(None, {})

    def _fail(self, error: Unfilterable) -> str:
        self.finished = True
        self.error = error.code
        self._streams.clear()  # held-back text is dropped: the stream it belonged to is broken
        self._typed.clear()
        return _data(error_object(error.message, error.code)) + "data: [DONE]\n\n"


def _position(event: dict) -> dict:
    """Where a Responses event sits: its ``item_id`` and ``*_index`` fields (strings and integers only)."""
    where = {}
    for name, value in event.items():
        if name == "item_id" or (name.endswith("_index") and name != "annotation_index"):
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                raise Unfilterable("unexpected_upstream_shape", f"an upstream event's {name} is not an id or index")
            where[name] = value
    return where


def _attach(choice: dict, key: tuple[int, str, int, str], tail: str) -> None:
    """Append a closed stream's held-back ``tail`` to the field of ``choice`` it belongs to."""
    _, container, sub_index, field = key
    if container == "text":
        choice["text"] = (choice.get("text") or "") + tail
        return
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        delta = choice["delta"] = {}
    if container == "delta":
        delta[field] = (delta.get(field) or "") + tail
        return
    if container == "function_call":
        function = delta.get("function_call")
        if not isinstance(function, dict):
            function = delta["function_call"] = {}
    else:
        calls = delta.get("tool_calls")
        if not isinstance(calls, list):
            calls = delta["tool_calls"] = []
        call = next(
            (
                call
                for position, call in enumerate(calls)
                if isinstance(call, dict) and call.get("index", position) == sub_index
            ),
            None,
        )
        if call is None:
            call = {"index": sub_index, "function": {}}
            calls.append(call)
        function = call.get("function")
        if not isinstance(function, dict):
            function = call["function"] = {}
    function["arguments"] = (function.get("arguments") or "") + tail


# --------------------------------------------------------------------------------------------
# the middleware


class DeletionListMiddleware:
    """``app = DeletionListMiddleware(app, lambda: redactor)``; see the module docstring."""

    def __init__(
        self,
        app: Callable,
        redactor_provider: Callable[[], Redactor | None],
        *,
        strict: bool = False,
        metrics: RedactionMetrics | None = None,
        version_provider: Callable[[], dict] | None = None,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.redactor_provider = redactor_provider
        self.strict = strict
        self.metrics = metrics if metrics is not None else RedactionMetrics()
        self.version_provider = version_provider
        self.max_body = max_body

    def filters(self, path: str) -> bool:
        """Whether responses on ``path`` (as sent) are filtered: all but the allow-list (and refused paths)."""
        try:
            return path_kind(normalize_path(path)) != "pass"
        except InvalidPath:
            return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await _refuse_websocket(receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            path = scope_path(scope)
        except InvalidPath as error:
            await send_json(send, 400, error_object(str(error), "invalid_path", "invalid_request_error"))
            return
        scope = {**scope, "path": unquote(path), "raw_path": path.encode("ascii")}
        kind = path_kind(path)
        if kind == "pass":
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
                await send_json(
                    send,
                    503,
                    error_object(
                        "the deletion list is unavailable; no unfiltered output is served",
                        "deletion_list_unavailable",
                        "service_unavailable",
                    ),
                )
                return
            self.metrics.increment("unfiltered")
            await self.app(scope, receive, _adding_headers(send, [(b"x-deletion-list", b"none")]))
            return
        await _Exchange(self, redactor, kind, scope, receive, send).run()

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

    def __init__(
        self,
        middleware: DeletionListMiddleware,
        redactor: Redactor,
        kind: str,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        self.middleware = middleware
        self.metrics = middleware.metrics
        self.redactor = redactor
        self.kind = kind
        self.scope = dict(scope)
        self.scope["headers"] = [
            (name, value) for name, value in scope.get("headers", []) if name.lower() != b"accept-encoding"
        ]
        self._receive = receive
        self._send = send
        self.extra_headers = middleware.list_headers(redactor)
        self.mode: str | None = None  # "pass", "json", "error" or "sse" once the response starts
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
                logger.warning(
                    "ended a filtered stream on %s: the app failed: %s", self.scope.get("path"), type(error).__name__
                )
                body = self.sse.abort("upstream_failed", "the upstream failed mid-stream").encode()
                try:
                    self.closed = True
                    await self.downstream({"type": "http.response.body", "body": body, "more_body": False})
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
            elif self.mode == "error":
                await self.on_error_body(message)
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

    async def pass_unfiltered(self, body: bytes, problem: str) -> None:
        """Non-strict: the buffered response as it came, marked ``x-deletion-list: none``."""
        logger.warning("passing an unfilterable response through unfiltered (non-strict): %s", problem)
        self.metrics.increment("unfiltered")
        self.closed = True
        await self.downstream({**self.start, "headers": self.start["headers"] + [(b"x-deletion-list", b"none")]})
        await self.downstream({"type": "http.response.body", "body": body, "more_body": False})

    async def on_start(self, message: Message) -> None:
        status = int(message.get("status", 200))
        # this layer's x-deletion-list* headers replace an upstream's (a proxy in front of a filtering server)
        headers = [
            (bytes(name).lower(), bytes(value))
            for name, value in message.get("headers", [])
            if not bytes(name).lower().startswith(b"x-deletion-list")
        ]
        if not 200 <= status < 300:
            self.mode = "error"
            self.start = {**message, "headers": headers}
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

    async def buffered(self, message: Message) -> bytes | None:
        """The whole body once its last part came (None before); a body over ``max_body`` is refused."""
        self.body += message.get("body", b"")
        if len(self.body) > self.middleware.max_body:
            self.body = bytearray()
            await self.reject(
                502, "upstream_response_too_large", f"the upstream response exceeds {self.middleware.max_body} bytes"
            )
            return None
        if message.get("more_body", False):
            return None
        body, self.body = bytes(self.body), bytearray()
        return body

    async def redacted(self, body: bytes, kind: str) -> tuple[bytes, Counter[str]]:
        if len(body) > OFFLOAD_BYTES:
            return await anyio.to_thread.run_sync(redact_json, self.redactor, body, kind)
        return redact_json(self.redactor, body, kind)

    async def send_redacted(self, redacted: bytes, counts: Counter[str], headers: list | None = None) -> None:
        self.metrics.add_redactions(counts)
        logger.debug("redacted %s in a JSON response", dict(counts))
        headers = [
            (name, value)
            for name, value in (self.start["headers"] if headers is None else headers)
            if name != b"content-length"
        ]
        headers += [(b"content-length", str(len(redacted)).encode()), *self.extra_headers]
        self.closed = True
        await self.downstream({**self.start, "headers": headers})
        await self.downstream({"type": "http.response.body", "body": redacted, "more_body": False})

    async def on_json_body(self, message: Message) -> None:
        body = await self.buffered(message)
        if body is None:
            return
        try:
            redacted, counts = await self.redacted(body, self.kind)
        except Unfilterable as error:
            if self.middleware.strict:
                await self.reject(502, error.code, error.message)
            else:
                await self.pass_unfiltered(body, error.code)
            return
        self.metrics.increment("responses")
        await self.send_redacted(redacted, counts)

    async def on_error_body(self, message: Message) -> None:
        """A response outside 2xx: its JSON redacted whatever its shape; any other body replaced (strict)."""
        body = await self.buffered(message)
        if body is None:
            return
        values = dict(self.start["headers"])
        encoded = values.get(b"content-encoding", b"identity").strip().lower() not in (b"", b"identity")
        if not body.strip() and not encoded:
            await self.send_redacted(body, Counter())
            return
        try:
            if encoded:
                raise Unfilterable("upstream_content_encoded", "the upstream error is content-encoded")
            redacted, counts = await self.redacted(body, "other")
        except Unfilterable as error:
            if not self.middleware.strict:
                await self.pass_unfiltered(body, error.code)
                return
            status = int(self.start.get("status", 500))
            logger.warning(
                "replacing an unfilterable HTTP %s body on %s: %s", status, self.scope.get("path"), error.code
            )
            self.metrics.increment("errors")
            replaced = orjson.dumps(
                error_object(
                    f"the upstream answered HTTP {status} with a body that cannot be filtered",
                    "unfilterable_upstream_error",
                )
            )
            headers = [
                (name, value)
                for name, value in self.start["headers"]
                if name not in (b"content-type", b"content-encoding")
            ]
            await self.send_redacted(replaced, Counter(), headers + [(b"content-type", b"application/json")])
            return
        await self.send_redacted(redacted, counts)

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


# --------------------------------------------------------------------------------------------
# request bodies


class RequestBodyLimit:
    """``RequestBodyLimit(app, max_bytes)``: 413 for a request body over ``max_bytes``, before it is read whole.

    A ``content-length`` over the limit is answered at once, without calling the app; a body sent
    without one (chunked) is counted as the app reads it, and the moment it passes the limit the
    client gets the 413 and the app a disconnect (its later sends are dropped).
    """

    def __init__(self, app: Callable, max_bytes: int = MAX_REQUEST_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> dict:
        return error_object(
            f"the request body exceeds {self.max_bytes} bytes", "request_too_large", "invalid_request_error"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lengths = [value for name, value in scope.get("headers", []) if name.lower() == b"content-length"]
        if lengths:
            if len(set(lengths)) > 1 or not lengths[0].strip().isdigit():
                await send_json(
                    send,
                    400,
                    error_object(
                        "the request has an invalid content-length", "invalid_content_length", "invalid_request_error"
                    ),
                    [(b"connection", b"close")],
                )
                return
            if int(lengths[0]) > self.max_bytes:
                logger.warning("refused a request body of %s bytes (limit %s)", int(lengths[0]), self.max_bytes)
                await send_json(send, 413, self._too_large(), [(b"connection", b"close")])
                return
        received, refused, started = 0, False, False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    logger.warning("refused a streamed request body over %s bytes", self.max_bytes)
                    if not started:
                        await send_json(send, 413, self._too_large(), [(b"connection", b"close")])
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused and not started:
                return  # the client has its 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if refused:
                return  # the app failed on the disconnect it was handed
            raise


async def send_json(send: Send, status: int, payload: dict, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = orjson.dumps(payload)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _refuse_websocket(receive: Receive, send: Send) -> None:
    """A WebSocket cannot be filtered: refused at the handshake (the server answers 403)."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})


def _adding_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


__all__ = [
    "DEFAULT_PATHS",
    "FILTERED_PATHS",
    "MAX_BODY_BYTES",
    "MAX_REQUEST_BYTES",
    "PASS_THROUGH_PATHS",
    "STRUCTURAL_KEYS",
    "DeletionListMiddleware",
    "InvalidPath",
    "RedactionMetrics",
    "RequestBodyLimit",
    "SSEFilter",
    "Unfilterable",
    "error_object",
    "normalize_path",
    "path_kind",
    "redact_completion",
    "redact_document",
    "redact_json",
    "scope_path",
    "send_json",
]
