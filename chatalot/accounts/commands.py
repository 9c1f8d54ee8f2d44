"""Account commands: load decision state, apply the domain rules, append events and update
the decision tables, all in one short transaction.

Password hashing (the slow part) always happens before the transaction opens, so a
transaction never waits on Argon2. Each function returns what the HTTP reply needs,
including the position of its last event.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import secrets
import string
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from chatalot.accounts import contracts as c
from chatalot.accounts.runtime import AccountsRuntime
from chatalot.auth import totp
from chatalot.auth.passwords import code_matches, hash_code, new_code
from chatalot.auth.tokens import hash_refresh_token, new_refresh_token
from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.crypto.errors import CryptoError
from chatalot.crypto.keys import (
    validate_identity_key,
    validate_key_id,
    validate_x25519_public,
    verify_signed_prekey,
)
from chatalot.domain.accounts import events as ev
from chatalot.domain.accounts import rules
from chatalot.domain.accounts.rules import Account, Invite, Throttle
from chatalot.domain.errors import DomainError, bad_request, conflict, forbidden, not_found
from chatalot.domain.streams import (
    auth_day_stream,
    invite_stream,
    keys_stream,
    report_stream,
    session_stream,
    user_stream,
)
from chatalot.ids import uuid7
from chatalot.request_info import RequestInfo, device_name
from event_store import NO_STREAM, ConcurrencyError, Metadata

log = logging.getLogger(__name__)

Conn = psycopg.AsyncConnection[Any]
_FIRST_USER_LOCK = 0x6163636F756E7431  # advisory lock: only one "first account" decision
_INVITE_ALPHABET = string.ascii_letters + string.digits
_BAD_LOGIN = "invalid username or password"


# -- reading --------------------------------------------------------------------------------


async def _query_one(rt: AccountsRuntime, sql: str, params: Any) -> dict[str, Any] | None:
    async with rt.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        row: dict[str, Any] | None = await cur.fetchone()
        return row


_ACCOUNT_COLUMNS = "user_id, username, is_admin, is_owner, status"


def _account(row: dict[str, Any] | None) -> Account | None:
    if row is None:
        return None
    return Account(row["user_id"], row["username"], row["is_admin"], row["is_owner"],
                   row["status"])


async def load_account(rt: AccountsRuntime, user_id: uuid.UUID) -> Account | None:
    return _account(await _query_one(
        rt, f"SELECT {_ACCOUNT_COLUMNS} FROM account_users WHERE user_id = %s", (user_id,)))


async def _lock_account(tx: Tx, user_id: uuid.UUID) -> Account:
    account = _account(await tx.fetchone(
        f"SELECT {_ACCOUNT_COLUMNS} FROM account_users WHERE user_id = %s FOR UPDATE",
        (user_id,)))
    if account is None or account.status == "deleted":
        raise not_found("no such user")
    return account


# -- sessions ----------------------------------------------------------------------------


async def _start_session(rt: AccountsRuntime, tx: Tx, user_id: uuid.UUID,
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


async def _revoke_sessions(tx: Tx, user_id: uuid.UUID, reason: Any,
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


def _issue(rt: AccountsRuntime, account: Account, session_id: uuid.UUID) -> str:
    return rt.tokens.issue_access(
        user_id=account.user_id, session_id=session_id, username=account.username,
        is_admin=account.is_admin, is_owner=account.is_owner)


# -- registration ------------------------------------------------------------------------


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(f"{what} is not valid base64") from None


@dataclass(frozen=True)
class _Keys:
    identity: bytes
    fingerprint: str
    signed: tuple[int, bytes, bytes]
    one_time: list[tuple[int, bytes]]


def _check_keys(req: c.RegisterRequest) -> _Keys:
    identity = _b64(req.identity_key, "identity_key")
    spk_public = _b64(req.signed_prekey.public_key, "signed_prekey.public_key")
    signature = _b64(req.signed_prekey.signature, "signed_prekey.signature")
    try:
        validate_identity_key(identity)
        validate_key_id(req.signed_prekey.key_id)
        verify_signed_prekey(identity, spk_public, signature)
    except CryptoError as exc:
        raise bad_request(f"signed prekey refused: {exc}") from None
    one_time: list[tuple[int, bytes]] = []
    seen: set[int] = set()
    for index, item in enumerate(req.one_time_prekeys):
        public = _b64(item.public_key, f"one_time_prekeys[{index}].public_key")
        try:
            validate_key_id(item.key_id)
            validate_x25519_public(public)
        except CryptoError as exc:
            raise bad_request(f"one_time_prekeys[{index}] refused: {exc}") from None
        if item.key_id in seen:
            raise bad_request(f"one_time_prekeys[{index}]: duplicate key_id")
        seen.add(item.key_id)
        one_time.append((item.key_id, public))
    return _Keys(identity, hashlib.sha256(identity).hexdigest(),
                 (req.signed_prekey.key_id, spk_public, signature), one_time)


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
    username = rules.validate_username(req.username)
    display_name = rules.validate_display_name(req.display_name or username)
    rules.validate_password(req.password, username=username, user_inputs=(
        display_name, req.email), min_score=rt.settings.security.password_min_score)
    email_key = rules.validate_email(req.email)
    keys = _check_keys(req)
    if req.invite_code is not None:
        rules.check_no_nul(req.invite_code, "invite_code")
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
                    (user_id, username, rules.username_key(username), email_key,
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
        await _register_keys(tx, user_id, keys)
        account = Account(user_id, username, grant.is_owner, grant.is_owner, "active")
        session_id, refresh = await _start_session(rt, tx, user_id, device_name(
            None, info.user_agent))
        return account, session_id, refresh, tx.now

    (account, session_id, refresh, created_at), position = await run_command(
        rt.store, meta, rt.now, work)
    return Registered(account, display_name, created_at, _issue(rt, account, session_id),
                      refresh, recovery_code, position, session_id)


async def _register_keys(tx: Tx, user_id: uuid.UUID, keys: _Keys) -> None:
    await tx.execute(
        "INSERT INTO account_identity_keys (user_id, identity_key, fingerprint)"
        " VALUES (%s, %s, %s)", (user_id, keys.identity, keys.fingerprint))
    key_id, public, signature = keys.signed
    await tx.execute(
        "INSERT INTO account_signed_prekeys (user_id, key_id, public_key, signature,"
        " created_at) VALUES (%s, %s, %s, %s, %s)",
        (user_id, key_id, public, signature, tx.now))
    if keys.one_time:
        async with tx.conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO account_one_time_prekeys (user_id, key_id, public_key)"
                " VALUES (%s, %s, %s)", [(user_id, k, p) for k, p in keys.one_time])
    b64 = base64.b64encode
    stream = keys_stream(user_id)
    events: list[msgspec.Struct] = [
        ev.IdentityKeyRegistered(user_id=user_id, identity_key=b64(keys.identity).decode(),
                                 fingerprint=keys.fingerprint),
        ev.SignedPrekeyUploaded(user_id=user_id, key_id=key_id,
                                public_key=b64(public).decode(),
                                signature=b64(signature).decode()),
    ]
    if keys.one_time:
        events.append(ev.OneTimePrekeysUploaded(user_id=user_id, prekeys=[
            ev.PrekeyUpload(k, b64(p).decode()) for k, p in keys.one_time]))
    tx.append(stream, *events, expected=NO_STREAM)


# -- login, lockout ----------------------------------------------------------------------


@dataclass(frozen=True)
class LoggedIn:
    account: Account
    access_token: str
    refresh_token: str
    position: str
    session_id: uuid.UUID


async def _throttle(rt: AccountsRuntime, key: str) -> Throttle | None:
    row = await _query_one(
        rt, "SELECT failures, last_failure_at, locked_until FROM account_login_throttle"
        " WHERE username_key = %s", (key,))
    return Throttle(**row) if row else None


async def _record_failure(rt: AccountsRuntime, info: RequestInfo, command: str,
                          username: str, account: Account | None, reason: Any) -> None:
    """Count the failure against the username and log it; commits before the 401 goes out."""
    key = rules.username_key(username)
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


async def _account_by_username(rt: AccountsRuntime, username: str
                               ) -> tuple[Account | None, dict[str, Any] | None]:
    row = await _query_one(
        rt, "SELECT u.user_id, u.username, u.is_admin, u.is_owner, u.status,"
        " c.password_hash, c.recovery_code_hash, c.totp_secret, c.totp_last_step,"
        " c.backup_code_hashes FROM account_users u JOIN account_credentials c USING (user_id)"
        " WHERE u.username_key = %s AND u.status <> 'deleted'",
        (rules.username_key(username),))
    return _account(row), row


async def _check_lock(rt: AccountsRuntime, info: RequestInfo, command: str,
                      username: str, account: Account | None) -> None:
    try:
        rules.check_locked(await _throttle(rt, rules.username_key(username)), rt.now())
    except DomainError as exc:
        await _record_locked(rt, info, command, username, account, exc)
        raise


async def login(rt: AccountsRuntime, req: c.LoginRequest, info: RequestInfo) -> LoggedIn:
    rules.check_username_shape(req.username)
    account, creds = await _account_by_username(rt, req.username)
    await _check_lock(rt, info, "login", req.username, account)
    if account is None or creds is None:
        await rt.hasher.verify_dummy(req.password)
        await _record_failure(rt, info, "login", req.username, None, "unknown_user")
        raise DomainError("unauthorized", _BAD_LOGIN)
    if not await rt.hasher.verify(creds["password_hash"], req.password):
        await _record_failure(rt, info, "login", req.username, account, "bad_password")
        raise DomainError("unauthorized", _BAD_LOGIN)
    if account.status != "active":
        await _record_failure(rt, info, "login", req.username, account, "suspended")
        raise DomainError("unauthorized", "this account is suspended")
    second_factor: Any = "none"
    totp_step: int | None = None
    backup_hash: bytes | None = None
    if creds["totp_secret"] is not None:
        if not req.totp_code:
            raise DomainError("totp_required", "a TOTP code is required for this account")
        secret = rt.box.open(account.user_id, creds["totp_secret"])
        if totp.is_backup_code_shape(req.totp_code):
            backup_hash = hash_code(str(account.user_id), req.totp_code)
            ok = any(code_matches(h, str(account.user_id), req.totp_code)
                     for h in creds["backup_code_hashes"])
            second_factor = "backup_code"
        else:
            totp_step = totp.matching_step(secret, req.totp_code, rt.clock(),
                                           after_step=creds["totp_last_step"])
            ok = totp_step is not None
            second_factor = "totp"
        if not ok:
            await _record_failure(rt, info, "login", req.username, account, "totp_invalid")
            raise DomainError("totp_invalid", "the TOTP code is not valid")
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
                         (rules.username_key(account.username),))
        if new_hash is not None:
            await tx.execute("UPDATE account_credentials SET password_hash = %s"
                             " WHERE user_id = %s", (new_hash, account.user_id))
        session_id, refresh = await _start_session(
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
    return LoggedIn(account, _issue(rt, account, session_id), refresh, position, session_id)


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
        if row["rotated_at"] is not None:
            # Theft detection: a rotated token came back. Kill the whole family.
            tx.append(session_stream(sid), ev.RefreshTokenReused(
                session_id=sid, user_id=user_id))
            if row["revoked_at"] is None:
                await tx.execute("UPDATE account_sessions SET revoked_at = %s"
                                 " WHERE session_id = %s", (tx.now, sid))
                tx.append(session_stream(sid), ev.SessionRevoked(
                    session_id=sid, user_id=user_id, reason="refresh_token_reused"))
            tx.refuse(DomainError("unauthorized",
                                  "refresh token already used; the session is revoked"))
        if row["revoked_at"] is not None or row["expires_at"] <= tx.now:
            raise DomainError("unauthorized", "the session has ended")
        if row["status"] != "active":
            raise DomainError("unauthorized", "the account is not active")
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
    return Refreshed(_issue(rt, account, sid), new_token, position, sid)


# -- password, recovery ------------------------------------------------------------------


async def _verify_own_password(rt: AccountsRuntime, info: RequestInfo, command: str,
                               user_id: uuid.UUID, password: str) -> Account:
    """For sensitive account commands: the current password, counted like a login."""
    row = await _query_one(
        rt, "SELECT u.user_id, u.username, u.is_admin, u.is_owner, u.status, c.password_hash"
        " FROM account_users u JOIN account_credentials c USING (user_id)"
        " WHERE u.user_id = %s", (user_id,))
    account = _account(row)
    if account is None or row is None or account.status != "active":
        raise DomainError("unauthorized", "the account is not active")
    await _check_lock(rt, info, command, account.username, account)
    if not await rt.hasher.verify(row["password_hash"], password):
        await _record_failure(rt, info, command, account.username, account, "bad_password")
        raise forbidden("the password is incorrect")
    return account


async def change_password(rt: AccountsRuntime, user_id: uuid.UUID, session_id: uuid.UUID,
                          req: c.ChangePasswordRequest, info: RequestInfo) -> str:
    account = await _verify_own_password(rt, info, "change_password", user_id,
                                         req.current_password)
    rules.validate_password(req.new_password, username=account.username,
                            min_score=rt.settings.security.password_min_score)
    new_hash = await rt.hasher.hash(req.new_password)

    async def work(tx: Tx) -> None:
        await tx.execute("UPDATE account_credentials SET password_hash = %s WHERE user_id = %s",
                         (new_hash, user_id))
        tx.append(user_stream(user_id), ev.PasswordChanged(user_id=user_id))
        await _revoke_sessions(tx, user_id, "password_changed", keep=session_id)

    _, position = await run_command(
        rt.store, info.metadata("change_password", user_id), rt.now, work)
    return position


async def recover(rt: AccountsRuntime, req: c.RecoverRequest, info: RequestInfo
                  ) -> tuple[str, str]:
    """Recovery code + new password: every session revoked, a new recovery code issued."""
    rules.check_username_shape(req.username)
    account, creds = await _account_by_username(rt, req.username)
    await _check_lock(rt, info, "recover", req.username, account)
    stored = creds["recovery_code_hash"] if creds else None
    uid = str(account.user_id) if account else "00000000-0000-0000-0000-000000000000"
    if account is None or not code_matches(stored, uid, req.recovery_code):
        await _record_failure(rt, info, "recover", req.username, account, "bad_recovery_code")
        raise DomainError("unauthorized", "invalid username or recovery code")
    if account.status != "active":
        raise DomainError("unauthorized", "this account is suspended")
    rules.validate_password(req.new_password, username=account.username,
                            min_score=rt.settings.security.password_min_score)
    new_hash = await rt.hasher.hash(req.new_password)
    code = new_code(4, 4)

    async def work(tx: Tx) -> None:
        won = await tx.execute(
            "UPDATE account_credentials SET password_hash = %s, recovery_code_hash = %s"
            " WHERE user_id = %s AND recovery_code_hash = %s",
            (new_hash, hash_code(uid, code), account.user_id, stored))
        if not won:
            raise DomainError("unauthorized", "invalid username or recovery code")
        await tx.execute("DELETE FROM account_login_throttle WHERE username_key = %s",
                         (rules.username_key(account.username),))
        tx.append(user_stream(account.user_id),
                  ev.AccountRecovered(user_id=account.user_id),
                  ev.PasswordChanged(user_id=account.user_id, reason="recovery"),
                  ev.RecoveryCodeRegenerated(user_id=account.user_id))
        await _revoke_sessions(tx, account.user_id, "recovery")

    _, position = await run_command(
        rt.store, info.metadata("recover", account.user_id), rt.now, work)
    return code, position


async def regenerate_recovery_code(rt: AccountsRuntime, user_id: uuid.UUID, password: str,
                                   info: RequestInfo) -> tuple[str, str]:
    await _verify_own_password(rt, info, "regenerate_recovery_code", user_id, password)
    code = new_code(4, 4)

    async def work(tx: Tx) -> None:
        await tx.execute("UPDATE account_credentials SET recovery_code_hash = %s"
                         " WHERE user_id = %s", (hash_code(str(user_id), code), user_id))
        tx.append(user_stream(user_id), ev.RecoveryCodeRegenerated(user_id=user_id))

    _, position = await run_command(
        rt.store, info.metadata("regenerate_recovery_code", user_id), rt.now, work)
    return code, position


# -- sessions ----------------------------------------------------------------------------


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
        return await _revoke_sessions(tx, user_id, "revoked_all_others", keep=session_id)

    return await run_command(rt.store, info.metadata("revoke_all_sessions", user_id),
                             rt.now, work, may_record_nothing=True)


# -- TOTP --------------------------------------------------------------------------------


async def _totp_row(tx: Tx, user_id: uuid.UUID) -> dict[str, Any]:
    row = await tx.fetchone(
        "SELECT totp_secret, totp_pending, totp_last_step, backup_code_hashes"
        " FROM account_credentials WHERE user_id = %s FOR UPDATE", (user_id,))
    if row is None:
        raise DomainError("unauthorized", "the account is not active")
    return row


async def totp_setup(rt: AccountsRuntime, account: Account, info: RequestInfo
                     ) -> tuple[str, str, str]:
    secret = totp.new_secret()

    async def work(tx: Tx) -> None:
        row = await _totp_row(tx, account.user_id)
        if row["totp_secret"] is not None:
            raise conflict("two-factor authentication is already enabled")
        await tx.execute("UPDATE account_credentials SET totp_pending = %s WHERE user_id = %s",
                         (rt.box.seal(account.user_id, secret), account.user_id))
        tx.append(user_stream(account.user_id), ev.TotpSetupStarted(user_id=account.user_id))

    _, position = await run_command(
        rt.store, info.metadata("totp_setup", account.user_id), rt.now, work)
    return totp.provisioning_uri(secret, account.username), secret, position


async def totp_verify(rt: AccountsRuntime, user_id: uuid.UUID, code: str, info: RequestInfo
                      ) -> tuple[list[str], str]:
    codes, hashes = totp.new_backup_codes(user_id, rules.BACKUP_CODE_COUNT)

    async def work(tx: Tx) -> None:
        row = await _totp_row(tx, user_id)
        if row["totp_secret"] is not None:
            raise conflict("two-factor authentication is already enabled")
        if row["totp_pending"] is None:
            raise bad_request("start with POST /api/totp/setup")
        secret = rt.box.open(user_id, row["totp_pending"])
        step = totp.matching_step(secret, code, rt.clock(), after_step=None)
        if step is None:  # protocol: a wrong code at /totp/verify is a 400
            raise DomainError("totp_invalid", "the TOTP code is not valid", status=400)
        await tx.execute(
            "UPDATE account_credentials SET totp_secret = totp_pending, totp_pending = NULL,"
            " totp_last_step = %s, backup_code_hashes = %s WHERE user_id = %s",
            (step, hashes, user_id))
        tx.append(user_stream(user_id), ev.TotpEnabled(
            user_id=user_id, backup_codes=len(codes)))

    _, position = await run_command(
        rt.store, info.metadata("totp_verify", user_id), rt.now, work)
    return codes, position


async def _check_second_factor(rt: AccountsRuntime, user_id: uuid.UUID, row: dict[str, Any],
                               code: str) -> bool:
    secret = rt.box.open(user_id, row["totp_secret"])
    if totp.is_backup_code_shape(code):
        return any(code_matches(h, str(user_id), code) for h in row["backup_code_hashes"])
    return totp.matching_step(secret, code, rt.clock(),
                              after_step=row["totp_last_step"]) is not None


async def totp_disable(rt: AccountsRuntime, user_id: uuid.UUID, req: c.TotpDisableRequest,
                       info: RequestInfo) -> str:
    """A wrong code counts toward the username's lockout, like every failed credential."""
    account = await _verify_own_password(rt, info, "totp_disable", user_id, req.password)

    async def work(tx: Tx) -> None:
        row = await _totp_row(tx, user_id)
        if row["totp_secret"] is None:
            raise conflict("two-factor authentication is not enabled")
        if not await _check_second_factor(rt, user_id, row, req.code):
            raise DomainError("totp_invalid", "the TOTP code is not valid", status=400)
        await tx.execute(
            "UPDATE account_credentials SET totp_secret = NULL, totp_pending = NULL,"
            " totp_last_step = NULL, backup_code_hashes = '{}' WHERE user_id = %s", (user_id,))
        tx.append(user_stream(user_id), ev.TotpDisabled(user_id=user_id))

    try:
        _, position = await run_command(
            rt.store, info.metadata("totp_disable", user_id), rt.now, work)
    except DomainError as exc:
        if exc.code == "totp_invalid":
            await _record_failure(rt, info, "totp_disable", account.username, account,
                                  "totp_invalid")
        raise
    return position


async def regenerate_backup_codes(rt: AccountsRuntime, user_id: uuid.UUID, password: str,
                                  info: RequestInfo) -> tuple[list[str], str]:
    await _verify_own_password(rt, info, "regenerate_backup_codes", user_id, password)
    codes, hashes = totp.new_backup_codes(user_id, rules.BACKUP_CODE_COUNT)

    async def work(tx: Tx) -> None:
        row = await _totp_row(tx, user_id)
        if row["totp_secret"] is None:
            raise conflict("two-factor authentication is not enabled")
        await tx.execute("UPDATE account_credentials SET backup_code_hashes = %s"
                         " WHERE user_id = %s", (hashes, user_id))
        tx.append(user_stream(user_id), ev.BackupCodesRegenerated(
            user_id=user_id, backup_codes=len(codes)))

    _, position = await run_command(
        rt.store, info.metadata("regenerate_backup_codes", user_id), rt.now, work)
    return codes, position


# -- profile, preferences ----------------------------------------------------------------


async def update_profile(rt: AccountsRuntime, user_id: uuid.UUID,
                         req: c.UpdateProfileRequest, info: RequestInfo) -> c.ProfileReply:
    changes: dict[str, str] = {}
    if req.display_name is not None:
        changes["display_name"] = rules.validate_display_name(req.display_name)
    for name in ("avatar_url", "banner_url"):
        value = getattr(req, name)
        if value is not None:
            changes[name] = rules.validate_url(value, name)
    limits = {"bio": (rules.BIO_MAX, True), "pronouns": (rules.PRONOUNS_MAX, False),
              "custom_status": (rules.CUSTOM_STATUS_MAX, False)}
    for name, (limit, multiline) in limits.items():
        value = getattr(req, name)
        if value is not None:
            changes[name] = rules.validate_text(value, name, limit, multiline=multiline)
    if not changes:
        raise bad_request("nothing to update")

    async def work(tx: Tx) -> None:
        await _lock_account(tx, user_id)
        tx.append(user_stream(user_id), ev.ProfileUpdated(user_id=user_id, **changes))

    _, position = await run_command(
        rt.store, info.metadata("update_profile", user_id), rt.now, work)
    return c.ProfileReply(position=position, **changes)


async def update_preferences(rt: AccountsRuntime, user_id: uuid.UUID,
                             patch: dict[str, object], info: RequestInfo
                             ) -> tuple[dict[str, object], str]:
    async def work(tx: Tx) -> dict[str, object]:
        row = await tx.fetchone("SELECT preferences FROM account_users WHERE user_id = %s"
                                " FOR UPDATE", (user_id,))
        if row is None:
            raise not_found("no such user")
        merged = rules.merge_preferences(row["preferences"], patch)
        await tx.execute("UPDATE account_users SET preferences = %s WHERE user_id = %s",
                         (Jsonb(merged), user_id))
        tx.append(user_stream(user_id), ev.PreferencesUpdated(
            user_id=user_id, preferences=merged))
        return merged

    return await run_command(
        rt.store, info.metadata("update_preferences", user_id), rt.now, work)


# -- blocks, reports ---------------------------------------------------------------------


async def block(rt: AccountsRuntime, user_id: uuid.UUID, target_id: uuid.UUID,
                info: RequestInfo) -> str:
    async def work(tx: Tx) -> None:
        target = await tx.fetchone("SELECT status FROM account_users WHERE user_id = %s",
                                   (target_id,))
        if target is None or target["status"] == "deleted":
            raise not_found("no such user")
        inserted = await tx.execute(
            "INSERT INTO account_blocks (user_id, blocked_user_id) VALUES (%s, %s)"
            " ON CONFLICT DO NOTHING", (user_id, target_id)) if user_id != target_id else 0
        rules.decide_block(user_id, target_id, already=not inserted)
        tx.append(user_stream(user_id), ev.UserBlocked(
            user_id=user_id, blocked_user_id=target_id))

    _, position = await run_command(
        rt.store, info.metadata("block_user", user_id), rt.now, work)
    return position


async def unblock(rt: AccountsRuntime, user_id: uuid.UUID, target_id: uuid.UUID,
                  info: RequestInfo) -> str:
    async def work(tx: Tx) -> None:
        deleted = await tx.execute(
            "DELETE FROM account_blocks WHERE user_id = %s AND blocked_user_id = %s",
            (user_id, target_id))
        if not deleted:
            raise conflict("the user is not blocked")
        tx.append(user_stream(user_id), ev.UserUnblocked(
            user_id=user_id, blocked_user_id=target_id))

    _, position = await run_command(
        rt.store, info.metadata("unblock_user", user_id), rt.now, work)
    return position


async def file_report(rt: AccountsRuntime, user_id: uuid.UUID, req: c.ReportRequest,
                      info: RequestInfo) -> tuple[uuid.UUID, str]:
    reason = rules.validate_text(req.reason, "reason", rules.REPORT_REASON_MAX, multiline=True)
    if not reason:
        raise bad_request("reason must not be empty")
    exists = False  # messages and files do not exist yet (later issues): none can be found
    if req.report_type == "user":
        target = await load_account(rt, req.target_id)
        exists = target is not None and target.status != "deleted"
    rules.check_report_target(req.report_type, reporter_id=user_id, target_id=req.target_id,
                              target_exists=exists)
    report_id = uuid7()

    async def work(tx: Tx) -> None:
        tx.append(report_stream(report_id), ev.ReportFiled(
            report_id=report_id, reporter_id=user_id, report_type=req.report_type,
            target_id=req.target_id, reason=reason), expected=NO_STREAM)

    _, position = await run_command(
        rt.store, info.metadata("file_report", user_id), rt.now, work)
    return report_id, position


async def review_report(rt: AccountsRuntime, actor: Account, report_id: uuid.UUID,
                        req: c.ReviewReportRequest, info: RequestInfo) -> str:
    """Decision state from the report's own (small) stream, with optimistic concurrency."""
    stream = report_stream(report_id)
    history = await rt.store.read_stream(stream)
    status: str | None = None
    for recorded in history:
        if isinstance(recorded.data, ev.ReportFiled):
            status = "pending"
        elif isinstance(recorded.data, ev.ReportReviewed):
            status = recorded.data.status
    rules.decide_review(status, req.status)
    notes = rules.validate_text(req.admin_notes, "admin_notes", rules.ADMIN_NOTES_MAX,
                                multiline=True) if req.admin_notes else None

    async def work(tx: Tx) -> None:
        tx.append(stream, ev.ReportReviewed(
            report_id=report_id, reviewer_id=actor.user_id, status=req.status,
            admin_notes=notes), expected=history[-1].version)

    try:
        # one attempt: the decision was taken on the history read above, so a lost race
        # is the reviewer's to settle (409), not a retry's
        _, position = await run_command(
            rt.store, info.metadata("review_report", actor.user_id), rt.now, work, attempts=1)
    except ConcurrencyError:
        raise conflict("the report changed meanwhile; reload it") from None
    return position


# -- admin -------------------------------------------------------------------------------


async def suspend(rt: AccountsRuntime, actor: Account, target_id: uuid.UUID,
                  reason: str | None, info: RequestInfo) -> str:
    reason = rules.validate_text(reason, "reason", rules.SUSPEND_REASON_MAX) if reason else None

    async def work(tx: Tx) -> None:
        target = await _lock_account(tx, target_id)
        rules.decide_suspend(actor, target)
        await tx.execute("UPDATE account_users SET status = 'suspended' WHERE user_id = %s",
                         (target_id,))
        tx.append(user_stream(target_id), ev.UserSuspended(
            user_id=target_id, reason=reason or None))
        await _revoke_sessions(tx, target_id, "suspended")

    _, position = await run_command(
        rt.store, info.metadata("admin_suspend_user", actor.user_id), rt.now, work)
    return position


async def unsuspend(rt: AccountsRuntime, actor: Account, target_id: uuid.UUID,
                    info: RequestInfo) -> str:
    async def work(tx: Tx) -> None:
        target = await _lock_account(tx, target_id)
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
        target = await _lock_account(tx, target_id)
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
    rules.validate_password(new_password, username=target.username,
                            min_score=rt.settings.security.password_min_score)
    new_hash = await rt.hasher.hash(new_password)

    async def work(tx: Tx) -> None:
        target = await _lock_account(tx, target_id)
        rules.check_can_moderate(actor, target)
        await tx.execute("UPDATE account_credentials SET password_hash = %s WHERE user_id = %s",
                         (new_hash, target_id))
        tx.append(user_stream(target_id), ev.PasswordChanged(
            user_id=target_id, reason="admin_reset"))
        await _revoke_sessions(tx, target_id, "admin_password_reset")

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


# -- deletion ------------------------------------------------------------------------------


async def delete_own_account(rt: AccountsRuntime, user_id: uuid.UUID, password: str,
                             info: RequestInfo) -> str:
    account = await _verify_own_password(rt, info, "delete_account", user_id, password)
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
        locked = await _lock_account(tx, uid)
        if by == "admin":
            rules.check_can_moderate(actor, locked)
        await tx.execute(
            "UPDATE account_users SET status = 'deleted', username_key = NULL,"
            " email_key = NULL, preferences = '{}', is_admin = false,"
            " redaction_pending = true WHERE user_id = %s", (uid,))
        await tx.execute("DELETE FROM account_credentials WHERE user_id = %s", (uid,))
        await tx.execute("DELETE FROM account_blocks WHERE user_id = %s"
                         " OR blocked_user_id = %s", (uid, uid))
        await tx.execute("DELETE FROM account_one_time_prekeys WHERE user_id = %s", (uid,))
        await tx.execute("DELETE FROM account_signed_prekeys WHERE user_id = %s", (uid,))
        await tx.execute("DELETE FROM account_identity_keys WHERE user_id = %s", (uid,))
        await _revoke_sessions(tx, uid, "deleted")
        tx.append(user_stream(uid), ev.UserDeleted(user_id=uid, by=by))

    _, position = await run_command(
        rt.store, info.metadata(command, actor.user_id), rt.now, work)
    await redact_deleted(rt, uid, info.metadata(command, actor.user_id))
    return position


def _redacted(data: msgspec.Struct) -> msgspec.Struct | None:
    """The replacement for an event carrying a deleted user's personal data, or None."""
    if isinstance(data, ev.UserRegistered):
        return msgspec.structs.replace(
            data, username=f"deleted-{data.user_id.hex[:12]}", display_name="Deleted user",
            email=None)
    if isinstance(data, ev.ProfileUpdated):
        return ev.ProfileUpdated(user_id=data.user_id)
    if isinstance(data, ev.PreferencesUpdated):
        return ev.PreferencesUpdated(user_id=data.user_id, preferences={})
    if isinstance(data, ev.LoginFailed):
        return msgspec.structs.replace(data, username="deleted")
    return None


async def redact_deleted(rt: AccountsRuntime, user_id: uuid.UUID, meta: Metadata) -> int:
    """Redact the personal data in a deleted account's stream; idempotent, so a run that
    was interrupted is finished by `finish_pending_redactions` at start-up."""
    stream = user_stream(user_id)
    done = 0
    version = 1
    while True:
        batch = await rt.store.read_stream(stream, from_version=version, limit=500)
        for recorded in batch:
            replacement = None if recorded.redacted else _redacted(recorded.data)
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
