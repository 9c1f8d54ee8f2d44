"""Typed exceptions: every refusal of the server carries its machine code (protocol.md,
Conventions), and the E2E failures a user must see are exceptions of their own."""

from __future__ import annotations

import uuid


class ChatalotError(Exception):
    """Base of everything the SDK raises on purpose."""


class ApiError(ChatalotError):
    """The server refused: HTTP `status`, the protocol's `code`, its human `message`."""

    code = "internal"

    def __init__(self, status: int, code: str, message: str,
                 retry_after_secs: float | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after_secs = retry_after_secs


class BadRequest(ApiError):
    code = "bad_request"


class Unauthorized(ApiError):
    """The session is gone (expired, revoked, suspended): log in again."""

    code = "unauthorized"


class TotpRequired(ApiError):
    code = "totp_required"


class TotpInvalid(ApiError):
    code = "totp_invalid"


class Forbidden(ApiError):
    code = "forbidden"


class NotFound(ApiError):
    code = "not_found"


class Conflict(ApiError):
    code = "conflict"


class TooLarge(ApiError):
    code = "too_large"


class LimitReached(ApiError):
    code = "limit_reached"


class RateLimited(ApiError):
    """Still limited after the SDK's own back-off."""

    code = "rate_limited"


class ProjectionLag(ApiError):
    code = "projection_lag"


_BY_CODE: dict[str, type[ApiError]] = {cls.code: cls for cls in (
    BadRequest, Unauthorized, TotpRequired, TotpInvalid, Forbidden, NotFound, Conflict,
    TooLarge, LimitReached, RateLimited, ProjectionLag)}


def api_error(status: int, code: str, message: str,
              retry_after_secs: float | None = None) -> ApiError:
    """The exception for a code; an unknown code (a newer server) is a plain ApiError."""
    return _BY_CODE.get(code, ApiError)(status, code, message, retry_after_secs)


class KeyStoreError(ChatalotError):
    """The local key file is missing, corrupt, or the passphrase is wrong."""


class IdentityKeyChanged(ChatalotError):
    """A peer's identity key is not the one pinned for them: nothing from or to them is
    processed with the new key until the user accepts it (`Client.trust_identity`)."""

    def __init__(self, user_id: uuid.UUID, pinned: bytes, presented: bytes) -> None:
        super().__init__(f"the identity key of {user_id} changed")
        self.user_id = user_id
        self.pinned = pinned
        self.presented = presented


class DecryptFailed(ChatalotError):
    """A message that could not be decrypted (shown to the user, never hidden)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
