"""Incoming-webhook rules: the token is 32 random bytes (URL-safe base64) shown once; only
its SHA-256 is kept; each webhook posts at most EXECUTE_RATE per second (burst
EXECUTE_BURST); its messages are plain text of type `webhook`."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from typing import Final

from chatalot.domain.errors import DomainError

EXECUTE_RATE: Final = 1.0
EXECUTE_BURST: Final = 5.0
TOKEN_BYTES: Final = 32


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def execute_bucket(webhook_id: uuid.UUID) -> tuple[str, float, float]:
    return f"webhook:{webhook_id}", EXECUTE_RATE, EXECUTE_BURST


def body_of(content: str) -> str:
    """A webhook's text as a server-readable message body (base64 of its UTF-8)."""
    if "\x00" in content:
        raise DomainError("bad_request", "the content contains a NUL character")
    return base64.b64encode(content.encode()).decode()
