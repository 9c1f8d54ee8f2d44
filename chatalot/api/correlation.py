"""One correlation id per request: the client's X-Request-Id when it is sane (nginx sets one
for every request it forwards), else a new UUID. It is returned as X-Request-Id, stamped on
every log line written while the request runs (chatalot/logs.py), and carried into the
metadata of the events the request's commands append (api/context.py -> RequestInfo).
Each request ends with one log line: method, route template, status, duration, client."""

from __future__ import annotations

import logging
import time
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from chatalot.ids import uuid7
from chatalot.logs import correlation_id

log = logging.getLogger("chatalot.requests")

SCOPE_KEY = "chatalot.correlation_id"
HEADER = "X-Request-Id"
MAX_LENGTH = 100
QUIET = frozenset({"/api/health", "/api/health/"})


def accepted(given: str | None) -> str | None:
    """A client's id, if it is short printable ASCII with no spaces (it goes into logs)."""
    if not given or len(given) > MAX_LENGTH or not given.isascii():
        return None
    if not given.isprintable() or any(ch.isspace() or ch in "\"\\" for ch in given):
        return None
    return given


def correlation_of(scope: Any) -> str:
    """The request's id (set by the middleware; a fresh one outside of it)."""
    found = scope.get(SCOPE_KEY)
    return found if isinstance(found, str) else str(uuid7())


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def correlation_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in (ScopeType.HTTP, ScopeType.WEBSOCKET):
            await app(scope, receive, send)
            return
        cid = accepted(_header(scope, b"x-request-id")) or str(uuid7())
        scope[SCOPE_KEY] = cid  # type: ignore[literal-required]
        token = correlation_id.set(cid)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableScopeHeaders.from_message(message)[HEADER] = cid
            await send(message)

        try:
            # a WebSocket never sends http.response.start: its frames (thousands a second
            # in a fan-out) go to the server's send unwrapped
            await app(scope, receive,
                      send if scope["type"] == ScopeType.WEBSOCKET else send_with_id)
        finally:
            if scope["type"] == ScopeType.HTTP:
                client = scope.get("client")
                # health checks come every few seconds from every balancer: debug, if fine
                quiet = status == 200 and scope.get("path") in QUIET
                level = logging.DEBUG if quiet else logging.INFO
                if log.isEnabledFor(level):
                    log.log(level, "request", extra={"fields": {
                        "method": scope.get("method"),
                        "route": scope.get("path_template") or "(unrouted)",
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "client": client[0] if client else None,
                    }})
            correlation_id.reset(token)

    return middleware
