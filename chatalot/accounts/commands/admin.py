"""Instance administration: suspend, roles, password reset, registration invites."""

from __future__ import annotations

import secrets
import string
import uuid
from datetime import datetime

from chatalot.accounts import contracts as c
from chatalot.accounts.commands.sessions import revoke_sessions
from chatalot.accounts.runtime import AccountsRuntime
from chatalot.accounts.state import load_account, lock_account
from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.domain.accounts import events as ev
from chatalot.domain.accounts import rules, validation
from chatalot.domain.accounts.rules import Account
from chatalot.domain.errors import forbidden, not_found
from chatalot.domain.streams import invite_stream, user_stream
from chatalot.ids import uuid7
from chatalot.request_info import RequestInfo
from event_store import NO_STREAM

_INVITE_ALPHABET = string.ascii_letters + string.digits


async def suspend(rt: AccountsRuntime, actor: Account, target_id: uuid.UUID,
                  reason: str | None, info: RequestInfo) -> str:
    reason = (validation.validate_text(reason, "reason", validation.SUSPEND_REASON_MAX)
              if reason else None)

    async def work(tx: Tx) -> None:
        target = await lock_account(tx, target_id)
        rules.decide_suspend(actor, target)
        await tx.execute("UPDATE account_users SET status = 'suspended' WHERE user_id = %s",
                         (target_id,))
        tx.append(user_stream(target_id), ev.UserSuspended(
            user_id=target_id, reason=reason or None))
        await revoke_sessions(tx, target_id, "suspended")

    _, position = await run_command(
        rt.store, info.metadata("admin_suspend_user", actor.user_id), rt.now, work)
    return position


async def unsuspend(rt: AccountsRuntime, actor: Account, target_id: uuid.UUID,
                    info: RequestInfo) -> str:
    async def work(tx: Tx) -> None:
        target = await lock_account(tx, target_id)
        rules.decide_unsuspend(actor, target)
        await tx.execute("UPDATE account_users SET status = 'active' WHERE user_id = %s",
                         (target_id,))
        tx.append(user_stream(target_id), ev.UserUnsuspended(user_id=target_id))

    _, position = await run_command(
        rt.store, info.metadata("admin_unsuspend_user", actor.user_id), rt.now, work)
    return position


async def set_admin(rt: AccountsRuntime, actor: Account, target_id: uuid.UUID,
                    is_admin: bool, info: RequestInfo) -> str:
    command = "admin_grant_admin" if is_admin else "admin_revoke_admin"

    async def work(tx: Tx) -> None:
        target = await lock_account(tx, target_id)
        rules.decide_set_admin(actor, target, is_admin)
        await tx.execute("UPDATE account_users SET is_admin = %s WHERE user_id = %s",
                         (is_admin, target_id))
        event = (ev.AdminGranted if is_admin else ev.AdminRevoked)(user_id=target_id)
        tx.append(user_stream(target_id), event)

    _, position = await run_command(
        rt.store, info.metadata(command, actor.user_id), rt.now, work)
    return position


async def reset_password(rt: AccountsRuntime, actor: Account, target_id: uuid.UUID,
                         new_password: str, info: RequestInfo) -> str:
    target = await load_account(rt, target_id)
    if target is None or target.status == "deleted":
        raise not_found("no such user")
    rules.check_can_moderate(actor, target)
    validation.validate_password(new_password, username=target.username,
                            min_score=rt.settings.security.password_min_score)
    new_hash = await rt.hasher.hash(new_password)

    async def work(tx: Tx) -> None:
        target = await lock_account(tx, target_id)
        rules.check_can_moderate(actor, target)
        await tx.execute("UPDATE account_credentials SET password_hash = %s WHERE user_id = %s",
                         (new_hash, target_id))
        tx.append(user_stream(target_id), ev.PasswordChanged(
            user_id=target_id, reason="admin_reset"))
        await revoke_sessions(tx, target_id, "admin_password_reset")

    _, position = await run_command(
        rt.store, info.metadata("admin_reset_password", actor.user_id), rt.now, work)
    return position


async def create_invite(rt: AccountsRuntime, actor: Account, req: c.CreateInviteRequest,
                        info: RequestInfo) -> tuple[c.RegistrationInvite, str]:
    if not actor.is_staff:
        raise forbidden("instance admin only")
    now = rt.now()
    expires_at = rules.validate_invite_request(req.max_uses, req.expires_in_hours, now)
    invite_id = uuid7()
    code = "".join(secrets.choice(_INVITE_ALPHABET) for _ in range(12))

    async def work(tx: Tx) -> datetime:
        await tx.execute(
            "INSERT INTO account_registration_invites (invite_id, code, max_uses, expires_at)"
            " VALUES (%s, %s, %s, %s)", (invite_id, code, req.max_uses, expires_at))
        tx.append(invite_stream(invite_id), ev.RegistrationInviteCreated(
            invite_id=invite_id, code=code, created_by=actor.user_id, max_uses=req.max_uses,
            expires_at=expires_at), expected=NO_STREAM)
        return tx.now

    created_at, position = await run_command(
        rt.store, info.metadata("admin_create_invite", actor.user_id), rt.now, work)
    invite = c.RegistrationInvite(
        id=invite_id, code=code, created_by=actor.user_id, max_uses=req.max_uses,
        used_count=0, expires_at=_iso(expires_at), created_at=_iso(created_at) or "")
    return invite, position


async def delete_invite(rt: AccountsRuntime, actor: Account, invite_id: uuid.UUID,
                        info: RequestInfo) -> str:
    async def work(tx: Tx) -> None:
        done = await tx.execute(
            "UPDATE account_registration_invites SET deleted = true WHERE invite_id = %s"
            " AND NOT deleted", (invite_id,))
        if not done:
            raise not_found("no such invite")
        tx.append(invite_stream(invite_id), ev.RegistrationInviteDeleted(
            invite_id=invite_id))

    _, position = await run_command(
        rt.store, info.metadata("admin_delete_invite", actor.user_id), rt.now, work)
    return position


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
