"""What the engine server and the proxy share: the deletion list they filter with, and its admin reload.

``OutputFilter(RefreshingDeletionList(...), strict=True).wrap(app)`` mounts the filter middleware
(filters/middleware.py) in front of any ASGI app. One ``Redactor`` is built per verified list and
reused until the refresher swaps in a newer list; it is used only once a self-test redaction
through it has worked (``DeletionList.verify_self_test``), run once per list, so ``/healthz`` says
200 only when completions can really be filtered, and stays cheap. ``admin_reload`` is the ``POST /admin/reload``
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

from apertus_compliance.filters import (
    DEFAULT_PLACEHOLDER,
    DeletionList,
    DeletionListMiddleware,
    ListUnavailable,
    RedactionMetrics,
    Redactor,
    RefreshingDeletionList,
    ReleaseError,
    error_object,
    warm_up,
)

logger = logging.getLogger(__name__)

ADMIN_TOKEN_VARIABLE = "APERTUS_ADMIN_TOKEN"


class OutputFilter:
    """The deletion list (kept current by ``refresher``), the redactor built from it, and the filter's metrics.

    ``refresher=None`` filters with ``patterns`` only (no deletion list); strict mode then refuses
    to serve, as for a list that is missing. A list whose self-test fails counts as missing.
    """

    def __init__(
        self,
        refresher: RefreshingDeletionList | None,
        *,
        strict: bool = False,
        patterns: tuple[str, ...] = (),
        placeholder: str = DEFAULT_PLACEHOLDER,
    ) -> None:
        self.refresher = refresher
        self.strict = strict
        self.patterns = patterns
        self.placeholder = placeholder
        self.metrics = RedactionMetrics()
        Redactor(patterns=patterns, placeholder=placeholder)  # unknown pattern classes fail here, not per request
        self._lock = threading.Lock()
        self._redactor: Redactor | None = None
        self._built_for: DeletionList | None = None
        self._self_test_error: str | None = None

    def redactor(self) -> Redactor | None:
        """The middleware's provider: raises ListUnavailable (strict) or returns None when there is no list."""
        if self.refresher is None:
            return Redactor(patterns=self.patterns, placeholder=self.placeholder) if self.patterns else None
        listed = self.refresher.require()
        if listed is None:
            return None
        redactor, error = self._tested_redactor(listed)
        if redactor is None:
            message = f"deletion list {listed.version} is loaded but unusable: {error}"
            if self.strict:
                raise ListUnavailable(f"{message}; strict mode refuses to serve")
            logger.warning("%s; serving WITHOUT deletion-list filtering", message)
        return redactor

    def _tested_redactor(self, listed: DeletionList) -> tuple[Redactor | None, str | None]:
        """The redactor for ``listed`` once its self-test passed (None and the reason otherwise);
        built and tested once per loaded list."""
        with self._lock:
            if self._built_for is not listed:
                redactor: Redactor | None = Redactor(listed, patterns=self.patterns, placeholder=self.placeholder)
                try:
                    listed.verify_self_test(redactor)
                    error = None
                except ReleaseError as failure:
                    redactor, error = None, str(failure)
                    logger.error("deletion list %s failed its self-test: %s", listed.version, error)
                self._redactor, self._built_for, self._self_test_error = redactor, listed, error
            return self._redactor, self._self_test_error

    def wrap(self, app: Callable) -> DeletionListMiddleware:
        return DeletionListMiddleware(app, self.redactor, strict=self.strict, metrics=self.metrics)

    def status(self) -> dict:
        """The refresher's status, the patterns, and ``self_test``: ``"passed"``, ``"failed: <why>"``,
        or None while no list is loaded or it was not tested yet."""
        if self.refresher is None:
            return {"version": None, "strict": self.strict, "patterns": list(self.patterns), "self_test": None}
        status = {**self.refresher.status(), "patterns": list(self.patterns)}
        current = self.refresher.current
        with self._lock:
            tested, error = self._built_for, self._self_test_error
        status["self_test"] = (
            None if current is None or tested is not current else "passed" if error is None else f"failed: {error}"
        )
        return status

    def available(self) -> bool:
        """Whether completions can be served now: in strict mode, only with a fresh list whose
        self-test redaction worked (always true outside strict mode)."""
        try:
            return self.redactor() is not None or not self.strict
        except Exception:
            return False

    def start(self) -> None:
        """Start the refresher (its first refresh loads the list now) and warm up: the list's
        self-test runs here, and presidio-anonymizer is imported even without a list, so no request
        pays for either on the event loop."""
        if self.refresher is not None:
            self.refresher.start()
            listed = self.refresher.current
            if listed is not None:
                self._tested_redactor(listed)
        warm_up()

    def stop(self) -> None:
        if self.refresher is not None:
            self.refresher.stop()


async def admin_reload(request: Request) -> JSONResponse:
    """``POST /admin/reload``: check the deletion list's source now. 200 with the list status, 502 when the
    check failed (the last good list stays), 401 without the right bearer token, 403 when disabled."""
    expected = os.environ.get(ADMIN_TOKEN_VARIABLE, "")
    if not expected:
        return JSONResponse(
            error_object(
                f"the admin endpoint is disabled: set {ADMIN_TOKEN_VARIABLE} to enable it",
                "admin_disabled",
                "permission_error",
            ),
            status_code=403,
        )
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        return JSONResponse(
            error_object("missing or wrong bearer token", "invalid_admin_token", "authentication_error"),
            status_code=401,
            headers={"www-authenticate": "Bearer"},
        )
    output_filter: OutputFilter = request.app.state.output_filter
    if output_filter.refresher is None:
        return JSONResponse(
            error_object(
                "this server filters without a deletion list; nothing to reload",
                "no_deletion_list",
                "invalid_request_error",
            ),
            status_code=409,
        )
    swapped = await anyio.to_thread.run_sync(output_filter.refresher.refresh)
    status = output_filter.status()
    if status["last_error"] and not swapped:
        return JSONResponse(
            {
                **error_object(f"reload failed, the last good list stays: {status['last_error']}", "reload_failed"),
                "deletion_list": status,
            },
            status_code=502,
        )
    logger.info("admin reload: list %s (%s)", status["version"], "swapped" if swapped else "unchanged")
    return JSONResponse({"reloaded": swapped, "deletion_list": status})
