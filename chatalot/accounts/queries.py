"""Account queries: they read the projections' tables (read_models.*), never the decision
tables, and page with opaque cursors (time-ordered UUIDv7 ids).

Every ORDER BY ends on a unique column: timestamps tie (the events of one transaction
share theirs), and without a tiebreaker a rebuilt read model could list the same rows in
another order than the live one did."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from chatalot.accounts import contracts as c
from chatalot.contracts import iso
from chatalot.domain.accounts.validation import check_no_nul
from chatalot.domain.errors import DomainError, bad_request, not_found
from chatalot.read_rows import read_rows
from projections.projector import read_model

USER_SEARCH_LIMIT = 20
DEFAULT_PAGE, MAX_PAGE = 50, 100


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> uuid.UUID | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (binascii.Error, ValueError):
        raise bad_request("malformed cursor") from None


def page_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_PAGE
    if not 1 <= limit <= MAX_PAGE:
        raise bad_request(f"limit must be 1-{MAX_PAGE}")
    return limit


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def _keyset_page(pool: AsyncConnectionPool[Any], model: str, key: str,
                       conditions: list[sql.Composable], params: list[Any],
                       cursor: str | None, limit: int | None
                       ) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a read model in `key` order after the cursor: (rows, next cursor)."""
    size = page_limit(limit)
    after = decode_cursor(cursor)
    if after is not None:
        conditions = [*conditions, sql.SQL("{} > %s").format(sql.Identifier(key))]
        params = [*params, after]
    rows = await read_rows(pool, sql.SQL("SELECT * FROM {} WHERE {} ORDER BY {} LIMIT %s").format(
        read_model(model), sql.SQL(" AND ").join(conditions), sql.Identifier(key)),
        [*params, size + 1])
    if len(rows) <= size:
        return rows, None
    rows = rows[:size]
    return rows, encode_cursor(rows[-1][key])


def _public(row: dict[str, Any]) -> c.UserPublic:
    return c.UserPublic(
        id=row["user_id"], username=row["username"], display_name=row["display_name"],
        avatar_url=row["avatar_url"], banner_url=row["banner_url"], bio=row["bio"],
        pronouns=row["pronouns"], custom_status=row["custom_status"],
        is_admin=row["is_admin"], is_owner=row["is_owner"], created_at=iso(row["created_at"]))


# -- visibility hook ---------------------------------------------------------------------


SHARES_A_COMMUNITY = sql.SQL(
    "EXISTS (SELECT 1 FROM community_members mine JOIN community_members theirs"
    " ON theirs.community_id = mine.community_id AND theirs.user_id = u.user_id"
    " WHERE mine.user_id = %s)")


def visible_to(viewer_id: uuid.UUID, is_staff: bool) -> tuple[sql.Composable, list[Any]]:
    """Which users a viewer may find: instance staff see everyone; others see themselves
    and the users they share a community with. Who shares a community is authorization,
    so it is read from the spaces decision table (`community_members`, current: a kick or
    ban hides the users at once), never from a read model that may lag."""
    if is_staff:
        return sql.SQL("true"), []
    return sql.SQL("(u.user_id = %s OR {})").format(SHARES_A_COMMUNITY), [viewer_id, viewer_id]


# -- users -------------------------------------------------------------------------------


async def me(pool: AsyncConnectionPool[Any], user_id: uuid.UUID) -> c.Me:
    rows = await read_rows(pool, sql.SQL("SELECT * FROM {} u WHERE user_id = %s AND NOT deleted")
                      .format(read_model("users")), (user_id,))
    if not rows:
        raise DomainError("not_found", "not in the user directory yet; retry with "
                          "Chatalot-Min-Position set to the position of your last command")
    row = rows[0]
    return c.Me(
        id=row["user_id"], username=row["username"], display_name=row["display_name"],
        email=row["email"], avatar_url=row["avatar_url"], banner_url=row["banner_url"],
        bio=row["bio"], pronouns=row["pronouns"], custom_status=row["custom_status"],
        is_admin=row["is_admin"], is_owner=row["is_owner"], totp_enabled=row["totp_enabled"],
        created_at=iso(row["created_at"]) or "")


async def get_user(pool: AsyncConnectionPool[Any], viewer_id: uuid.UUID, is_staff: bool,
                   user_id: uuid.UUID) -> c.UserPublic:
    where, params = visible_to(viewer_id, is_staff)
    rows = await read_rows(pool, sql.SQL(
        "SELECT * FROM {} u WHERE u.user_id = %s AND NOT u.deleted AND ({})").format(
        read_model("users"), where), [user_id, *params])
    if not rows:
        raise not_found("no such user")  # also when not visible: existence is not revealed
    return _public(rows[0])


async def search_users(pool: AsyncConnectionPool[Any], viewer_id: uuid.UUID, is_staff: bool,
                       q: str) -> list[c.UserPublic]:
    q = q.strip()
    if not 2 <= len(q) <= 64:
        raise bad_request("search query must be 2-64 characters")
    check_no_nul(q, "q")
    where, params = visible_to(viewer_id, is_staff)
    rows = await read_rows(pool, sql.SQL(
        "SELECT * FROM {} u WHERE NOT u.deleted AND u.suspended_at IS NULL AND ({})"
        " AND (u.username_lower LIKE %s OR lower(u.display_name) LIKE %s)"
        " ORDER BY (u.username_lower = %s) DESC, u.username_lower, u.user_id LIMIT %s").format(
        read_model("users"), where),
        [*params, _like(q.lower()), _like(q.lower()), q.lower(), USER_SEARCH_LIMIT])
    return [_public(r) for r in rows]


async def blocked(pool: AsyncConnectionPool[Any], user_id: uuid.UUID) -> list[c.BlockedUser]:
    rows = await read_rows(pool, sql.SQL(
        "SELECT b.blocked_user_id, b.blocked_at, u.username, u.display_name FROM {} b"
        " JOIN {} u ON u.user_id = b.blocked_user_id WHERE b.user_id = %s"
        " ORDER BY b.blocked_at DESC, b.blocked_user_id DESC LIMIT 1000").format(
        read_model("user_blocks"), read_model("users")), (user_id,))
    return [c.BlockedUser(user_id=r["blocked_user_id"], username=r["username"],
                          display_name=r["display_name"], blocked_at=iso(r["blocked_at"]) or "")
            for r in rows]


async def preferences(pool: AsyncConnectionPool[Any], user_id: uuid.UUID
                      ) -> dict[str, object]:
    rows = await read_rows(pool, sql.SQL("SELECT preferences FROM {} WHERE user_id = %s").format(
        read_model("user_preferences")), (user_id,))
    return rows[0]["preferences"] if rows else {}


async def sessions(pool: AsyncConnectionPool[Any], user_id: uuid.UUID,
                   current: uuid.UUID, now: datetime) -> list[c.Session]:
    rows = await read_rows(pool, sql.SQL(
        "SELECT * FROM {} WHERE user_id = %s AND revoked_at IS NULL AND expires_at > %s"
        " ORDER BY last_used_at DESC, session_id DESC LIMIT 1000").format(
            read_model("sessions")),
        (user_id, now))
    return [c.Session(
        id=r["session_id"], device_name=r["device_name"], user_agent=r["user_agent"],
        ip_address=r["ip"], created_at=iso(r["created_at"]) or "",
        last_used_at=iso(r["last_used_at"]) or "", expires_at=iso(r["expires_at"]) or "",
        current=r["session_id"] == current) for r in rows]


async def backup_codes(pool: AsyncConnectionPool[Any], user_id: uuid.UUID
                       ) -> c.BackupCodesStatus:
    rows = await read_rows(pool, sql.SQL(
        "SELECT totp_enabled, backup_codes_remaining FROM {} WHERE user_id = %s").format(
        read_model("users")), (user_id,))
    if not rows:
        return c.BackupCodesStatus(enabled=False, remaining=0)
    return c.BackupCodesStatus(enabled=rows[0]["totp_enabled"],
                               remaining=rows[0]["backup_codes_remaining"])


# -- admin -------------------------------------------------------------------------------


async def admin_users(pool: AsyncConnectionPool[Any], q: str | None, cursor: str | None,
                      limit: int | None) -> c.AdminUserPage:
    conditions: list[sql.Composable] = [sql.SQL("NOT deleted")]
    params: list[Any] = []
    if q is not None and q.strip():
        if len(q) > 100:
            raise bad_request("q must be at most 100 characters")
        check_no_nul(q, "q")
        pattern = _like(q.strip().lower())
        conditions.append(sql.SQL(
            "(username_lower LIKE %s OR lower(display_name) LIKE %s"
            " OR lower(coalesce(email, '')) LIKE %s)"))
        params += [pattern, pattern, pattern]
    rows, next_cursor = await _keyset_page(pool, "users", "user_id", conditions, params,
                                           cursor, limit)
    items = [c.AdminUser(
        id=r["user_id"], username=r["username"], display_name=r["display_name"],
        email=r["email"], avatar_url=r["avatar_url"], is_admin=r["is_admin"],
        is_owner=r["is_owner"], suspended_at=iso(r["suspended_at"]),
        suspended_reason=r["suspended_reason"], created_at=iso(r["created_at"]) or "")
        for r in rows]
    return c.AdminUserPage(items=items, next_cursor=next_cursor)


async def invites(pool: AsyncConnectionPool[Any]) -> list[c.RegistrationInvite]:
    rows = await read_rows(pool, sql.SQL(
        "SELECT * FROM {} ORDER BY created_at DESC, invite_id DESC LIMIT 1000").format(
        read_model("registration_invites")), ())
    return [c.RegistrationInvite(
        id=r["invite_id"], code=r["code"], created_by=r["created_by"], max_uses=r["max_uses"],
        used_count=r["used_count"], expires_at=iso(r["expires_at"]),
        created_at=iso(r["created_at"]) or "") for r in rows]


async def reports(pool: AsyncConnectionPool[Any], status: str | None, cursor: str | None,
                  limit: int | None) -> c.ReportPage:
    if status is not None and status not in ("pending", "reviewed", "resolved", "dismissed"):
        raise bad_request("status must be pending, reviewed, resolved or dismissed")
    conditions: list[sql.Composable] = [sql.SQL("true")]
    params: list[Any] = []
    if status is not None:
        conditions.append(sql.SQL("status = %s"))
        params.append(status)
    rows, next_cursor = await _keyset_page(pool, "reports", "report_id", conditions, params,
                                           cursor, limit)
    items = [c.Report(
        id=r["report_id"], reporter_id=r["reporter_id"], report_type=r["report_type"],
        target_id=r["target_id"], reason=r["reason"], status=r["status"],
        reviewed_by=r["reviewed_by"], reviewed_at=iso(r["reviewed_at"]),
        admin_notes=r["admin_notes"], created_at=iso(r["created_at"]) or "") for r in rows]
    return c.ReportPage(items=items, next_cursor=next_cursor)


async def refresh_token_is_newest(pool: AsyncConnectionPool[Any], token: str,
                                  now: datetime) -> bool:
    """Whether `token` is unrotated and its session live (the decision tables, so exact)."""
    from chatalot.auth.tokens import hash_refresh_token

    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT t.rotated_at IS NULL AND s.revoked_at IS NULL AND s.expires_at > %s"
            " FROM account_refresh_tokens t JOIN account_sessions s USING (session_id)"
            " WHERE t.token_hash = %s", (now, hash_refresh_token(token)))
        row = await cur.fetchone()
    return bool(row and row[0])
