"""Account rules as plain functions: decisions over typed state.

Nothing here touches a database or the network; the command handlers
(chatalot/accounts/commands/) load the state, call these, and append what they decide.
Checking what a client sends, before any state is read, is validation.py's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import msgspec

from chatalot.domain.accounts import events as ev
from chatalot.domain.accounts.registration_mode import RegistrationMode
from chatalot.domain.accounts.validation import INVITE_MAX_HOURS
from chatalot.domain.errors import DomainError, bad_request, conflict, forbidden

# -- typed decision state ----------------------------------------------------------------

AccountStatus = Literal["active", "suspended", "deleted"]


@dataclass(frozen=True)
class Account:
    user_id: uuid.UUID
    username: str
    is_admin: bool
    is_owner: bool
    status: AccountStatus

    @property
    def is_staff(self) -> bool:
        return self.is_admin or self.is_owner


@dataclass(frozen=True)
class Invite:
    invite_id: uuid.UUID
    max_uses: int | None
    used_count: int
    expires_at: datetime | None
    deleted: bool


@dataclass(frozen=True)
class Throttle:
    failures: int
    last_failure_at: datetime
    locked_until: datetime | None


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int = 5
    base_delay_secs: int = 2
    max_delay_secs: int = 900


# -- decisions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistrationGrant:
    is_owner: bool
    invite_id: uuid.UUID | None


def decide_registration(
    mode: RegistrationMode, *, instance_empty: bool, invite: Invite | None,
    invite_code_given: bool, now: datetime,
) -> RegistrationGrant:
    """The first account owns the instance and may always register; after that the mode
    decides: open, invite-only (a valid invite code), or closed."""
    if instance_empty:
        return RegistrationGrant(is_owner=True, invite_id=None)
    if mode is RegistrationMode.CLOSED:
        raise forbidden("registration is closed on this instance")
    if mode is RegistrationMode.OPEN:
        return RegistrationGrant(is_owner=False, invite_id=None)
    if not invite_code_given:
        raise forbidden("an invite code is required to register on this instance")
    if invite is None or not invite_usable(invite, now):
        raise forbidden("invalid, expired, or fully used invite code")
    return RegistrationGrant(is_owner=False, invite_id=invite.invite_id)


def invite_usable(invite: Invite, now: datetime) -> bool:
    if invite.deleted:
        return False
    if invite.expires_at is not None and now >= invite.expires_at:
        return False
    return invite.max_uses is None or invite.used_count < invite.max_uses


def validate_invite_request(max_uses: int | None, expires_in_hours: int | None, now: datetime
                            ) -> datetime | None:
    if max_uses is not None and not 1 <= max_uses <= 1_000_000:
        raise bad_request("max_uses must be 1-1000000")
    if expires_in_hours is None:
        return None
    if not 1 <= expires_in_hours <= INVITE_MAX_HOURS:
        raise bad_request(f"expires_in_hours must be 1-{INVITE_MAX_HOURS}")
    return now + timedelta(hours=expires_in_hours)


def check_locked(throttle: Throttle | None, now: datetime) -> None:
    """Refuse while a username is locked out (429 with the time left)."""
    if throttle is not None and throttle.locked_until is not None and now < throttle.locked_until:
        wait = max(1, int((throttle.locked_until - now).total_seconds() + 0.999))
        raise DomainError(
            "rate_limited", "too many failed attempts; try again later", retry_after_secs=wait
        )


def after_failure(throttle: Throttle | None, now: datetime, policy: LockoutPolicy
                  ) -> Throttle:
    """Count a failure. From `threshold` failures on, each one locks the username for a
    delay doubling from base to max. A quiet period of max delay forgets old failures."""
    failures = 1
    if throttle is not None:
        quiet_since = max(throttle.last_failure_at, throttle.locked_until or now.min.replace(
            tzinfo=throttle.last_failure_at.tzinfo))
        if now - quiet_since < timedelta(seconds=policy.max_delay_secs):
            failures = throttle.failures + 1
    locked_until = None
    if failures >= policy.threshold:
        exponent = min(failures - policy.threshold, 30)
        delay = min(policy.base_delay_secs * 2**exponent, policy.max_delay_secs)
        locked_until = now + timedelta(seconds=delay)
    return Throttle(failures=failures, last_failure_at=now, locked_until=locked_until)


def may_replay_refresh(*, age: timedelta, lost_after: timedelta,
                       issued_token_is_newest: bool) -> bool:
    """A retried refresh (same Idempotency-Key) gets its stored tokens back only while they
    can still be the client's: within the "reply lost" window, and while the refresh token
    that reply issued is its session's newest, unused and live. Otherwise the request is
    a rotated token presented again, and reuse detection revokes the session: a captured
    request (body and header) must not yield a working session."""
    return age <= lost_after and issued_token_is_newest


SecondFactor = Literal["none", "totp", "backup_code"]
TOTP_DIGITS = 6


def is_backup_code(code: str) -> bool:
    """Clients send TOTP and backup codes in one field (as upstream): six digits are a TOTP
    code, anything else a backup code (XXXXX-XXXXX)."""
    stripped = code.strip()
    return not (len(stripped) == TOTP_DIGITS and stripped.isdigit())


def choose_second_factor(totp_enabled: bool, code: str | None) -> SecondFactor:
    """What a login's `totp_code` must be checked as: nothing without TOTP (a code sent
    anyway is ignored); with TOTP, a code is required (401 `totp_required`)."""
    if not totp_enabled:
        return "none"
    if not code:
        raise DomainError("totp_required", "a TOTP code is required for this account")
    return "backup_code" if is_backup_code(code) else "totp"


def second_factor_invalid() -> DomainError:
    return DomainError("totp_invalid", "the TOTP code is not valid")


@dataclass(frozen=True)
class PresentedRefreshToken:
    """A refresh token found by its hash, with its session and account."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    rotated: bool
    session_revoked: bool
    session_expires_at: datetime
    account_status: AccountStatus


@dataclass(frozen=True)
class RefreshTokenReuse:
    """Theft detection: a rotated token came back. The whole family (the session) is
    revoked, what is recorded commits, and the refresh is refused."""

    revoke_session: bool
    events: list[msgspec.Struct]
    refusal: DomainError


def decide_refresh(token: PresentedRefreshToken, now: datetime) -> RefreshTokenReuse | None:
    """None: rotate the token and extend the session. A reused token: what to record before
    refusing. Raises for a session that has ended or an account that is not active."""
    if token.rotated:
        events: list[msgspec.Struct] = [
            ev.RefreshTokenReused(session_id=token.session_id, user_id=token.user_id)]
        if not token.session_revoked:
            events.append(ev.SessionRevoked(session_id=token.session_id,
                                            user_id=token.user_id,
                                            reason="refresh_token_reused"))
        return RefreshTokenReuse(
            revoke_session=not token.session_revoked, events=events,
            refusal=DomainError("unauthorized",
                                "refresh token already used; the session is revoked"))
    if token.session_revoked or token.session_expires_at <= now:
        raise DomainError("unauthorized", "the session has ended")
    if token.account_status != "active":
        raise DomainError("unauthorized", "the account is not active")
    return None


def deleted_username(user_id: uuid.UUID) -> str:
    """What a deleted account is called from then on, in the log and everywhere else."""
    return f"deleted-{user_id.hex[:12]}"


def deletion_redaction(data: msgspec.Struct) -> msgspec.Struct | None:
    """What the deletion of an account redacts: the replacement for one event of its
    `user-` stream that carries personal data (names, e-mail, profile, preferences, the
    username of a failed login), or None to keep the event as it is."""
    if isinstance(data, ev.UserRegistered):
        return msgspec.structs.replace(
            data, username=deleted_username(data.user_id), display_name="Deleted user",
            email=None)
    if isinstance(data, ev.ProfileUpdated):
        return ev.ProfileUpdated(user_id=data.user_id)
    if isinstance(data, ev.PreferencesUpdated):
        return ev.PreferencesUpdated(user_id=data.user_id, preferences={})
    if isinstance(data, ev.LoginFailed):
        return msgspec.structs.replace(data, username="deleted")
    return None


def check_self_action(actor: Account, target: Account) -> None:
    if actor.user_id == target.user_id:
        raise forbidden("use your own account settings for this")


def check_can_moderate(actor: Account, target: Account) -> None:
    """Staff act on members; only the owner acts on admins; nobody acts on the owner."""
    if not actor.is_staff:
        raise forbidden("instance admin only")
    check_self_action(actor, target)
    if target.is_owner:
        raise forbidden("the instance owner cannot be moderated")
    if target.is_admin and not actor.is_owner:
        raise forbidden("only the instance owner can act on another admin")


def decide_suspend(actor: Account, target: Account) -> None:
    check_can_moderate(actor, target)
    if target.status == "suspended":
        raise conflict("the user is already suspended")


def decide_unsuspend(actor: Account, target: Account) -> None:
    check_can_moderate(actor, target)
    if target.status != "suspended":
        raise conflict("the user is not suspended")


def decide_set_admin(actor: Account, target: Account, is_admin: bool) -> None:
    if not actor.is_owner:
        raise forbidden("only the instance owner can grant or revoke admin")
    check_self_action(actor, target)
    if target.is_owner:
        raise forbidden("the instance owner's role cannot change")
    if target.is_admin == is_admin:
        raise conflict("the user already has that role")


def decide_self_delete(account: Account) -> None:
    if account.is_owner:
        raise forbidden("the instance owner cannot delete their account")


def decide_block(user_id: uuid.UUID, target_id: uuid.UUID, already: bool) -> None:
    if user_id == target_id:
        raise bad_request("you cannot block yourself")
    if already:
        raise conflict("the user is already blocked")


def decide_unblock(was_blocked: bool) -> None:
    if not was_blocked:
        raise conflict("the user is not blocked")


ReportType = Literal["user", "message", "file"]
ReviewStatus = Literal["reviewed", "resolved", "dismissed"]


def check_report_target(report_type: ReportType, *, reporter_id: uuid.UUID,
                        target_id: uuid.UUID, target_exists: bool) -> None:
    """A report names something that exists (404 otherwise: a report of nothing would sit
    in the admins' queue), and not the reporter."""
    if not target_exists:
        raise DomainError("not_found", f"no such {report_type}")
    if report_type == "user" and target_id == reporter_id:
        raise bad_request("you cannot report yourself")


def decide_review(current_status: str | None, new_status: ReviewStatus) -> None:
    if current_status is None:
        raise DomainError("not_found", "no such report")
    if current_status in ("resolved", "dismissed"):
        raise conflict(f"the report is already {current_status}")
