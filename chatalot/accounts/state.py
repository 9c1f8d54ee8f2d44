"""Decision state shared by the account commands: loading and locking the account row,
the login throttle, the credentials row by username. Plain SQL over the decision tables
(migrations/0003); no decisions here."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.rows import dict_row

from chatalot.accounts.runtime import AccountsRuntime
from chatalot.command_tx import CommandTx as Tx
from chatalot.domain.accounts import validation
from chatalot.domain.accounts.rules import Account, Throttle
from chatalot.domain.errors import not_found


async def query_one(rt: AccountsRuntime, sql: str, params: Any) -> dict[str, Any] | None:
    async with rt.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        row: dict[str, Any] | None = await cur.fetchone()
        return row


ACCOUNT_COLUMNS = "user_id, username, is_admin, is_owner, status"


def account_from_row(row: dict[str, Any] | None) -> Account | None:
    if row is None:
        return None
    return Account(row["user_id"], row["username"], row["is_admin"], row["is_owner"],
                   row["status"])


async def load_account(rt: AccountsRuntime, user_id: uuid.UUID) -> Account | None:
    return account_from_row(await query_one(
        rt, f"SELECT {ACCOUNT_COLUMNS} FROM account_users WHERE user_id = %s", (user_id,)))


async def lock_account(tx: Tx, user_id: uuid.UUID) -> Account:
    account = account_from_row(await tx.fetchone(
        f"SELECT {ACCOUNT_COLUMNS} FROM account_users WHERE user_id = %s FOR UPDATE",
        (user_id,)))
    if account is None or account.status == "deleted":
        raise not_found("no such user")
    return account


async def read_throttle(rt: AccountsRuntime, key: str) -> Throttle | None:
    row = await query_one(
        rt, "SELECT failures, last_failure_at, locked_until FROM account_login_throttle"
        " WHERE username_key = %s", (key,))
    return Throttle(**row) if row else None


async def account_by_username(rt: AccountsRuntime, username: str
                              ) -> tuple[Account | None, dict[str, Any] | None]:
    row = await query_one(
        rt, "SELECT u.user_id, u.username, u.is_admin, u.is_owner, u.status,"
        " c.password_hash, c.recovery_code_hash, c.totp_secret, c.totp_last_step,"
        " c.backup_code_hashes FROM account_users u JOIN account_credentials c USING (user_id)"
        " WHERE u.username_key = %s AND u.status <> 'deleted'",
        (validation.username_key(username),))
    return account_from_row(row), row
