"""Login sessions: starting one (refresh-token family), revoking them, issuing the access
token; the revoke commands of the session routes."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from chatalot.accounts.runtime import AccountsRuntime
from chatalot.auth.tokens import new_refresh_token
from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.domain.accounts import events as ev
from chatalot.domain.accounts.rules import Account
from chatalot.domain.errors import conflict, not_found
from chatalot.domain.streams import session_stream
from chatalot.ids import uuid7
from chatalot.request_info import RequestInfo
from event_store import NO_STREAM

# -- starting, revoking (shared by the commands that log in or end sessions) -------------


async def start_session(rt: AccountsRuntime, tx: Tx, user_id: uuid.UUID,
                        device: str | None) -> tuple[uuid.UUID, str]:
    session_id = uuid7()
    token, digest = new_refresh_token()
    expires = tx.now + timedelta(days=rt.settings.security.refresh_token_ttl_days)
    await tx.execute(
        "INSERT INTO account_sessions (session_id, user_id, created_at, expires_at)"
        " VALUES (%s, %s, %s, %s)", (session_id, user_id, tx.now, expires))
    await tx.execute(
        "INSERT INTO account_refresh_tokens (token_hash, session_id, issued_at)"
        " VALUES (%s, %s, %s)", (digest, session_id, tx.now))
    tx.append(session_stream(session_id), ev.SessionStarted(
        session_id=session_id, user_id=user_id, device_name=device, expires_at=expires,
    ), expected=NO_STREAM)
    return session_id, token


async def revoke_sessions(tx: Tx, user_id: uuid.UUID, reason: Any,
                          keep: uuid.UUID | None = None) -> int:
    rows = await tx.fetchall(
        "UPDATE account_sessions SET revoked_at = %s WHERE user_id = %s AND revoked_at IS NULL"
        " AND expires_at > %s AND session_id IS DISTINCT FROM %s RETURNING session_id",
        (tx.now, user_id, tx.now, keep))
    for row in sorted(rows, key=lambda r: r["session_id"]):
        sid = row["session_id"]
        tx.append(session_stream(sid), ev.SessionRevoked(
            session_id=sid, user_id=user_id, reason=reason))
    return len(rows)


def issue_access(rt: AccountsRuntime, account: Account, session_id: uuid.UUID) -> str:
    return rt.tokens.issue_access(
        user_id=account.user_id, session_id=session_id, username=account.username,
        is_admin=account.is_admin, is_owner=account.is_owner)


# -- the session routes ------------------------------------------------------------------


async def revoke_session(rt: AccountsRuntime, user_id: uuid.UUID, session_id: uuid.UUID,
                         info: RequestInfo) -> str:
    async def work(tx: Tx) -> None:
        row = await tx.fetchone(
            "SELECT revoked_at, expires_at FROM account_sessions WHERE session_id = %s"
            " AND user_id = %s FOR UPDATE", (session_id, user_id))
        if row is None:
            raise not_found("no such session")
        if row["revoked_at"] is not None or row["expires_at"] <= tx.now:
            raise conflict("the session has already ended")
        await tx.execute("UPDATE account_sessions SET revoked_at = %s WHERE session_id = %s",
                         (tx.now, session_id))
        tx.append(session_stream(session_id), ev.SessionRevoked(
            session_id=session_id, user_id=user_id, reason="revoked"))

    _, position = await run_command(
        rt.store, info.metadata("revoke_session", user_id), rt.now, work)
    return position


async def revoke_other_sessions(rt: AccountsRuntime, user_id: uuid.UUID,
                                session_id: uuid.UUID, info: RequestInfo
                                ) -> tuple[int, str | None]:
    """`position` is None when there was no other session: nothing happened, nothing is
    recorded."""

    async def work(tx: Tx) -> int:
        return await revoke_sessions(tx, user_id, "revoked_all_others", keep=session_id)

    return await run_command(rt.store, info.metadata("revoke_all_sessions", user_id),
                             rt.now, work, may_record_nothing=True)
