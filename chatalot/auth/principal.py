"""Who is calling: one check shared by REST and (later) the WebSocket gateway.

`authenticate_access_token` verifies the JWT (signature, issuer, audience, expiry), then
looks the user and the token's session up in the decision tables, so a suspended or
deleted user, or a revoked session, stops working at once rather than when the token
expires. Roles come from the database too: a revoked admin loses admin rights at once; a
new grant needs a fresh token (the claim must also say so).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatalot.auth.tokens import InvalidToken
from chatalot.domain.accounts.rules import Account
from chatalot.domain.errors import DomainError

if TYPE_CHECKING:
    from chatalot.accounts.runtime import AccountsRuntime

_LOOKUP = (
    "SELECT u.username, u.is_admin, u.is_owner, u.status, s.revoked_at, s.expires_at"
    " FROM account_users u JOIN account_sessions s ON s.user_id = u.user_id"
    " WHERE u.user_id = %s AND s.session_id = %s"
)


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
    try:
        claims = rt.tokens.verify_access(token)
    except InvalidToken:
        raise _refuse() from None
    async with rt.pool.connection() as conn:
        cur = await conn.execute(_LOOKUP, (claims.sub, claims.sid))
        row = await cur.fetchone()
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
