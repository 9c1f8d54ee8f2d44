"""Spaces decisions that are not permissions (those are permissions.py): limits, the
ownership rules, invites, DMs. Plain functions; they raise DomainError or return."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from chatalot.domain.errors import DomainError, bad_request, conflict, forbidden

MAX_GROUPS_PER_COMMUNITY = 200
MAX_CHANNELS_PER_GROUP = 100
NAME_MAX = 64
DESCRIPTION_MAX = 2048
TOPIC_MAX = 512
REASON_MAX = 512
NICKNAME_MAX = 32
SLOW_MODE_MIN_SECS = 5
SLOW_MODE_MAX_SECS = 600
INVITE_HOURS_MAX = 8760
INVITE_USES_MAX = 100_000
TIMEOUT_SECS_MAX = 28 * 24 * 3600
CHANNEL_KINDS = ("text", "voice")
POLICY_ROLES = ("member", "moderator", "admin", "owner")


def check_name(name: str, what: str = "name") -> str:
    stripped = name.strip()
    if not 1 <= len(stripped) <= NAME_MAX:
        raise bad_request(f"{what} must be 1-{NAME_MAX} characters")
    if any(ord(ch) < 32 for ch in stripped):
        raise bad_request(f"{what} must not contain control characters")
    return stripped


def check_slow_mode(secs: int) -> int:
    if secs != 0 and not SLOW_MODE_MIN_SECS <= secs <= SLOW_MODE_MAX_SECS:
        raise bad_request(f"slow mode is 0 (off) or {SLOW_MODE_MIN_SECS}-{SLOW_MODE_MAX_SECS}"
                          " seconds")
    return secs


def check_group_capacity(group_count: int) -> None:
    if group_count >= MAX_GROUPS_PER_COMMUNITY:
        raise DomainError("limit_reached",
                          f"a community has at most {MAX_GROUPS_PER_COMMUNITY} groups")


def check_channel_capacity(channel_count: int) -> None:
    if channel_count >= MAX_CHANNELS_PER_GROUP:
        raise DomainError("limit_reached",
                          f"a group has at most {MAX_CHANNELS_PER_GROUP} channels")


def check_leave(is_owner: bool, member: bool, what: str) -> None:
    """Leaving needs membership; an owner transfers ownership first (a community or group
    always has an owner)."""
    if not member:
        raise bad_request(f"you are not a member of this {what}")
    if is_owner:
        raise forbidden(f"the owner cannot leave; transfer the {what}'s ownership first")


def check_not_owner(target_is_owner: bool) -> None:
    """The owner cannot be kicked, banned or given another role, not even by instance
    staff: a community always has an owner (staff may delete the community instead)."""
    if target_is_owner:
        raise forbidden("the owner cannot be removed or demoted; ownership is transferred")


def check_transfer(actor_is_owner: bool, target_member: bool, target_banned: bool,
                   actor_id: uuid.UUID, target_id: uuid.UUID) -> None:
    if not actor_is_owner:
        raise forbidden("only the owner may transfer ownership")
    if actor_id == target_id:
        raise bad_request("you already own it")
    if target_banned or not target_member:
        raise bad_request("the new owner must be a member")


def check_channel_transfer(owner: uuid.UUID | None, actor: uuid.UUID, may_manage: bool,
                           target: uuid.UUID, target_member: bool) -> None:
    """A channel's owner hands it to another member; a channel with no owner (created by
    a manager outside its group, or left by its owner with the community) is given one by
    whoever may manage the channel (admins and above)."""
    if owner is None:
        if not may_manage:
            raise forbidden("admins only")
    elif owner != actor:
        raise forbidden("only the owner may transfer ownership")
    if owner == target:
        raise bad_request("the user already owns it")
    if not target_member:
        raise bad_request("the new owner must be a member")


# -- invites ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invite:
    invite_id: uuid.UUID
    community_id: uuid.UUID
    group_id: uuid.UUID | None
    max_uses: int | None
    uses: int
    expires_at: datetime | None


def invite_expiry(now: datetime, hours: int | None) -> datetime | None:
    if hours is None:
        return None
    if not 1 <= hours <= INVITE_HOURS_MAX:
        raise bad_request(f"expires_in_hours must be 1-{INVITE_HOURS_MAX}")
    return now + timedelta(hours=hours)


def check_invite_usable(invite: Invite, now: datetime) -> None:
    """An expired or used-up invite is as good as unknown to its holder: 404, so codes
    cannot be told apart by probing."""
    if invite.expires_at is not None and invite.expires_at <= now:
        raise DomainError("not_found", "this invite has expired")
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        raise DomainError("not_found", "this invite has been used up")


def check_invite_accept(banned: bool, already_member: bool) -> None:
    if banned:
        raise forbidden("you are banned from this community")
    if already_member:
        raise conflict("you are already a member")


# -- DMs -----------------------------------------------------------------------------------


def dm_pair(a: uuid.UUID, b: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    """The pair's canonical order (one DM per unordered pair)."""
    return (a, b) if a.bytes < b.bytes else (b, a)


def check_dm(actor: uuid.UUID, other: uuid.UUID, *, other_exists: bool, staff: bool,
             share_community: bool, blocked: bool) -> None:
    if actor == other:
        raise bad_request("a DM needs another user")
    if not other_exists:
        raise DomainError("not_found", "no such user")
    if blocked:
        raise forbidden("one of you blocked the other")
    if not (staff or share_community):
        raise forbidden("you share no community with this user")
