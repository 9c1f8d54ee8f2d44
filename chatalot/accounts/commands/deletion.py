"""Deleting an account (by its owner or an admin) and redacting the personal data of its
events, finished at start-up when a run was interrupted."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from chatalot.accounts.commands.login import verify_own_password
from chatalot.accounts.commands.sessions import revoke_sessions
from chatalot.accounts.runtime import AccountsRuntime
from chatalot.accounts.state import load_account, lock_account
from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.domain.accounts import events as ev
from chatalot.domain.accounts import rules
from chatalot.domain.accounts.rules import Account
from chatalot.domain.errors import not_found
from chatalot.domain.streams import user_stream
from chatalot.keys import commands as key_commands
from chatalot.request_info import RequestInfo
from chatalot.spaces import state as spaces_state
from event_store import Metadata

log = logging.getLogger(__name__)


async def delete_own_account(rt: AccountsRuntime, user_id: uuid.UUID, password: str,
                             info: RequestInfo) -> str:
    account = await verify_own_password(rt, info, "delete_account", user_id, password)
    rules.decide_self_delete(account)
    return await _delete(rt, account, account, "self", info)


async def admin_delete(rt: AccountsRuntime, actor: Account, target_id: uuid.UUID,
                       info: RequestInfo) -> str:
    target = await load_account(rt, target_id)
    if target is None or target.status == "deleted":
        raise not_found("no such user")
    rules.check_can_moderate(actor, target)
    return await _delete(rt, actor, target, "admin", info)


async def _delete(rt: AccountsRuntime, actor: Account, target: Account, by: Any,
                  info: RequestInfo) -> str:
    command = "delete_account" if by == "self" else "admin_delete_user"
    uid = target.user_id

    async def work(tx: Tx) -> None:
        locked = await lock_account(tx, uid)
        if by == "admin":
            rules.check_can_moderate(actor, locked)
        # the name goes too (issue 11's raw scan found it here and in the login throttle)
        await tx.execute(
            "DELETE FROM account_login_throttle WHERE username_key ="
            " (SELECT username_key FROM account_users WHERE user_id = %s)", (uid,))
        await tx.execute(
            "UPDATE account_users SET status = 'deleted', username = %s, username_key = NULL,"
            " email_key = NULL, preferences = '{}', is_admin = false,"
            " redaction_pending = true WHERE user_id = %s", (rules.deleted_username(uid), uid))
        await tx.execute("DELETE FROM account_credentials WHERE user_id = %s", (uid,))
        await tx.execute("DELETE FROM account_blocks WHERE user_id = %s"
                         " OR blocked_user_id = %s", (uid, uid))
        await key_commands.discard_keys(tx, uid)
        await spaces_state.forget_member(tx, uid)
        await revoke_sessions(tx, uid, "deleted")
        tx.append(user_stream(uid), ev.UserDeleted(user_id=uid, by=by))

    _, position = await run_command(
        rt.store, info.metadata(command, actor.user_id), rt.now, work)
    await redact_deleted(rt, uid, info.metadata(command, actor.user_id))
    return position


async def redact_deleted(rt: AccountsRuntime, user_id: uuid.UUID, meta: Metadata) -> int:
    """Redact the personal data in a deleted account's stream; idempotent, so a run that
    was interrupted is finished by `finish_pending_redactions` at start-up."""
    stream = user_stream(user_id)
    done = 0
    version = 1
    while True:
        batch = await rt.store.read_stream(stream, from_version=version, limit=500)
        for recorded in batch:
            replacement = None if recorded.redacted else rules.deletion_redaction(
                recorded.data)
            if replacement is not None:
                await rt.store.redact(recorded.event_id, replacement,
                                      reason="account deleted", metadata=meta)
                done += 1
        if len(batch) < 500:
            break
        version = batch[-1].version + 1
    async with rt.pool.connection() as conn:
        await conn.execute("UPDATE account_users SET redaction_pending = false"
                           " WHERE user_id = %s", (user_id,))
    return done


async def finish_pending_redactions(rt: AccountsRuntime) -> int:
    async with rt.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT user_id FROM account_users WHERE redaction_pending")
        pending = [row[0] for row in await cur.fetchall()]
    for user_id in pending:
        log.info("finishing the redaction of deleted account %s", user_id)
        await redact_deleted(rt, user_id, Metadata(command="finish_redaction"))
    return len(pending)
