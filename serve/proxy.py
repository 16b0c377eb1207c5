"""The deletion-list filter in front of any OpenAI-compatible server (vLLM, TGI, llama.cpp, ...).

``build_proxy("http://127.0.0.1:8001/v1", output_filter)`` forwards every request under ``/v1/``
to the upstream's base URL (the one an OpenAI client would take), streaming both ways with httpx,
and filters the completion endpoints through the same middleware as the bundled engine.
``/healthz``, ``/metrics`` and ``/admin/reload`` are the proxy's own.

When the upstream fails: unreachable or timing out before answering -> 502/504 with an OpenAI
error object; dying in the middle of an event stream -> an ``error`` event (the filter then ends
the stream and drops text it still held back); dying in the middle of any other body -> the
connection is aborted, so a client never mistakes a cut-off body for a whole one. A client that
disconnects closes the upstream request, so the upstream stops generating.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from apertus_compliance.filters.middleware import error_object
from apertus_compliance.serve.metrics import ServerMetrics
from apertus_compliance.serve.output_filter import OutputFilter, admin_reload

logger = logging.getLogger(__name__)

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "host", "content-length"})
PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/models", "/healthz", "/metrics", "/admin/reload")


class ProxyError(ValueError):
    """The upstream URL is unusable; the message says why."""


def upstream_base(url: str) -> str:
    """``http://host:port/v1`` (trailing slash dropped); refuses anything that is not an http(s) URL with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProxyError(f"--upstream {url!r}: expected the base URL an OpenAI client takes, "
                         "e.g. http://127.0.0.1:8001/v1")
    if parts.query or parts.fragment:
        raise ProxyError(f"--upstream {url!r}: a base URL has no query or fragment")
    return url.rstrip("/")


class Proxy:
    """Forwards ``/v1/<rest>`` to ``<upstream base>/<rest>``."""

    def __init__(self, upstream: str, output_filter: OutputFilter, *, timeout: float = 600.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base = upstream_base(upstream)
        self.output_filter = output_filter
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self.transport = transport
        self.client: httpx.AsyncClient | None = None

    def open(self) -> None:
        # identity unless the client asked otherwise: httpx would ask for gzip on its own, and the filter
        # cannot read compressed completions (the middleware drops the client's accept-encoding on those)
        self.client = httpx.AsyncClient(timeout=self.timeout, transport=self.transport, follow_redirects=False,
                                        headers={"accept-encoding": "identity"})

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    async def forward(self, request: Request) -> Response:
        rest = request.url.path[len("/v1"):]
        url = self.base + rest + (f"?{request.url.query}" if request.url.query else "")
        headers = [(name, value) for name, value in request.headers.items() if name.lower() not in HOP_BY_HOP]
        upstream_request = self.client.build_request(request.method, url, headers=headers,
                                                     content=await request.body())
        try:
            response = await self.client.send(upstream_request, stream=True)
        except httpx.TimeoutException as error:
            return _error(504, f"the upstream did not answer in time: {type(error).__name__}", "upstream_timeout")
        except httpx.HTTPError as error:
            logger.warning("upstream %s unreachable: %s: %s", self.base, type(error).__name__, error)
            return _error(502, f"the upstream at {self.base} is unreachable: {type(error).__name__}",
                          "upstream_unreachable")
        event_stream = response.headers.get("content-type", "").startswith("text/event-stream")
        headers = {name: value for name, value in response.headers.items() if name.lower() not in HOP_BY_HOP}
        if "content-length" in response.headers and "content-encoding" not in response.headers:
            headers["content-length"] = response.headers["content-length"]
        return StreamingResponse(self._relay(response, event_stream), status_code=response.status_code,
                                 headers=headers)

    async def _relay(self, response: httpx.Response, event_stream: bool):
        try:
            async for chunk in response.aiter_raw():
                yield chunk
        except httpx.HTTPError as error:
            logger.warning("upstream %s failed mid-response: %s: %s", self.base, type(error).__name__, error)
            if not event_stream:
                raise  # abort the connection: a cut-off JSON body must not look whole
            yield b"\n\ndata: " + orjson.dumps(error_object(f"the upstream failed mid-stream: {type(error).__name__}",
                                                            "upstream_failed")) + b"\n\n"
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
        body = {"status": "ok" if upstream_ok and filter_ok else "unavailable",
                "upstream": {"url": self.base, "models": upstream},
                "deletion_list": self.output_filter.status()}
        return JSONResponse(body, status_code=200 if upstream_ok and filter_ok else 503)


def _error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse(error_object(message, code, "upstream_error"), status_code=status)


def build_proxy(upstream: str, output_filter: OutputFilter, *, timeout: float = 600.0,
                transport: httpx.AsyncBaseTransport | None = None) -> Any:
    """The proxy's ASGI app: metrics around the filter middleware around the forwarding routes. Its
    lifespan opens the upstream client and starts the list refresher."""
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
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.output_filter = output_filter
    return metrics.measure(output_filter.wrap(app))
