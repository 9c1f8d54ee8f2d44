"""Per-request helpers shared by controllers: the caller (Principal), where the request
came from (for event metadata), and the documented error responses."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec

from chatalot.api.correlation import correlation_of
from chatalot.api.errors import ErrorBody
from chatalot.auth.principal import (
    Principal,
    authenticate_access_token,
    authenticate_with_read,
)
from chatalot.domain.errors import DomainError
from chatalot.request_info import RequestInfo
from chatalot.services import Services

_SCOPE_KEY = "chatalot.principal"


def client_ip(scope: Any) -> str | None:
    """The peer address as the server saw it: uvicorn replaces it with the right-most
    X-Forwarded-For address that is not a proxy of CHATALOT_TRUSTED_PROXIES (none by
    default), so a client cannot pick its own rate bucket (chatalot/cli/server.py)."""
    client = scope.get("client")
    return str(client[0])[:64] if client else None


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise DomainError("unauthorized", "missing bearer token")
    return token.strip()


def cached_principal(scope: Any) -> Principal | None:
    """The request's caller if something already authenticated it."""
    cached = scope.get(_SCOPE_KEY)
    return cached if isinstance(cached, Principal) else None


async def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """Authenticate once per request (guards and handlers share the result)."""
    cached = connection.scope.get(_SCOPE_KEY)
    if isinstance(cached, Principal):
        return cached
    services: Services = connection.app.state.services
    principal = await authenticate_access_token(services.accounts, bearer_token(connection))
    connection.scope[_SCOPE_KEY] = principal  # type: ignore[literal-required]
    return principal


async def principal_with_read(
    connection: ASGIConnection[Any, Any, Any, Any], statement: bytes,
    params: Callable[[uuid.UUID], dict[str, Any]],
) -> dict[str, Any] | None:
    """Authenticate as `principal_of` does (the result is shared the same way), with one
    read of the route's pipelined behind the session lookup: one round trip for both
    (chatalot/auth/principal.py `authenticate_with_read`). Returns the read's row."""
    services: Services = connection.app.state.services
    principal, row = await authenticate_with_read(
        services.accounts, bearer_token(connection), statement, params)
    connection.scope[_SCOPE_KEY] = principal  # type: ignore[literal-required]
    return row


async def _provide_principal(request: Request[Any, Any, Any]) -> Principal:
    return await principal_of(request)


def request_info(request: Request[Any, Any, Any]) -> RequestInfo:
    """Where the request came from, for the metadata of the events it appends."""
    return RequestInfo(
        ip=client_ip(request.scope),
        user_agent=(request.headers.get("user-agent") or None),
        # the request's id (api/correlation.py): returned as X-Request-Id, in every log
        # line of the request, and in the metadata of the events it appends
        correlation_id=correlation_of(request.scope),
    )


DEPENDENCIES = {
    "principal": Provide(_provide_principal),
    "info": Provide(request_info, sync_to_thread=False),
}

_DESCRIPTIONS = {
    400: "bad_request: malformed or out-of-range field, a path id that is not a UUID, a"
         " malformed Chatalot-Min-Position or Idempotency-Key, request headers over their"
         " limit (totp_invalid at /totp/verify and /totp/disable)",
    401: "unauthorized: missing, invalid, expired or revoked token; suspended or deleted user"
         " (login: totp_required / totp_invalid)",
    403: "forbidden: not allowed",
    404: "not_found: unknown id",
    409: "conflict: already in that state (duplicate username, already blocked, ...), or a"
         " request with this Idempotency-Key still running (Retry-After) or whose reply was"
         " lost",
    413: "too_large: request body over its limit",
    422: "limit_reached: a count limit (prekeys, ...) would be exceeded; bad_request: this"
         " Idempotency-Key was used for another request",
    429: "rate_limited: with Retry-After",
    503: "projection_lag: the read models have not reached Chatalot-Min-Position; internal:"
         " the database is unavailable (nothing was done; retry after Retry-After)",
}


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error statuses a route can answer, plus those every route
    can: 400, 429 and 503 (the database unavailable). tests/accounts/test_openapi.py checks
    the rest: 413 with a body, 409 and 422 on commands (Idempotency-Key), 401 behind a
    guard."""
    wanted = sorted({400, 429, 503, *statuses})
    return {
        status: ResponseSpec(data_container=ErrorBody, description=_DESCRIPTIONS[status])
        for status in wanted
    }
