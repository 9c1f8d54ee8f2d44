"""Idempotency-Key (docs/idempotency.md): a retried REST command has its effect
once and gets the original reply.

The key is claimed inside the command's own transaction (command_tx), so the claim and the
command's events commit together or not at all: no effect without its claim, no claim
without its effect. The reply is stored once it has been sent, sealed (ChaCha20-Poly1305)
under a key derived from the Idempotency-Key, which the table never holds: replies that
carry tokens or recovery codes are not readable at rest. Keys are therefore at least 16
characters (a UUID is the usual choice).
"""

from __future__ import annotations

import hashlib
import os
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
import psycopg
from psycopg_pool import AsyncConnectionPool

from chatalot.domain.errors import DomainError
from chatalot_crypto.primitives import aead_decrypt, aead_encrypt, hkdf_sha256

KEY_MIN_LENGTH = 16
KEY_MAX_LENGTH = 255
RETENTION = timedelta(hours=24)
LOST_AFTER = timedelta(minutes=1)
"""A claim without its reply for this long lost it (its process died after the commit)."""
_SEAL_INFO = b"chatalot-idempotent-reply"


class StoredReply(msgspec.Struct, array_like=True):
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class Claim:
    """One request's Idempotency-Key, as the middleware hands it to command_tx."""

    lookup: bytes
    fingerprint: bytes
    seal_key: bytes
    committed: bool = False  # a transaction of this request committed the claim
    streamed: StreamedBody | None = None
    """A body too large to buffer: hashed as the app reads it; the fingerprint is taken
    from what was read when the command claims the key (an upload has read its whole
    form by then)."""

    def settle(self) -> None:
        if self.streamed is not None:
            self.fingerprint = self.streamed.fingerprint()

    def __repr__(self) -> str:  # the seal key opens the stored reply: never print it
        return f"Claim(lookup={self.lookup.hex()}, committed={self.committed})"


current_claim: ContextVar[Claim | None] = ContextVar("chatalot_idempotency", default=None)


def key_problem(key: str) -> str | None:
    """Why a header value cannot be an Idempotency-Key, or None when it can."""
    if not KEY_MIN_LENGTH <= len(key) <= KEY_MAX_LENGTH:
        return (f"Idempotency-Key must be {KEY_MIN_LENGTH} to {KEY_MAX_LENGTH} characters"
                " (a UUID is fine)")
    if not all("!" <= ch <= "~" for ch in key):
        return "Idempotency-Key must be visible ASCII characters"
    return None


def _digest(*parts: bytes) -> bytes:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.digest()


class StreamedBody:
    """The fingerprint of a request whose body is hashed as it passes, never held."""

    def __init__(self, method: str, path: str) -> None:
        self.head = _digest(b"streamed", method.encode(), path.encode())
        self.hash = hashlib.sha256()

    def update(self, chunk: bytes) -> None:
        self.hash.update(chunk)

    def fingerprint(self) -> bytes:
        return _digest(self.head, self.hash.digest())


def make_streamed_claim(caller: str, key: str, method: str, path: str) -> Claim:
    """The claim of a body over the buffering limit (an upload): same lookup and seal key
    as `make_claim`, its fingerprint settled once the body has been read."""
    claim = make_claim(caller, key, method, path, b"")
    claim.streamed = StreamedBody(method, path)
    return claim


def make_claim(caller: str, key: str, method: str, path: str, body: bytes) -> Claim:
    """`caller` scopes the key: the same key from two users names two commands."""
    lookup = _digest(b"lookup", caller.encode(), key.encode())
    return Claim(
        lookup=lookup,
        fingerprint=_digest(method.encode(), path.encode(), body),
        seal_key=hkdf_sha256(key.encode(), lookup, _SEAL_INFO, 32),
    )


async def claim_in(conn: psycopg.AsyncConnection[Any], claim: Claim, now: datetime) -> None:
    """Claim the key in the command's transaction. A claim that exists (done, or committed
    a moment ago by a concurrent retry: the insert waits for it) refuses this request."""
    claim.settle()
    cur = await conn.execute(
        "INSERT INTO idempotency_keys (lookup, fingerprint, created_at) VALUES (%s, %s, %s)"
        " ON CONFLICT (lookup) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,"
        " created_at = EXCLUDED.created_at, status = NULL, reply = NULL"
        " WHERE idempotency_keys.created_at < %s",
        (claim.lookup, claim.fingerprint, now, now - RETENTION))
    if cur.rowcount != 1:
        raise in_progress()


def in_progress() -> DomainError:
    return DomainError("conflict", "a request with this Idempotency-Key is in progress;"
                       " retry to get its reply", retry_after_secs=1)


@dataclass(frozen=True)
class Found:
    """A live claim of the key: what the first request did, or None while it runs."""

    same_request: bool
    created_at: datetime
    reply: StoredReply | None


async def find(pool: AsyncConnectionPool[Any], claim: Claim, now: datetime) -> Found | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT fingerprint, created_at, status, reply FROM idempotency_keys"
            " WHERE lookup = %s AND created_at >= %s", (claim.lookup, now - RETENTION))
        row = await cur.fetchone()
    if row is None:
        return None
    fingerprint, created_at, status, sealed = row
    if fingerprint != claim.fingerprint:
        return Found(same_request=False, created_at=created_at, reply=None)
    if status is None:
        return Found(same_request=True, created_at=created_at, reply=None)
    plain = aead_decrypt(claim.seal_key, sealed[:12], sealed[12:], claim.lookup)
    return Found(same_request=True, created_at=created_at,
                 reply=msgspec.msgpack.decode(plain, type=StoredReply))


async def store_reply(pool: AsyncConnectionPool[Any], claim: Claim, reply: StoredReply) -> None:
    nonce = os.urandom(12)
    sealed = nonce + aead_encrypt(claim.seal_key, nonce, msgspec.msgpack.encode(reply),
                                  claim.lookup)
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE idempotency_keys SET status = %s, reply = %s"
            " WHERE lookup = %s AND status IS NULL", (reply.status, sealed, claim.lookup))


async def forget_expired(pool: AsyncConnectionPool[Any], now: datetime) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute("DELETE FROM idempotency_keys WHERE created_at < %s",
                                 (now - RETENTION,))
        return int(cur.rowcount)
