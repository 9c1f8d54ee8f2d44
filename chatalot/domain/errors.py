"""Refusals raised by domain rules; the API turns each into the protocol's status + code."""

from __future__ import annotations

from typing import Final

STATUS: Final[dict[str, int]] = {
    "bad_request": 400,
    "unauthorized": 401,
    "totp_required": 401,
    "totp_invalid": 401,
    "forbidden": 403,
    "timed_out": 403,
    "read_only": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "slow_mode": 422,
    "e2e_required": 422,
    "limit_reached": 422,
    "rate_limited": 429,
    "projection_lag": 503,
}


class DomainError(Exception):
    """A rule said no. `code` is one of the protocol's error codes; it alone decides the
    HTTP status. (Where the protocol answers a code with another status on one route,
    the route's controller translates: the domain does not know HTTP routes.)"""

    def __init__(self, code: str, message: str, *, retry_after_secs: int | None = None
                 ) -> None:
        super().__init__(message)
        if code not in STATUS:
            raise ValueError(f"unknown error code {code!r}")
        self.code = code
        self.message = message
        self.retry_after_secs = retry_after_secs

    @property
    def status(self) -> int:
        return STATUS[self.code]


def bad_request(message: str) -> DomainError:
    return DomainError("bad_request", message)


def forbidden(message: str) -> DomainError:
    return DomainError("forbidden", message)


def conflict(message: str) -> DomainError:
    return DomainError("conflict", message)


def not_found(message: str = "not found") -> DomainError:
    return DomainError("not_found", message)


def unauthorized(message: str = "unauthorized") -> DomainError:
    return DomainError("unauthorized", message)
