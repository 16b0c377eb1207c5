"""What the engine server and the proxy share: the deletion list they filter with, and its admin reload.

``OutputFilter(RefreshingDeletionList(...), strict=True).wrap(app)`` mounts the filter middleware
(filters/middleware.py) in front of any ASGI app. One ``Redactor`` is built per verified list and
reused until the refresher swaps in a newer list. ``admin_reload`` is the ``POST /admin/reload``
endpoint: it checks the list's source now, guarded by a bearer token read from the environment
(``APERTUS_ADMIN_TOKEN``); without that variable the endpoint is disabled.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
from collections.abc import Callable

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse

from apertus_compliance.filters.deletion_list import DeletionList
from apertus_compliance.filters.middleware import DeletionListMiddleware, RedactionMetrics, error_object
from apertus_compliance.filters.redactor import DEFAULT_PLACEHOLDER, Redactor
from apertus_compliance.filters.refresh import RefreshingDeletionList

logger = logging.getLogger(__name__)

ADMIN_TOKEN_VARIABLE = "APERTUS_ADMIN_TOKEN"


class OutputFilter:
    """The deletion list (kept current by ``refresher``), the redactor built from it, and the filter's metrics.

    ``refresher=None`` filters with ``patterns`` only (no deletion list); strict mode then refuses
    to serve, as for a list that is missing.
    """

    def __init__(self, refresher: RefreshingDeletionList | None, *, strict: bool = False,
                 patterns: tuple[str, ...] = (), placeholder: str = DEFAULT_PLACEHOLDER) -> None:
        self.refresher = refresher
        self.strict = strict
        self.patterns = patterns
        self.placeholder = placeholder
        self.metrics = RedactionMetrics()
        Redactor(patterns=patterns, placeholder=placeholder)  # unknown pattern classes fail here, not per request
        self._lock = threading.Lock()
        self._redactor: Redactor | None = None
        self._built_for: DeletionList | None = None

    def redactor(self) -> Redactor | None:
        """The middleware's provider: raises ListUnavailable (strict) or returns None when there is no list."""
        if self.refresher is None:
            return Redactor(patterns=self.patterns, placeholder=self.placeholder) if self.patterns else None
        listed = self.refresher.require()
        if listed is None:
            return None
        with self._lock:
            if self._built_for is not listed:
                self._redactor = Redactor(listed, patterns=self.patterns, placeholder=self.placeholder)
                self._built_for = listed
            return self._redactor

    def wrap(self, app: Callable) -> DeletionListMiddleware:
        return DeletionListMiddleware(app, self.redactor, strict=self.strict, metrics=self.metrics)

    def status(self) -> dict:
        if self.refresher is None:
            return {"version": None, "strict": self.strict, "patterns": list(self.patterns)}
        return {**self.refresher.status(), "patterns": list(self.patterns)}

    def available(self) -> bool:
        """Whether completions can be served now (always true outside strict mode)."""
        try:
            return self.redactor() is not None or not self.strict
        except Exception:
            return False

    def start(self) -> None:
        if self.refresher is not None:
            self.refresher.start()

    def stop(self) -> None:
        if self.refresher is not None:
            self.refresher.stop()


async def admin_reload(request: Request) -> JSONResponse:
    """``POST /admin/reload``: check the deletion list's source now. 200 with the list status, 502 when the
    check failed (the last good list stays), 401 without the right bearer token, 403 when disabled."""
    expected = os.environ.get(ADMIN_TOKEN_VARIABLE, "")
    if not expected:
        return JSONResponse(error_object(f"the admin endpoint is disabled: set {ADMIN_TOKEN_VARIABLE} to enable it",
                                         "admin_disabled", "permission_error"), status_code=403)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        return JSONResponse(error_object("missing or wrong bearer token", "invalid_admin_token",
                                         "authentication_error"), status_code=401,
                            headers={"www-authenticate": "Bearer"})
    output_filter: OutputFilter = request.app.state.output_filter
    if output_filter.refresher is None:
        return JSONResponse(error_object("this server filters without a deletion list; nothing to reload",
                                         "no_deletion_list", "invalid_request_error"), status_code=409)
    swapped = await anyio.to_thread.run_sync(output_filter.refresher.refresh)
    status = output_filter.status()
    if status["last_error"] and not swapped:
        return JSONResponse({**error_object(f"reload failed, the last good list stays: {status['last_error']}",
                                            "reload_failed"), "deletion_list": status}, status_code=502)
    logger.info("admin reload: list %s (%s)", status["version"], "swapped" if swapped else "unchanged")
    return JSONResponse({"reloaded": swapped, "deletion_list": status})
