"""Login, refresh and the lockout: every failed credential counts against the username
(and commits before the 401 goes out)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import msgspec

from chatalot.accounts import contracts as c
from chatalot.accounts.commands.sessions import issue_access, start_session
from chatalot.accounts.runtime import AccountsRuntime
from chatalot.accounts.state import account_by_username, account_from_row, query_one, read_throttle
from chatalot.auth import totp
from chatalot.auth.passwords import code_matches, hash_code
from chatalot.auth.tokens import hash_refresh_token, new_refresh_token
from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.domain.accounts import events as ev
from chatalot.domain.accounts import rules, validation
from chatalot.domain.accounts.rules import Account, Throttle
from chatalot.domain.errors import DomainError, forbidden
from chatalot.domain.streams import auth_day_stream, session_stream, user_stream
from chatalot.request_info import RequestInfo, device_name

_BAD_LOGIN = "invalid username or password"


# -- login, lockout ----------------------------------------------------------------------


@dataclass(frozen=True)
class LoggedIn:
    account: Account
    access_token: str
    refresh_token: str
    position: str
    session_id: uuid.UUID


async def record_failure(rt: AccountsRuntime, info: RequestInfo, command: str,
                         username: str, account: Account | None, reason: Any) -> None:
    """Count the failure against the username and log it; commits before the 401 goes out."""
    key = validation.username_key(username)
    actor = account.user_id if account else None

    async def work(tx: Tx) -> None:
        await tx.execute(
            "INSERT INTO account_login_throttle (username_key, failures, last_failure_at)"
            " VALUES (%s, 0, %s) ON CONFLICT DO NOTHING", (key, tx.now))
        row = await tx.fetchone(
            "SELECT failures, last_failure_at, locked_until FROM account_login_throttle"
            " WHERE username_key = %s FOR UPDATE", (key,))
        before = Throttle(**row) if row and row["failures"] > 0 else None
        after = rules.after_failure(before, tx.now, rt.lockout)
        await tx.execute(
            "UPDATE account_login_throttle SET failures = %s, last_failure_at = %s,"
            " locked_until = %s WHERE username_key = %s",
            (after.failures, after.last_failure_at, after.locked_until, key))
        event = ev.LoginFailed(
            username=username[:64], reason=reason, user_id=actor, failures=after.failures,
            locked_until=after.locked_until)
        stream = user_stream(actor) if actor else auth_day_stream(tx.now.date())
        tx.append(stream, event)

    await run_command(rt.store, info.metadata(command, actor), rt.now, work)


async def _record_locked(rt: AccountsRuntime, info: RequestInfo, command: str,
                         username: str, account: Account | None, exc: DomainError) -> None:
    actor = account.user_id if account else None

    async def work(tx: Tx) -> None:
        stream = user_stream(actor) if actor else auth_day_stream(tx.now.date())
        tx.append(stream, ev.LoginFailed(username=username[:64], reason="locked",
                                         user_id=actor))

    await run_command(rt.store, info.metadata(command, actor), rt.now, work)


async def check_lock(rt: AccountsRuntime, info: RequestInfo, command: str,
                     username: str, account: Account | None) -> None:
    try:
        rules.check_locked(await read_throttle(rt, validation.username_key(username)), rt.now())
    except DomainError as exc:
        await _record_locked(rt, info, command, username, account, exc)
        raise


async def login(rt: AccountsRuntime, req: c.LoginRequest, info: RequestInfo) -> LoggedIn:
    validation.check_username_shape(req.username)
    account, creds = await account_by_username(rt, req.username)
    await check_lock(rt, info, "login", req.username, account)
    if account is None or creds is None:
        await rt.hasher.verify_dummy(req.password)
        await record_failure(rt, info, "login", req.username, None, "unknown_user")
        raise DomainError("unauthorized", _BAD_LOGIN)
    if not await rt.hasher.verify(creds["password_hash"], req.password):
        await record_failure(rt, info, "login", req.username, account, "bad_password")
        raise DomainError("unauthorized", _BAD_LOGIN)
    if account.status != "active":
        await record_failure(rt, info, "login", req.username, account, "suspended")
        raise DomainError("unauthorized", "this account is suspended")
    second_factor = rules.choose_second_factor(creds["totp_secret"] is not None, req.totp_code)
    totp_step: int | None = None
    backup_hash: bytes | None = None
    if second_factor != "none":
        code = req.totp_code or ""
        secret = rt.box.open(account.user_id, creds["totp_secret"])
        if second_factor == "backup_code":
            backup_hash = hash_code(str(account.user_id), code)
            ok = any(code_matches(h, str(account.user_id), code)
                     for h in creds["backup_code_hashes"])
        else:
            totp_step = totp.matching_step(secret, code, rt.clock(),
                                           after_step=creds["totp_last_step"])
            ok = totp_step is not None
        if not ok:
            await record_failure(rt, info, "login", req.username, account, "totp_invalid")
            raise rules.second_factor_invalid()
    new_hash = None
    if rt.hasher.needs_rehash(creds["password_hash"]):
        new_hash = await rt.hasher.hash(req.password)

    async def work(tx: Tx) -> tuple[uuid.UUID, str]:
        if totp_step is not None:
            won = await tx.execute(
                "UPDATE account_credentials SET totp_last_step = %s WHERE user_id = %s"
                " AND (totp_last_step IS NULL OR totp_last_step < %s)",
                (totp_step, account.user_id, totp_step))
            if not won:
                raise DomainError("totp_invalid", "the TOTP code was already used")
        remaining = None
        if backup_hash is not None:
            row = await tx.fetchone(
                "UPDATE account_credentials SET backup_code_hashes ="
                " array_remove(backup_code_hashes, %s) WHERE user_id = %s"
                " AND %s = ANY (backup_code_hashes)"
                " RETURNING cardinality(backup_code_hashes) AS remaining",
                (backup_hash, account.user_id, backup_hash))
            if row is None:
                raise DomainError("totp_invalid", "the backup code was already used")
            remaining = row["remaining"]
        await tx.execute("DELETE FROM account_login_throttle WHERE username_key = %s",
                         (validation.username_key(account.username),))
        if new_hash is not None:
            await tx.execute("UPDATE account_credentials SET password_hash = %s"
                             " WHERE user_id = %s", (new_hash, account.user_id))
        session_id, refresh = await start_session(
            rt, tx, account.user_id, device_name(req.device_name, info.user_agent))
        events: list[msgspec.Struct] = [ev.LoginSucceeded(
            user_id=account.user_id, session_id=session_id, second_factor=second_factor)]
        if remaining is not None:
            events.append(ev.BackupCodeUsed(user_id=account.user_id, remaining=remaining))
        if new_hash is not None:
            events.append(ev.PasswordChanged(user_id=account.user_id, reason="rehashed"))
        tx.append(user_stream(account.user_id), *events)
        return session_id, refresh

    (session_id, refresh), position = await run_command(
        rt.store, info.metadata("login", account.user_id), rt.now, work)
    return LoggedIn(account, issue_access(rt, account, session_id), refresh, position, session_id)


# -- refresh -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Refreshed:
    access_token: str
    refresh_token: str
    position: str
    session_id: uuid.UUID


async def refresh(rt: AccountsRuntime, token: str, info: RequestInfo) -> Refreshed:
    digest = hash_refresh_token(token)
    new_token, new_digest = new_refresh_token()

    async def work(tx: Tx) -> tuple[Account, uuid.UUID]:
        row = await tx.fetchone(
            "SELECT t.session_id, t.rotated_at, s.user_id, s.expires_at, s.revoked_at,"
            " u.username, u.is_admin, u.is_owner, u.status"
            " FROM account_refresh_tokens t JOIN account_sessions s USING (session_id)"
            " JOIN account_users u USING (user_id) WHERE t.token_hash = %s"
            # the token row too: a waiter must then see its rotated_at as committed, not as
            # it was when its statement began, or one token rotates once per waiter
            " FOR UPDATE OF t, s", (digest,))
        if row is None:
            raise DomainError("unauthorized", "unknown refresh token")
        sid, user_id = row["session_id"], row["user_id"]
        tx.meta = msgspec.structs.replace(tx.meta, actor_id=str(user_id))
        reuse = rules.decide_refresh(rules.PresentedRefreshToken(
            session_id=sid, user_id=user_id, rotated=row["rotated_at"] is not None,
            session_revoked=row["revoked_at"] is not None,
            session_expires_at=row["expires_at"], account_status=row["status"]), tx.now)
        if reuse is not None:
            if reuse.revoke_session:
                await tx.execute("UPDATE account_sessions SET revoked_at = %s"
                                 " WHERE session_id = %s", (tx.now, sid))
            tx.append(session_stream(sid), *reuse.events)
            tx.refuse(reuse.refusal)
        expires = tx.now + timedelta(days=rt.settings.security.refresh_token_ttl_days)
        await tx.execute("UPDATE account_refresh_tokens SET rotated_at = %s"
                         " WHERE token_hash = %s", (tx.now, digest))
        await tx.execute(
            "INSERT INTO account_refresh_tokens (token_hash, session_id, issued_at)"
            " VALUES (%s, %s, %s)", (new_digest, sid, tx.now))
        await tx.execute("UPDATE account_sessions SET expires_at = %s"
                         " WHERE session_id = %s", (expires, sid))
        tx.append(session_stream(sid), ev.SessionRefreshed(
            session_id=sid, user_id=user_id, expires_at=expires))
        return Account(user_id, row["username"], row["is_admin"], row["is_owner"],
                       "active"), sid

    (account, sid), position = await run_command(
        rt.store, info.metadata("refresh", None), rt.now, work)
    return Refreshed(issue_access(rt, account, sid), new_token, position, sid)


# -- the current password, for sensitive commands ----------------------------------------


async def verify_own_password(rt: AccountsRuntime, info: RequestInfo, command: str,
                              user_id: uuid.UUID, password: str) -> Account:
    """For sensitive account commands: the current password, counted like a login."""
    row = await query_one(
        rt, "SELECT u.user_id, u.username, u.is_admin, u.is_owner, u.status, c.password_hash"
        " FROM account_users u JOIN account_credentials c USING (user_id)"
        " WHERE u.user_id = %s", (user_id,))
    account = account_from_row(row)
    if account is None or row is None or account.status != "active":
        raise DomainError("unauthorized", "the account is not active")
    await check_lock(rt, info, command, account.username, account)
    if not await rt.hasher.verify(row["password_hash"], password):
        await record_failure(rt, info, command, account.username, account, "bad_password")
        raise forbidden("the password is incorrect")
    return account
