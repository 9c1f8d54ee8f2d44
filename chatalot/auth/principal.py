"""Who is calling: one check shared by REST and (later) the WebSocket gateway.

`authenticate_access_token` verifies the JWT (signature, issuer, audience, expiry), then
looks the user and the token's session up in the decision tables, so a suspended or
deleted user, or a revoked session, stops working at once rather than when the token
expires. Roles come from the database too: a revoked admin loses admin rights at once; a
new grant needs a fresh token (the claim must also say so).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from psycopg_pool import AsyncConnectionPool

from chatalot.auth.tokens import AccessClaims, InvalidToken
from chatalot.domain.accounts.rules import Account
from chatalot.domain.errors import DomainError
from chatalot.per_loop import PerLoop, per_loop
from chatalot.read_rows import read_pipelined

if TYPE_CHECKING:
    from chatalot.accounts.runtime import AccountsRuntime

# One statement for every request waiting at that moment (see _Lookups): the i-th pair's
# row carries i; a pair without a row is an unknown user or session. The pairs go as one
# JSON array (chatalot/command_tx.py's Rows says why not as arrays).
_LOOKUP = (
    "SELECT k.i, u.username, u.is_admin, u.is_owner, u.status, s.revoked_at, s.expires_at"
    " FROM (SELECT (p->>0)::uuid AS user_id, (p->>1)::uuid AS session_id, i"
    "         FROM json_array_elements(%s::json) WITH ORDINALITY AS j(p, i)) k"
    " JOIN account_users u ON u.user_id = k.user_id"
    " JOIN account_sessions s ON s.session_id = k.session_id AND s.user_id = k.user_id"
)
_MAX_LOOKUPS = 256


def _pairs(pairs: list[tuple[uuid.UUID, uuid.UUID]]) -> tuple[str]:
    """_LOOKUP's parameters: the (user, session) pairs."""
    return (msgspec.json.encode(pairs).decode(),)


_Row = tuple[str, bool, bool, str, Any, Any]


class _Lookups:
    """The user-and-session lookups of concurrent requests, coalesced: those that arrive
    while one lookup statement runs share the next (one pool checkout, one statement).
    Each request's lookup still starts after the request arrived, so a revocation or
    suspension committed before it is seen, as with a lookup of its own."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool
        self._queue: list[tuple[uuid.UUID, uuid.UUID, asyncio.Future[_Row | None]]] = []
        self._running: asyncio.Task[None] | None = None
        self.statements = 0
        """Lookup statements run (tests read it)."""

    async def find(self, user_id: uuid.UUID, session_id: uuid.UUID) -> _Row | None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[_Row | None] = loop.create_future()
        self._queue.append((user_id, session_id, done))
        if self._running is None or self._running.done():
            self._running = loop.create_task(self._drain(), name="principal-lookups")
        return await asyncio.shield(done)

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:_MAX_LOOKUPS], self._queue[_MAX_LOOKUPS:]
            try:
                self.statements += 1
                async with self._pool.connection() as conn:
                    cur = await conn.execute(_LOOKUP, _pairs([(b[0], b[1]) for b in batch]))
                    rows = {int(r[0]): tuple(r[1:]) for r in await cur.fetchall()}
            except BaseException as exc:
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for i, (_, _, done) in enumerate(batch, start=1):
                if not done.done():
                    done.set_result(rows.get(i))


_LOOKUPS: PerLoop[AsyncConnectionPool[Any], _Lookups] = PerLoop()


def _lookups(pool: AsyncConnectionPool[Any]) -> _Lookups:
    return per_loop(_LOOKUPS, pool, lambda: _Lookups(pool))


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    session_id: uuid.UUID
    username: str
    is_admin: bool
    is_owner: bool

    @property
    def is_staff(self) -> bool:
        """Instance admin or owner."""
        return self.is_admin or self.is_owner

    @property
    def account(self) -> Account:
        return Account(self.user_id, self.username, self.is_admin, self.is_owner, "active")


def _refuse(message: str = "invalid or expired token") -> DomainError:
    return DomainError("unauthorized", message)


async def authenticate_access_token(rt: AccountsRuntime, token: str) -> Principal:
    """The caller behind an access token, or DomainError('unauthorized')."""
    claims = _verified(rt, token)
    return _judged(rt, claims, await _lookups(rt.pool).find(claims.sub, claims.sid))


async def authenticate_with_read(
    rt: AccountsRuntime, token: str, statement: bytes,
    params: Callable[[uuid.UUID], dict[str, Any]],
) -> tuple[Principal, dict[str, Any] | None]:
    """`authenticate_access_token`, with one read of the caller's pipelined behind the
    user-and-session lookup on one connection: one round trip for both (a download's file
    and its access check, whose wake-ups were most of a download's fixed cost). The read
    runs for the token's user (its signature is checked first) and its row comes back only
    once the lookup has found the session live, so a refused caller learns nothing."""
    claims = _verified(rt, token)
    async with rt.pool.connection() as conn:
        found, rows = await read_pipelined(
            conn, (_LOOKUP, _pairs([(claims.sub, claims.sid)])),
            (statement, params(claims.sub)))
    principal = _judged(rt, claims, tuple(found[0].values())[1:] if found else None)
    return principal, rows[0] if rows else None


def _verified(rt: AccountsRuntime, token: str) -> AccessClaims:
    try:
        return rt.tokens.verify_access(token)
    except InvalidToken:
        raise _refuse() from None


def _judged(rt: AccountsRuntime, claims: AccessClaims, row: _Row | None) -> Principal:
    if row is None:
        raise _refuse()
    username, is_admin, is_owner, status, revoked_at, expires_at = row
    if status != "active":
        raise _refuse("the account is suspended or deleted")
    if revoked_at is not None or expires_at <= rt.now():
        raise _refuse("the session has ended")
    return Principal(
        user_id=claims.sub,
        session_id=claims.sid,
        username=username,
        is_admin=claims.is_admin and is_admin,
        is_owner=claims.is_owner and is_owner,
    )
