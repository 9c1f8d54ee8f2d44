"""Access tokens (EdDSA JWT, 15 min) and refresh tokens (opaque, stored as SHA-256)."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

AUDIENCE = "chatalot"
LEEWAY_SECS = 60  # clock skew tolerated between nodes


class InvalidToken(Exception):
    """Bad signature, wrong issuer/audience, expired, or malformed. Never says which."""


class AccessClaims(msgspec.Struct, frozen=True):
    sub: uuid.UUID
    sid: uuid.UUID
    username: str
    is_admin: bool
    is_owner: bool
    iat: int
    exp: int
    jti: str
    iss: str
    aud: str


class TokenService:
    def __init__(self, private_key: Ed25519PrivateKey, public_key: Ed25519PublicKey, *,
                 issuer: str, ttl_secs: int = 900,
                 clock: Callable[[], float] = time.time) -> None:
        self._private = private_key
        self._public = public_key
        self.issuer = issuer
        self.ttl_secs = ttl_secs
        self._clock = clock

    def issue_access(self, *, user_id: uuid.UUID, session_id: uuid.UUID, username: str,
                     is_admin: bool, is_owner: bool) -> str:
        now = int(self._clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": str(user_id),
            "sid": str(session_id),
            "username": username,
            "is_admin": is_admin,
            "is_owner": is_owner,
            "iat": now,
            "exp": now + self.ttl_secs,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self._private, algorithm="EdDSA")

    def verify_access(self, token: str) -> AccessClaims:
        if not isinstance(token, str) or len(token) > 4096:
            raise InvalidToken("bad token")
        try:
            raw = jwt.decode(
                token, self._public, algorithms=["EdDSA"], audience=AUDIENCE,
                issuer=self.issuer, leeway=LEEWAY_SECS,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"],
                         "verify_iat": False, "verify_exp": False},
            )
            claims = msgspec.convert(raw, AccessClaims, strict=False)
        except (jwt.PyJWTError, msgspec.ValidationError, KeyError, TypeError, ValueError):
            raise InvalidToken("invalid token") from None
        if claims.exp + LEEWAY_SECS < self._clock():  # our clock, so tests can freeze it
            raise InvalidToken("expired")
        return claims


def new_refresh_token() -> tuple[str, bytes]:
    """32 random bytes as 64 hex characters, and the SHA-256 that the server keeps."""
    token = secrets.token_hex(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
