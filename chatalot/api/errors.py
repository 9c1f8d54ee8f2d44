"""Every error leaves as `{"error": ..., "code": ...}`: never a traceback, never a 500 for
bad input."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import msgspec
import psycopg
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Send

from chatalot.domain.errors import DomainError
from event_store import ConcurrencyError, InvalidPosition

log = logging.getLogger(__name__)


class ErrorBody(msgspec.Struct, omit_defaults=True):
    error: str
    code: str
    retry_after_secs: int | None = None


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "bad_request",
    409: "conflict",
    413: "too_large",
    415: "bad_request",
    422: "bad_request",
    429: "rate_limited",
    503: "internal",
}


class ApiError(HTTPException):
    """Raised by handlers with the protocol's status and code."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        retry_after_secs: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail=message, status_code=status_code, headers=headers)
        self.code = code
        self.retry_after_secs = retry_after_secs


def error_response(
    status: int, code: str, message: str, *, retry_after_secs: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response[ErrorBody]:
    return Response(
        ErrorBody(message, code, retry_after_secs),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


async def send_raw(send: Send, status: int, body: bytes,
                   headers: list[tuple[bytes, bytes]]) -> None:
    """A whole response straight to ASGI, for middleware that answers before the app."""
    start: HTTPResponseStartEvent = {
        "type": "http.response.start", "status": status,
        "headers": [*headers, (b"content-length", str(len(body)).encode())]}
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body,
                                  "more_body": False}
    await send(end)


async def send_error(send: Send, status: int, code: str, message: str, *,
                     retry_after_secs: int | None = None) -> None:
    """An error response (the protocol's body) from ASGI middleware."""
    body = msgspec.json.encode(ErrorBody(message, code, retry_after_secs))
    headers = [(b"content-type", b"application/json")]
    if retry_after_secs is not None:
        headers.append((b"retry-after", str(retry_after_secs).encode()))
    await send_raw(send, status, body, headers)


@contextlib.contextmanager
def answered_as(status: int, code: str) -> Iterator[None]:
    """On this route, a domain refusal with `code` is answered with `status` instead of the
    code's usual one. The protocol: a wrong code at /totp/verify and /totp/disable (an
    authenticated caller's bad input) is 400 `totp_invalid`; at login it is 401."""
    try:
        yield
    except DomainError as exc:
        if exc.code != code:
            raise
        raise ApiError(status, exc.code, exc.message,
                       retry_after_secs=exc.retry_after_secs) from None


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    status = exc.status_code
    if isinstance(exc, ApiError):
        return error_response(
            status, exc.code, exc.detail, retry_after_secs=exc.retry_after_secs,
            headers=exc.headers,
        )
    if isinstance(exc, ValidationException):
        message = exc.detail or "invalid request"
        extra = exc.extra
        if isinstance(extra, list) and extra:
            first = extra[0]
            if isinstance(first, dict):
                where = first.get("key") or first.get("source") or ""
                message = f"{first.get('message', message)}" + (f" ({where})" if where else "")
        return error_response(400, "bad_request", message)
    if isinstance(exc, NotAuthorizedException):
        return error_response(401, "unauthorized", exc.detail or "unauthorized")
    if isinstance(exc, PermissionDeniedException):
        return error_response(403, "forbidden", exc.detail or "forbidden")
    if isinstance(exc, NotFoundException):
        return error_response(404, "not_found", "not found")
    if status >= 500:
        log.error("server error on %s %s: %s", request.method, request.url.path, exc.detail)
        return error_response(status, "internal", "internal error")
    return error_response(
        status, _CODES.get(status, "bad_request"), exc.detail or "request refused",
        headers=exc.headers,
    )


def _invalid_position(request: Request[Any, Any, Any], exc: InvalidPosition) -> Response[ErrorBody]:
    return error_response(400, "bad_request", str(exc))


def _domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[ErrorBody]:
    headers = None
    if exc.retry_after_secs is not None and exc.status in (409, 429):
        headers = {"Retry-After": str(exc.retry_after_secs)}
    elif exc.status == 503:
        headers = {"Retry-After": "1"}
    return error_response(exc.status, exc.code, exc.message,
                          retry_after_secs=exc.retry_after_secs, headers=headers)


def _database_unavailable(request: Request[Any, Any, Any], exc: psycopg.OperationalError
                          ) -> Response[ErrorBody]:
    """PostgreSQL restarting, unreachable, or no pooled connection free in time: the request
    did nothing (its transaction never committed), so the client may simply retry."""
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path,
                type(exc).__name__)  # the class only: a message may carry connection details
    return error_response(503, "internal", "the database is unavailable; retry shortly",
                          retry_after_secs=1, headers={"Retry-After": "1"})


def _lost_every_race(request: Request[Any, Any, Any], exc: ConcurrencyError
                     ) -> Response[ErrorBody]:
    """A command that lost its stream's race on every attempt (run_command retried it): a
    hot stream, not a fault. Nothing of it committed, so the client may retry."""
    log.warning("command lost every race on %s %s", request.method, request.url.path)
    return error_response(409, "conflict", "too many concurrent changes; retry shortly",
                          retry_after_secs=1, headers={"Retry-After": "1"})


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(HTTP_500_INTERNAL_SERVER_ERROR, "internal", "internal error")


exception_handlers: dict[Any, Any] = {
    HTTPException: _http_error,
    InvalidPosition: _invalid_position,
    DomainError: _domain_error,
    ConcurrencyError: _lost_every_race,
    psycopg.OperationalError: _database_unavailable,
    Exception: _unexpected,
}
