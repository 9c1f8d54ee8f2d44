"""Request and response bodies of the account, auth, TOTP, user and admin routes.

Every request body is a msgspec Struct with bounds, so oversize or malformed input is a 400
before any handler runs. Binary fields are standard base64 strings. The key bundle of a
registration is in the key server's shapes (chatalot/keys/contracts.py).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec

from chatalot.contracts import Body
from chatalot.domain.accounts import validation
from chatalot.domain.keys import rules as key_rules
from chatalot.keys.contracts import B64Key, OneTimePrekeyUpload, SignedPrekeyUpload

Str = Annotated[str, msgspec.Meta(max_length=256)]
Username = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


# -- auth ---------------------------------------------------------------------------------


class RegisterRequest(Body, kw_only=True):
    username: Username
    password: Password
    display_name: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    email: Annotated[str, msgspec.Meta(max_length=validation.EMAIL_MAX)] | None = None
    identity_key: B64Key
    signed_prekey: SignedPrekeyUpload
    one_time_prekeys: Annotated[
        list[OneTimePrekeyUpload], msgspec.Meta(max_length=key_rules.ONE_TIME_UPLOAD_MAX)
    ] = []
    invite_code: Code | None = None


class LoginRequest(Body, kw_only=True):
    username: Username
    password: Password
    totp_code: Code | None = None
    device_name: Annotated[str, msgspec.Meta(max_length=128)] | None = None


class RefreshRequest(Body, kw_only=True):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class RecoverRequest(Body, kw_only=True):
    username: Username
    recovery_code: Code
    new_password: Password


class UserPublic(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    username: str
    display_name: str
    avatar_url: str | None = None
    banner_url: str | None = None
    bio: str | None = None
    pronouns: str | None = None
    custom_status: str | None = None
    status: str = "offline"
    is_admin: bool = False
    is_owner: bool = False
    created_at: str | None = None


class AuthResponse(msgspec.Struct, kw_only=True):
    access_token: str
    refresh_token: str
    user: UserPublic
    position: str
    recovery_code: str | None = None


class TokenResponse(msgspec.Struct, kw_only=True):
    access_token: str
    refresh_token: str
    position: str


class RecoverResponse(msgspec.Struct, kw_only=True):
    recovery_code: str
    position: str


class ServerConfig(msgspec.Struct, kw_only=True):
    registration_mode: str
    public_url: str | None = None
    password_min_length: int = validation.PASSWORD_MIN
    password_max_length: int = validation.PASSWORD_MAX


# -- account ------------------------------------------------------------------------------


class PositionReply(msgspec.Struct, kw_only=True):
    position: str | None


class Me(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    username: str
    display_name: str
    email: str | None = None
    avatar_url: str | None = None
    banner_url: str | None = None
    bio: str | None = None
    pronouns: str | None = None
    custom_status: str | None = None
    is_admin: bool = False
    is_owner: bool = False
    totp_enabled: bool = False
    created_at: str


class UpdateProfileRequest(Body, kw_only=True):
    """Omitted fields stay; an empty string clears an optional field."""

    display_name: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    avatar_url: Annotated[str, msgspec.Meta(max_length=validation.URL_MAX)] | None = None
    banner_url: Annotated[str, msgspec.Meta(max_length=validation.URL_MAX)] | None = None
    bio: Annotated[str, msgspec.Meta(max_length=2048)] | None = None
    pronouns: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    custom_status: Annotated[str, msgspec.Meta(max_length=512)] | None = None


class ProfileReply(msgspec.Struct, kw_only=True, omit_defaults=True):
    position: str
    display_name: str | None = None
    avatar_url: str | None = None
    banner_url: str | None = None
    bio: str | None = None
    pronouns: str | None = None
    custom_status: str | None = None


class ChangePasswordRequest(Body, kw_only=True):
    current_password: Password
    new_password: Password


class PasswordConfirmation(Body, kw_only=True):
    password: Password


class Preferences(Body, kw_only=True):
    preferences: dict[str, object]


class PreferencesReply(msgspec.Struct, kw_only=True):
    preferences: dict[str, object]
    position: str | None = None


class Session(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    device_name: str | None
    user_agent: str | None
    ip_address: str | None
    created_at: str
    last_used_at: str
    expires_at: str
    current: bool = False


class RevokeAllReply(msgspec.Struct, kw_only=True):
    revoked_count: int
    position: str | None


# -- TOTP ---------------------------------------------------------------------------------


class TotpSetupResponse(msgspec.Struct, kw_only=True):
    otpauth_url: str
    secret: str
    position: str


class TotpVerifyRequest(Body, kw_only=True):
    code: Code


class TotpDisableRequest(Body, kw_only=True):
    password: Password
    code: Code


class BackupCodesResponse(msgspec.Struct, kw_only=True):
    """`enabled` is always true here (TOTP is on once codes are issued); clients, like
    upstream's, read it from the /totp/verify reply."""

    backup_codes: list[str]
    position: str
    enabled: bool = True


class BackupCodesStatus(msgspec.Struct, kw_only=True):
    enabled: bool
    remaining: int


# -- users, blocks, reports ---------------------------------------------------------------


class BlockRequest(Body, kw_only=True):
    user_id: uuid.UUID


class BlockedUser(msgspec.Struct, kw_only=True):
    user_id: uuid.UUID
    username: str
    display_name: str
    blocked_at: str


class ReportRequest(Body, kw_only=True):
    report_type: Literal["user", "message", "file"]
    target_id: uuid.UUID
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=validation.REPORT_REASON_MAX)]


class ReportCreated(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    position: str


class Report(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    reporter_id: uuid.UUID
    report_type: str
    target_id: uuid.UUID
    reason: str
    status: str
    reviewed_by: uuid.UUID | None = None
    reviewed_at: str | None = None
    admin_notes: str | None = None
    created_at: str


class ReviewReportRequest(Body, kw_only=True):
    status: Literal["reviewed", "resolved", "dismissed"]
    admin_notes: Annotated[str, msgspec.Meta(max_length=validation.ADMIN_NOTES_MAX)] | None = None


# -- admin --------------------------------------------------------------------------------


class AdminUser(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    username: str
    display_name: str
    email: str | None
    avatar_url: str | None
    is_admin: bool
    is_owner: bool
    suspended_at: str | None
    suspended_reason: str | None
    created_at: str


class SuspendRequest(Body, kw_only=True):
    reason: Annotated[str, msgspec.Meta(max_length=validation.SUSPEND_REASON_MAX)] | None = None


class SetAdminRequest(Body, kw_only=True):
    is_admin: bool


class ResetPasswordRequest(Body, kw_only=True):
    new_password: Password


class CreateInviteRequest(Body, kw_only=True):
    max_uses: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None = None
    expires_in_hours: Annotated[
        int, msgspec.Meta(ge=1, le=validation.INVITE_MAX_HOURS)] | None = None


class RegistrationInvite(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    code: str
    created_by: uuid.UUID
    max_uses: int | None
    used_count: int
    expires_at: str | None
    created_at: str


class InviteCreated(RegistrationInvite, kw_only=True):
    position: str


class AdminUserPage(msgspec.Struct, kw_only=True):
    items: list[AdminUser]
    next_cursor: str | None


class ReportPage(msgspec.Struct, kw_only=True):
    items: list[Report]
    next_cursor: str | None
