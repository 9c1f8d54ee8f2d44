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
VERIFIED_CACHE_SIZE = 10_000
"""Verified access tokens remembered (by SHA-256) for the rest of their lifetime."""


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
        # SHA-256 of a token whose signature and claims were verified -> its claims. The
        # signature check (EdDSA plus PyJWT's parsing) is most of a request's token cost,
        # and a token's bytes cannot come to verify differently later: only its expiry,
        # checked on every use below. Revocation, suspension and deletion are not token
        # facts: the caller looks those up in the database on every request still.
        self._verified: dict[bytes, AccessClaims] = {}

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
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        claims = self._verified.get(key)
        if claims is None:
            claims = self._verify_signed(token)
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._forget_expired()
            self._verified[key] = claims
        if claims.exp + LEEWAY_SECS < self._clock():  # our clock, so tests can freeze it
            self._verified.pop(key, None)
            raise InvalidToken("expired")
        return claims

    def _forget_expired(self) -> None:
        """Drop expired entries; when none expired, the oldest half (insertion order)."""
        now = self._clock()
        expired = [k for k, c in self._verified.items() if c.exp + LEEWAY_SECS < now]
        if not expired:
            expired = list(self._verified)[: len(self._verified) // 2]
        for k in expired:
            del self._verified[k]

    def _verify_signed(self, token: str) -> AccessClaims:
        """Signature, issuer, audience and the required claims (not the expiry)."""
        try:
            raw = jwt.decode(
                token, self._public, algorithms=["EdDSA"], audience=AUDIENCE,
                issuer=self.issuer, leeway=LEEWAY_SECS,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"],
                         "verify_iat": False, "verify_exp": False},
            )
            return msgspec.convert(raw, AccessClaims, strict=False)
        except (jwt.PyJWTError, msgspec.ValidationError, KeyError, TypeError, ValueError):
            raise InvalidToken("invalid token") from None


def new_refresh_token() -> tuple[str, bytes]:
    """32 random bytes as 64 hex characters, and the SHA-256 that the server keeps."""
    token = secrets.token_hex(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
