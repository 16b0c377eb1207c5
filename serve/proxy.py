"""The deletion-list filter in front of any OpenAI-compatible server (vLLM, TGI, llama.cpp, ...).

``build_proxy("http://127.0.0.1:8001/v1", output_filter)`` forwards requests to the upstream's
base URL (the one an OpenAI client would take), streaming responses with httpx, through the same
filter middleware as the bundled engine. ``/healthz``, ``/metrics`` and ``/admin/reload`` are the
proxy's own.

What is forwarded: the middleware normalizes the path once (``normalize_path``) and the proxy
forwards exactly that form, so what was decided on is what the upstream sees. Forwarded are the
filtered text endpoints (``/v1/chat/completions``, ``/v1/completions``, ``/v1/responses`` and
``/v1/responses/{id}...``) and the allow-list of endpoints without generated text
(``/v1/models``, ``/v1/models/{id}``); any other path (``/v1/embeddings``, ``/v1/audio/...``, a
path with ``;`` parameters or in another case) is answered 404 here and never reaches the
upstream. A request body over ``max_request_bytes`` is answered 413 before it is read whole.

When the upstream fails: unreachable or timing out before answering -> 502/504 with an OpenAI
error object; dying in the middle of an event stream -> the partial event is dropped and the
stream ends with an ``error`` event and ``data: [DONE]`` (the filter then drops text it still held
back, never releases it); dying in the middle of any other body -> the connection is aborted, so a
client never mistakes a cut-off body for a whole one. A client that disconnects closes the
upstream request, so the upstream stops generating.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from apertus_compliance.errors import ApertusError
from apertus_compliance.filters import (
    MAX_BODY_BYTES,
    MAX_REQUEST_BYTES,
    InvalidPath,
    RequestBodyLimit,
    error_object,
    path_kind,
    scope_path,
)
from apertus_compliance.serve.metrics import ServerMetrics
from apertus_compliance.serve.output_filter import OutputFilter, admin_reload

logger = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
PATHS = (
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/responses",
    "/v1/models",
    "/healthz",
    "/metrics",
    "/admin/reload",
)
FORWARDED_KINDS = frozenset({"chat", "completions", "responses", "pass"})
_EVENT_END = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)")
"""The blank line that ends a server-sent event (any of the three line ends)."""


class ProxyError(ApertusError, ValueError):
    """The upstream URL is unusable; the message says why."""


def upstream_base(url: str) -> str:
    """``http://host:port/v1`` (trailing slash dropped); refuses anything that is not an http(s) URL with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProxyError(
            f"--upstream {url!r}: expected the base URL an OpenAI client takes, e.g. http://127.0.0.1:8001/v1"
        )
    if parts.query or parts.fragment:
        raise ProxyError(f"--upstream {url!r}: a base URL has no query or fragment")
    return url.rstrip("/")


class Proxy:
    """Forwards ``/v1/<rest>`` to ``<upstream base>/<rest>`` for the paths the filter knows."""

    def __init__(
        self,
        upstream: str,
        output_filter: OutputFilter,
        *,
        timeout: float = 600.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base = upstream_base(upstream)
        self.output_filter = output_filter
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self.transport = transport
        self.client: httpx.AsyncClient | None = None

    def open(self) -> None:
        # identity unless the client asked otherwise: httpx would ask for gzip on its own, and the filter
        # cannot read compressed completions (the middleware drops the client's accept-encoding on those)
        self.client = httpx.AsyncClient(
            timeout=self.timeout,
            transport=self.transport,
            follow_redirects=False,
            headers={"accept-encoding": "identity"},
        )

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    async def forward(self, request: Request) -> Response:
        try:
            path = scope_path(request.scope)  # the middleware's normalized form (normalizing it again is a no-op)
        except InvalidPath as error:
            return _error(400, str(error), "invalid_path", "invalid_request_error")
        if not path.startswith("/v1/") or path_kind(path) not in FORWARDED_KINDS:
            return _error(
                404,
                f"{request.method} {path}: not an endpoint this proxy forwards",
                "not_found",
                "invalid_request_error",
            )
        query = request.scope.get("query_string", b"").decode("latin-1")
        url = httpx.URL(self.base + path[len("/v1") :] + (f"?{query}" if query else ""))
        headers = [(name, value) for name, value in request.headers.items() if name.lower() not in HOP_BY_HOP]
        upstream_request = self.client.build_request(request.method, url, headers=headers, content=await request.body())
        try:
            response = await self.client.send(upstream_request, stream=True)
        except httpx.TimeoutException as error:
            return _error(504, f"the upstream did not answer in time: {type(error).__name__}", "upstream_timeout")
        except httpx.HTTPError as error:
            logger.warning("upstream %s unreachable: %s: %s", self.base, type(error).__name__, error)
            return _error(
                502, f"the upstream at {self.base} is unreachable: {type(error).__name__}", "upstream_unreachable"
            )
        event_stream = (
            response.headers.get("content-type", "").startswith("text/event-stream")
            and response.headers.get("content-encoding", "identity") == "identity"
        )
        headers = {name: value for name, value in response.headers.items() if name.lower() not in HOP_BY_HOP}
        if "content-length" in response.headers and "content-encoding" not in response.headers:
            headers["content-length"] = response.headers["content-length"]
        return StreamingResponse(self._relay(response, event_stream), status_code=response.status_code, headers=headers)

    async def _relay(self, response: httpx.Response, event_stream: bool):
        """The upstream's body as it comes; an event stream in whole events, so that a failure drops the
        partial event and ends the stream with an error event and ``[DONE]``."""
        pending = b""
        try:
            async for chunk in response.aiter_raw():
                if not event_stream:
                    yield chunk
                    continue
                start = max(0, len(pending) - 3)
                pending += chunk
                cut = 0
                for match in _EVENT_END.finditer(pending, start):
                    cut = match.end()
                if len(pending) > MAX_BODY_BYTES:  # no event ends: the filter refuses it, memory stays bounded
                    cut = len(pending)
                if cut:
                    yield pending[:cut]
                    pending = pending[cut:]
            if pending:
                yield pending  # a clean end mid-event: the filter reports the truncated stream
        except httpx.HTTPError as error:
            logger.warning("upstream %s failed mid-response: %s: %s", self.base, type(error).__name__, error)
            if not event_stream:
                raise  # abort the connection: a cut-off JSON body must not look whole
            yield (
                b"data: "
                + orjson.dumps(
                    error_object(f"the upstream failed mid-stream: {type(error).__name__}", "upstream_failed")
                )
                + b"\n\ndata: [DONE]\n\n"
            )
        finally:  # also when the client went away: the upstream stops generating
            await response.aclose()

    async def health(self, request: Request) -> JSONResponse:
        try:
            answer = await self.client.get(self.base + "/models", timeout=5.0)
            upstream_ok = answer.status_code < 500
            upstream = f"HTTP {answer.status_code}"
        except httpx.HTTPError as error:
            upstream_ok, upstream = False, f"unreachable: {type(error).__name__}"
        filter_ok = self.output_filter.available()
        body = {
            "status": "ok" if upstream_ok and filter_ok else "unavailable",
            "upstream": {"url": self.base, "models": upstream},
            "deletion_list": self.output_filter.status(),
        }
        return JSONResponse(body, status_code=200 if upstream_ok and filter_ok else 503)


def _error(status: int, message: str, code: str, kind: str = "upstream_error") -> JSONResponse:
    return JSONResponse(error_object(message, code, kind), status_code=status)


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
    return _error(
        error.status_code, f"{request.method} {request.url.path}: {error.detail}", code, "invalid_request_error"
    )


def build_proxy(
    upstream: str,
    output_filter: OutputFilter,
    *,
    timeout: float = 600.0,
    transport: httpx.AsyncBaseTransport | None = None,
    max_request_bytes: int = MAX_REQUEST_BYTES,
) -> Any:
    """The proxy's ASGI app: metrics around the request-body limit around the filter middleware around the
    forwarding routes. Its lifespan opens the upstream client and starts the list refresher."""
    proxy = Proxy(upstream, output_filter, timeout=timeout, transport=transport)
    metrics = ServerMetrics(output_filter, paths=PATHS)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        proxy.open()
        output_filter.start()
        try:
            yield
        finally:
            output_filter.stop()
            await proxy.close()

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    routes = [
        Route("/healthz", proxy.health, methods=["GET"]),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        Route("/admin/reload", admin_reload, methods=["POST"]),
        Route("/v1/{rest:path}", proxy.forward, methods=methods),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error})
    app.state.output_filter = output_filter
    return metrics.measure(RequestBodyLimit(output_filter.wrap(app), max_request_bytes))
