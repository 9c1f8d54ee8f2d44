"""Account events: one msgspec Struct per type, named in the past tense.

Streams: `user-<id>` (the account), `session-<id>` (one login session: a refresh-token
family), `invite-<id>` (registration invites), `report-<id>` (one report),
`auth-<yyyy-mm-dd>` (failed logins for unknown usernames). The E2E public keys a
registration stores (stream `keys-<user id>`) are the key server's events
(chatalot/domain/keys/events.py).

Credential material (password hashes, TOTP secrets, backup, recovery and refresh-token
hashes) never enters the log: the events say *that* a credential changed; the material
lives only in the decision tables (migrations/0003). The log can thus be shown to
operators and redacted without handling secrets.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import msgspec

# -- account ----------------------------------------------------------------------------


class UserRegistered(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    username: str
    display_name: str
    email: str | None = None
    is_owner: bool = False
    is_admin: bool = False
    invite_id: uuid.UUID | None = None


class LoginSucceeded(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    session_id: uuid.UUID
    second_factor: Literal["none", "totp", "backup_code"] = "none"


class LoginFailed(msgspec.Struct, frozen=True, kw_only=True):
    """`user_id` is None when no account has that username (stream `auth-<day>`)."""

    username: str
    reason: Literal[
        "bad_password", "unknown_user", "totp_required", "totp_invalid", "locked",
        "suspended", "bad_recovery_code",
    ]
    user_id: uuid.UUID | None = None
    failures: int = 0
    locked_until: datetime | None = None


class PasswordChanged(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    reason: Literal["changed", "recovery", "admin_reset", "rehashed"] = "changed"


class AccountRecovered(msgspec.Struct, frozen=True, kw_only=True):
    """The recovery code was used: password reset, every session revoked, a new code."""

    user_id: uuid.UUID


class RecoveryCodeRegenerated(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID


class TotpSetupStarted(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID


class TotpEnabled(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    backup_codes: int


class TotpDisabled(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID


class BackupCodesRegenerated(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    backup_codes: int


class BackupCodeUsed(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    remaining: int


class ProfileUpdated(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Only the changed fields are set; an empty string clears an optional field."""

    user_id: uuid.UUID
    display_name: str | None = None
    avatar_url: str | None = None
    banner_url: str | None = None
    bio: str | None = None
    pronouns: str | None = None
    custom_status: str | None = None


class PreferencesUpdated(msgspec.Struct, frozen=True, kw_only=True):
    """The whole preferences document after the update."""

    user_id: uuid.UUID
    preferences: dict[str, object]


class UserBlocked(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    blocked_user_id: uuid.UUID


class UserUnblocked(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    blocked_user_id: uuid.UUID


class UserSuspended(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    reason: str | None = None


class UserUnsuspended(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID


class AdminGranted(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID


class AdminRevoked(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID


class UserDeleted(msgspec.Struct, frozen=True, kw_only=True):
    """Personal data of the account's events is redacted in the same transaction."""

    user_id: uuid.UUID
    by: Literal["self", "admin"] = "self"


# -- sessions (stream session-<id>) -----------------------------------------------------


class SessionStarted(msgspec.Struct, frozen=True, kw_only=True):
    session_id: uuid.UUID
    user_id: uuid.UUID
    device_name: str | None = None
    expires_at: datetime


class SessionRefreshed(msgspec.Struct, frozen=True, kw_only=True):
    session_id: uuid.UUID
    user_id: uuid.UUID
    expires_at: datetime


class SessionRevoked(msgspec.Struct, frozen=True, kw_only=True):
    session_id: uuid.UUID
    user_id: uuid.UUID
    reason: Literal[
        "revoked", "revoked_all_others", "password_changed", "recovery", "suspended",
        "deleted", "refresh_token_reused", "admin_password_reset", "totp_changed",
    ]


class RefreshTokenReused(msgspec.Struct, frozen=True, kw_only=True):
    """A refresh token that had already been rotated came back: the family is revoked."""

    session_id: uuid.UUID
    user_id: uuid.UUID


# -- registration invites (stream invite-<id>) ------------------------------------------


class RegistrationInviteCreated(msgspec.Struct, frozen=True, kw_only=True):
    invite_id: uuid.UUID
    code: str
    created_by: uuid.UUID
    max_uses: int | None = None
    expires_at: datetime | None = None


class RegistrationInviteUsed(msgspec.Struct, frozen=True, kw_only=True):
    invite_id: uuid.UUID
    user_id: uuid.UUID
    used_count: int


class RegistrationInviteDeleted(msgspec.Struct, frozen=True, kw_only=True):
    invite_id: uuid.UUID


# -- reports (stream report-<id>) -------------------------------------------------------


class ReportFiled(msgspec.Struct, frozen=True, kw_only=True):
    report_id: uuid.UUID
    reporter_id: uuid.UUID
    report_type: Literal["user", "message", "file"]
    target_id: uuid.UUID
    reason: str


class ReportReviewed(msgspec.Struct, frozen=True, kw_only=True):
    report_id: uuid.UUID
    reviewer_id: uuid.UUID
    status: Literal["reviewed", "resolved", "dismissed"]
    admin_notes: str | None = None


ACCOUNT_EVENTS: list[type[msgspec.Struct]] = [
    UserRegistered, LoginSucceeded, LoginFailed, PasswordChanged, AccountRecovered,
    RecoveryCodeRegenerated, TotpSetupStarted, TotpEnabled, TotpDisabled,
    BackupCodesRegenerated, BackupCodeUsed, ProfileUpdated, PreferencesUpdated, UserBlocked,
    UserUnblocked, UserSuspended, UserUnsuspended, AdminGranted, AdminRevoked, UserDeleted,
    SessionStarted, SessionRefreshed, SessionRevoked, RefreshTokenReused,
    RegistrationInviteCreated, RegistrationInviteUsed, RegistrationInviteDeleted,
    ReportFiled, ReportReviewed,
]
