"""Read models of accounts (issue 4): the user directory and preferences, blocks, sessions,
the reports queue and registration invites.

The events are chatalot's account events (chatalot/domain/accounts/events.py), handled by
name: this module imports nothing from chatalot. A deleted account's events are redacted in
place; the `UserDeleted` handler scrubs the same fields, so a rebuild (which reads the
redacted events) and the live tables agree.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from event_store import RecordedEvent
from projections.projector import ProjectionContext, Projector, on


def _deleted_name(user_id: Any) -> str:
    return f"deleted-{user_id.hex[:12]}"


async def _run(ctx: ProjectionContext, text: str, table: str, params: Any) -> None:
    await ctx.conn.execute(sql.SQL(text).format(t=ctx.table(table)), params)


class Users(Projector):
    """The user directory (profiles, roles, suspension, 2FA state) and preferences."""

    name = "users"
    version = 1
    tables = {
        "users": (
            "user_id uuid PRIMARY KEY, username text NOT NULL, username_lower text NOT NULL,"
            " display_name text NOT NULL, email text, avatar_url text, banner_url text,"
            " bio text, pronouns text, custom_status text,"
            " is_admin boolean NOT NULL DEFAULT false, is_owner boolean NOT NULL DEFAULT false,"
            " suspended_at timestamptz, suspended_reason text,"
            " deleted boolean NOT NULL DEFAULT false,"
            " totp_enabled boolean NOT NULL DEFAULT false,"
            " backup_codes_remaining integer NOT NULL DEFAULT 0,"
            " created_at timestamptz NOT NULL"
        ),
        "user_preferences": "user_id uuid PRIMARY KEY, preferences jsonb NOT NULL",
    }
    indexes = [
        "CREATE INDEX ON {users} (username_lower text_pattern_ops)",
        "CREATE INDEX ON {users} (created_at, user_id)",
    ]

    @on("UserRegistered")
    async def registered(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "INSERT INTO {t} (user_id, username, username_lower, display_name,"
                   " email, is_admin, is_owner, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s,"
                   " %s) ON CONFLICT (user_id) DO NOTHING", "users",
                   (d.user_id, d.username, d.username.lower(), d.display_name, d.email,
                    d.is_admin, d.is_owner, event.recorded_at))

    @on("ProfileUpdated")
    async def profile(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        fields = ("display_name", "avatar_url", "banner_url", "bio", "pronouns",
                  "custom_status")
        changes = {f: getattr(d, f) for f in fields if getattr(d, f) is not None}
        if not changes:
            return
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(f)) for f in changes)
        values = [v if (v != "" or f == "display_name") else None for f, v in changes.items()]
        await ctx.conn.execute(
            sql.SQL("UPDATE {} SET {} WHERE user_id = %s AND NOT deleted").format(
                ctx.table("users"), assignments), (*values, d.user_id))

    @on("UserSuspended")
    async def suspended(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "UPDATE {t} SET suspended_at = %s, suspended_reason = %s"
                   " WHERE user_id = %s", "users",
                   (event.recorded_at, event.data.reason, event.data.user_id))

    @on("UserUnsuspended")
    async def unsuspended(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "UPDATE {t} SET suspended_at = NULL, suspended_reason = NULL"
                   " WHERE user_id = %s", "users", (event.data.user_id,))

    @on("AdminGranted", "AdminRevoked")
    async def admin(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "UPDATE {t} SET is_admin = %s WHERE user_id = %s", "users",
                   (event.type == "AdminGranted", event.data.user_id))

    @on("TotpEnabled", "BackupCodesRegenerated")
    async def totp_on(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "UPDATE {t} SET totp_enabled = true, backup_codes_remaining = %s"
                   " WHERE user_id = %s", "users",
                   (event.data.backup_codes, event.data.user_id))

    @on("BackupCodeUsed")
    async def backup_used(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "UPDATE {t} SET backup_codes_remaining = %s WHERE user_id = %s",
                   "users", (event.data.remaining, event.data.user_id))

    @on("TotpDisabled")
    async def totp_off(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "UPDATE {t} SET totp_enabled = false, backup_codes_remaining = 0"
                   " WHERE user_id = %s", "users", (event.data.user_id,))

    @on("PreferencesUpdated")
    async def preferences(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "INSERT INTO {t} (user_id, preferences) VALUES (%s, %s::jsonb)"
                   " ON CONFLICT (user_id) DO UPDATE SET preferences = EXCLUDED.preferences",
                   "user_preferences", (d.user_id, _json(d.preferences)))

    @on("UserDeleted")
    async def deleted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        uid = event.data.user_id
        name = _deleted_name(uid)
        await _run(ctx, "UPDATE {t} SET deleted = true, username = %s, username_lower = %s,"
                   " display_name = 'Deleted user', email = NULL, avatar_url = NULL,"
                   " banner_url = NULL, bio = NULL, pronouns = NULL, custom_status = NULL,"
                   " is_admin = false, totp_enabled = false, backup_codes_remaining = 0"
                   " WHERE user_id = %s", "users", (name, name, uid))
        await _run(ctx, "DELETE FROM {t} WHERE user_id = %s", "user_preferences", (uid,))


class UserBlocks(Projector):
    name = "user_blocks"
    version = 1
    tables = {"user_blocks": (
        "user_id uuid NOT NULL, blocked_user_id uuid NOT NULL, blocked_at timestamptz NOT NULL,"
        " PRIMARY KEY (user_id, blocked_user_id)")}
    indexes = ["CREATE INDEX ON {user_blocks} (blocked_user_id)"]

    @on("UserBlocked")
    async def blocked(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "INSERT INTO {t} VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                   "user_blocks",
                   (event.data.user_id, event.data.blocked_user_id, event.recorded_at))

    @on("UserUnblocked")
    async def unblocked(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "DELETE FROM {t} WHERE user_id = %s AND blocked_user_id = %s",
                   "user_blocks", (event.data.user_id, event.data.blocked_user_id))

    @on("UserDeleted")
    async def deleted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        uid = event.data.user_id
        await _run(ctx, "DELETE FROM {t} WHERE user_id = %s OR blocked_user_id = %s",
                   "user_blocks", (uid, uid))


class Sessions(Projector):
    """Login sessions for the sessions list: device, user agent, IP, last use."""

    name = "sessions"
    version = 1
    tables = {"sessions": (
        "session_id uuid PRIMARY KEY, user_id uuid NOT NULL, device_name text,"
        " user_agent text, ip text, created_at timestamptz NOT NULL,"
        " last_used_at timestamptz NOT NULL, expires_at timestamptz NOT NULL,"
        " revoked_at timestamptz")}
    indexes = ["CREATE INDEX ON {sessions} (user_id, created_at)"]

    @on("SessionStarted")
    async def started(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d, m = event.data, event.metadata
        await _run(ctx, "INSERT INTO {t} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, NULL)"
                   " ON CONFLICT DO NOTHING", "sessions",
                   (d.session_id, d.user_id, d.device_name, m.user_agent, m.ip,
                    event.recorded_at, event.recorded_at, d.expires_at))

    @on("SessionRefreshed")
    async def refreshed(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d, m = event.data, event.metadata
        await _run(ctx, "UPDATE {t} SET last_used_at = %s, expires_at = %s,"
                   " ip = coalesce(%s, ip), user_agent = coalesce(%s, user_agent)"
                   " WHERE session_id = %s", "sessions",
                   (event.recorded_at, d.expires_at, m.ip, m.user_agent, d.session_id))

    @on("SessionRevoked")
    async def revoked(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "UPDATE {t} SET revoked_at = %s WHERE session_id = %s"
                   " AND revoked_at IS NULL", "sessions",
                   (event.recorded_at, event.data.session_id))

    @on("UserDeleted")
    async def deleted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "DELETE FROM {t} WHERE user_id = %s", "sessions",
                   (event.data.user_id,))


class Reports(Projector):
    """The admin review queue of user, message and file reports."""

    name = "reports"
    version = 1
    tables = {"reports": (
        "report_id uuid PRIMARY KEY, reporter_id uuid NOT NULL, report_type text NOT NULL,"
        " target_id uuid NOT NULL, reason text NOT NULL, status text NOT NULL,"
        " reviewed_by uuid, reviewed_at timestamptz, admin_notes text,"
        " created_at timestamptz NOT NULL")}
    indexes = ["CREATE INDEX ON {reports} (status, report_id)"]

    @on("ReportFiled")
    async def filed(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "INSERT INTO {t} (report_id, reporter_id, report_type, target_id,"
                   " reason, status, created_at) VALUES (%s, %s, %s, %s, %s, 'pending', %s)"
                   " ON CONFLICT DO NOTHING", "reports",
                   (d.report_id, d.reporter_id, d.report_type, d.target_id, d.reason,
                    event.recorded_at))

    @on("ReportReviewed")
    async def reviewed(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "UPDATE {t} SET status = %s, reviewed_by = %s, reviewed_at = %s,"
                   " admin_notes = %s WHERE report_id = %s", "reports",
                   (d.status, d.reviewer_id, event.recorded_at, d.admin_notes, d.report_id))


class RegistrationInvites(Projector):
    name = "registration_invites"
    version = 1
    tables = {"registration_invites": (
        "invite_id uuid PRIMARY KEY, code text NOT NULL, created_by uuid NOT NULL,"
        " max_uses integer, used_count integer NOT NULL DEFAULT 0, expires_at timestamptz,"
        " created_at timestamptz NOT NULL")}

    @on("RegistrationInviteCreated")
    async def created(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "INSERT INTO {t} VALUES (%s, %s, %s, %s, 0, %s, %s)"
                   " ON CONFLICT DO NOTHING", "registration_invites",
                   (d.invite_id, d.code, d.created_by, d.max_uses, d.expires_at,
                    event.recorded_at))

    @on("RegistrationInviteUsed")
    async def used(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "UPDATE {t} SET used_count = greatest(used_count, %s)"
                   " WHERE invite_id = %s", "registration_invites",
                   (event.data.used_count, event.data.invite_id))

    @on("RegistrationInviteDeleted")
    async def deleted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "DELETE FROM {t} WHERE invite_id = %s", "registration_invites",
                   (event.data.invite_id,))


def _json(value: Any) -> str:
    import msgspec

    return msgspec.json.encode(value).decode()


PROJECTORS: list[type[Projector]] = [Users, UserBlocks, Sessions, Reports, RegistrationInvites]
