"""Registering an account: the first account owns the instance, then the registration mode
decides; the initial key bundle is stored in the same transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import psycopg

from chatalot.accounts import contracts as c
from chatalot.accounts.commands.sessions import issue_access, start_session
from chatalot.accounts.runtime import AccountsRuntime
from chatalot.auth.passwords import hash_code, new_code
from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.domain.accounts import events as ev
from chatalot.domain.accounts import rules, validation
from chatalot.domain.accounts.rules import Account, Invite
from chatalot.domain.errors import conflict
from chatalot.domain.keys import rules as key_rules
from chatalot.domain.streams import invite_stream, user_stream
from chatalot.ids import uuid7
from chatalot.keys import commands as key_commands
from chatalot.request_info import RequestInfo, device_name
from event_store import NO_STREAM

_FIRST_USER_LOCK = 0x6163636F756E7431  # advisory lock: only one "first account" decision


@dataclass(frozen=True)
class Registered:
    account: Account
    display_name: str
    created_at: datetime
    access_token: str
    refresh_token: str
    recovery_code: str
    position: str
    session_id: uuid.UUID


async def register(rt: AccountsRuntime, req: c.RegisterRequest, info: RequestInfo
                   ) -> Registered:
    username = validation.validate_username(req.username)
    display_name = validation.validate_display_name(req.display_name or username)
    validation.validate_password(req.password, username=username, user_inputs=(
        display_name, req.email), min_score=rt.settings.security.password_min_score)
    email_key = validation.validate_email(req.email)
    bundle = key_rules.check_initial_bundle(req.identity_key, req.signed_prekey,
                                            req.one_time_prekeys)
    if req.invite_code is not None:
        validation.check_no_nul(req.invite_code, "invite_code")
    password_hash = await rt.hasher.hash(req.password)
    user_id = uuid7()
    recovery_code = new_code(4, 4)
    meta = info.metadata("register", user_id)
    mode = rt.settings.registration_mode

    async def work(tx: Tx) -> tuple[Account, uuid.UUID, str, datetime]:
        empty = await tx.fetchone("SELECT NOT EXISTS (SELECT 1 FROM account_users) AS empty")
        instance_empty = bool(empty and empty["empty"])
        if instance_empty:
            await tx.execute("SELECT pg_advisory_xact_lock(%s)", (_FIRST_USER_LOCK,))
            again = await tx.fetchone(
                "SELECT NOT EXISTS (SELECT 1 FROM account_users) AS empty")
            instance_empty = bool(again and again["empty"])
        invite: Invite | None = None
        if not instance_empty and req.invite_code and mode == "invite_only":
            row = await tx.fetchone(
                "SELECT invite_id, max_uses, used_count, expires_at, deleted"
                " FROM account_registration_invites WHERE code = %s FOR UPDATE",
                (req.invite_code,))
            invite = Invite(**row) if row else None
        grant = rules.decide_registration(
            mode, instance_empty=instance_empty, invite=invite,
            invite_code_given=bool(req.invite_code), now=tx.now)
        try:
            async with tx.conn.transaction():  # savepoint: turn a duplicate into a 409
                await tx.execute(
                    "INSERT INTO account_users (user_id, username, username_key, email_key,"
                    " is_admin, is_owner, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (user_id, username, validation.username_key(username), email_key,
                     grant.is_owner, grant.is_owner, tx.now))
        except psycopg.errors.UniqueViolation as exc:
            what = "email" if "email" in (exc.diag.constraint_name or "") else "username"
            raise conflict(f"that {what} is already taken") from None
        await tx.execute(
            "INSERT INTO account_credentials (user_id, password_hash, recovery_code_hash)"
            " VALUES (%s, %s, %s)",
            (user_id, password_hash, hash_code(str(user_id), recovery_code)))
        tx.append(user_stream(user_id), ev.UserRegistered(
            user_id=user_id, username=username, display_name=display_name, email=(req.email
            and req.email.strip()) or None, is_owner=grant.is_owner, is_admin=grant.is_owner,
            invite_id=grant.invite_id,
        ), expected=NO_STREAM)
        if grant.invite_id is not None and invite is not None:
            await tx.execute(
                "UPDATE account_registration_invites SET used_count = used_count + 1"
                " WHERE invite_id = %s", (grant.invite_id,))
            tx.append(invite_stream(grant.invite_id), ev.RegistrationInviteUsed(
                invite_id=grant.invite_id, user_id=user_id, used_count=invite.used_count + 1))
        await key_commands.record_initial_bundle(tx, user_id, bundle)
        account = Account(user_id, username, grant.is_owner, grant.is_owner, "active")
        session_id, refresh = await start_session(rt, tx, user_id, device_name(
            None, info.user_agent))
        return account, session_id, refresh, tx.now

    (account, session_id, refresh, created_at), position = await run_command(
        rt.store, meta, rt.now, work)
    return Registered(account, display_name, created_at, issue_access(rt, account, session_id),
                      refresh, recovery_code, position, session_id)
