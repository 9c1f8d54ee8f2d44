"""Credentials: password change, recovery code, TOTP and backup codes."""

from __future__ import annotations

import uuid
from typing import Any

from chatalot.accounts import contracts as c
from chatalot.accounts.commands.login import check_lock, record_failure, verify_own_password
from chatalot.accounts.commands.sessions import revoke_sessions
from chatalot.accounts.runtime import AccountsRuntime
from chatalot.accounts.state import account_by_username
from chatalot.auth import totp
from chatalot.auth.passwords import code_matches, hash_code, new_code
from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.domain.accounts import events as ev
from chatalot.domain.accounts import rules, validation
from chatalot.domain.accounts.rules import Account
from chatalot.domain.errors import DomainError, bad_request, conflict
from chatalot.domain.streams import user_stream
from chatalot.request_info import RequestInfo


async def change_password(rt: AccountsRuntime, user_id: uuid.UUID, session_id: uuid.UUID,
                          req: c.ChangePasswordRequest, info: RequestInfo) -> str:
    account = await verify_own_password(rt, info, "change_password", user_id,
                                         req.current_password)
    validation.validate_password(req.new_password, username=account.username,
                            min_score=rt.settings.security.password_min_score)
    new_hash = await rt.hasher.hash(req.new_password)

    async def work(tx: Tx) -> None:
        await tx.execute("UPDATE account_credentials SET password_hash = %s WHERE user_id = %s",
                         (new_hash, user_id))
        tx.append(user_stream(user_id), ev.PasswordChanged(user_id=user_id))
        await revoke_sessions(tx, user_id, "password_changed", keep=session_id)

    _, position = await run_command(
        rt.store, info.metadata("change_password", user_id), rt.now, work)
    return position


async def recover(rt: AccountsRuntime, req: c.RecoverRequest, info: RequestInfo
                  ) -> tuple[str, str]:
    """Recovery code + new password: every session revoked, a new recovery code issued."""
    validation.check_username_shape(req.username)
    account, creds = await account_by_username(rt, req.username)
    await check_lock(rt, info, "recover", req.username, account)
    stored = creds["recovery_code_hash"] if creds else None
    uid = str(account.user_id) if account else "00000000-0000-0000-0000-000000000000"
    if account is None or not code_matches(stored, uid, req.recovery_code):
        await record_failure(rt, info, "recover", req.username, account, "bad_recovery_code")
        raise DomainError("unauthorized", "invalid username or recovery code")
    if account.status != "active":
        raise DomainError("unauthorized", "this account is suspended")
    validation.validate_password(req.new_password, username=account.username,
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
                         (validation.username_key(account.username),))
        tx.append(user_stream(account.user_id),
                  ev.AccountRecovered(user_id=account.user_id),
                  ev.PasswordChanged(user_id=account.user_id, reason="recovery"),
                  ev.RecoveryCodeRegenerated(user_id=account.user_id))
        await revoke_sessions(tx, account.user_id, "recovery")

    _, position = await run_command(
        rt.store, info.metadata("recover", account.user_id), rt.now, work)
    return code, position


async def regenerate_recovery_code(rt: AccountsRuntime, user_id: uuid.UUID, password: str,
                                   info: RequestInfo) -> tuple[str, str]:
    await verify_own_password(rt, info, "regenerate_recovery_code", user_id, password)
    code = new_code(4, 4)

    async def work(tx: Tx) -> None:
        await tx.execute("UPDATE account_credentials SET recovery_code_hash = %s"
                         " WHERE user_id = %s", (hash_code(str(user_id), code), user_id))
        tx.append(user_stream(user_id), ev.RecoveryCodeRegenerated(user_id=user_id))

    _, position = await run_command(
        rt.store, info.metadata("regenerate_recovery_code", user_id), rt.now, work)
    return code, position


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
    codes, hashes = totp.new_backup_codes(user_id, validation.BACKUP_CODE_COUNT)

    async def work(tx: Tx) -> None:
        row = await _totp_row(tx, user_id)
        if row["totp_secret"] is not None:
            raise conflict("two-factor authentication is already enabled")
        if row["totp_pending"] is None:
            raise bad_request("start with POST /api/totp/setup")
        secret = rt.box.open(user_id, row["totp_pending"])
        step = totp.matching_step(secret, code, rt.clock(), after_step=None)
        if step is None:  # 400 at /totp/verify: the controller says so (api/errors.answered_as)
            raise rules.second_factor_invalid()
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
    if rules.is_backup_code(code):
        return any(code_matches(h, str(user_id), code) for h in row["backup_code_hashes"])
    return totp.matching_step(secret, code, rt.clock(),
                              after_step=row["totp_last_step"]) is not None


async def totp_disable(rt: AccountsRuntime, user_id: uuid.UUID, req: c.TotpDisableRequest,
                       info: RequestInfo) -> str:
    """A wrong code counts toward the username's lockout, like every failed credential."""
    account = await verify_own_password(rt, info, "totp_disable", user_id, req.password)

    async def work(tx: Tx) -> None:
        row = await _totp_row(tx, user_id)
        if row["totp_secret"] is None:
            raise conflict("two-factor authentication is not enabled")
        if not await _check_second_factor(rt, user_id, row, req.code):
            raise rules.second_factor_invalid()
        await tx.execute(
            "UPDATE account_credentials SET totp_secret = NULL, totp_pending = NULL,"
            " totp_last_step = NULL, backup_code_hashes = '{}' WHERE user_id = %s", (user_id,))
        tx.append(user_stream(user_id), ev.TotpDisabled(user_id=user_id))

    try:
        _, position = await run_command(
            rt.store, info.metadata("totp_disable", user_id), rt.now, work)
    except DomainError as exc:
        if exc.code == "totp_invalid":
            await record_failure(rt, info, "totp_disable", account.username, account,
                                  "totp_invalid")
        raise
    return position


async def regenerate_backup_codes(rt: AccountsRuntime, user_id: uuid.UUID, password: str,
                                  info: RequestInfo) -> tuple[list[str], str]:
    await verify_own_password(rt, info, "regenerate_backup_codes", user_id, password)
    codes, hashes = totp.new_backup_codes(user_id, validation.BACKUP_CODE_COUNT)

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
