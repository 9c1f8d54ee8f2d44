"""Request and reply bodies of the spaces routes (communities, groups, channels, DMs,
moderation). Requests bound every field (a bad one is 400 before any handler runs); the
gateway decodes its frames into the same Structs."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec

from chatalot.contracts import Body
from chatalot.domain.errors import bad_request
from chatalot.domain.spaces import rules

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=rules.NAME_MAX)]
Description = Annotated[str, msgspec.Meta(max_length=rules.DESCRIPTION_MAX)]
Topic = Annotated[str, msgspec.Meta(max_length=rules.TOPIC_MAX)]
Reason = Annotated[str, msgspec.Meta(max_length=rules.REASON_MAX)]
Nickname = Annotated[str, msgspec.Meta(max_length=rules.NICKNAME_MAX)]
Color = Annotated[str, msgspec.Meta(pattern=r"^#[0-9a-fA-F]{6}$")]
Policy = Literal["member", "moderator", "admin", "owner"]
AssignableRole = Literal["member", "moderator", "admin"]
SlowMode = Annotated[int, msgspec.Meta(ge=0, le=rules.SLOW_MODE_MAX_SECS)]
Hours = Annotated[int, msgspec.Meta(ge=1, le=rules.INVITE_HOURS_MAX)]
Uses = Annotated[int, msgspec.Meta(ge=1, le=rules.INVITE_USES_MAX)]
TimeoutSecs = Annotated[int, msgspec.Meta(ge=1, le=rules.TIMEOUT_SECS_MAX)]


# -- requests ----------------------------------------------------------------------------


class CreateCommunity(Body, kw_only=True):
    name: Name
    description: Description | None = None
    public: bool = False
    discoverable: bool = False


class UpdateCommunity(Body, kw_only=True):
    name: Name | None = None
    description: Description | None = None
    public: bool | None = None
    discoverable: bool | None = None
    accent_color: Color | None = None
    welcome_message: Description | None = None
    who_creates_groups: Policy | None = None
    who_creates_invites: Policy | None = None


class CreateGroup(Body, kw_only=True):
    community_id: uuid.UUID
    name: Name
    description: Description | None = None
    public: bool = True
    discoverable: bool = True


class UpdateGroup(Body, kw_only=True):
    name: Name | None = None
    description: Description | None = None
    public: bool | None = None
    discoverable: bool | None = None
    accent_color: Color | None = None


class CreateChannel(Body, kw_only=True):
    name: Name
    kind: Literal["text", "voice"] = "text"
    topic: Topic | None = None


class UpdateChannel(Body, kw_only=True):
    name: Name | None = None
    topic: Topic | None = None
    read_only: bool | None = None
    archived: bool | None = None
    slow_mode_secs: SlowMode | None = None
    e2e_required: bool | None = None


class TransferOwnership(Body, kw_only=True):
    user_id: uuid.UUID


class CreateInvite(Body, kw_only=True):
    max_uses: Uses | None = None
    expires_in_hours: Hours | None = None


class SetRole(Body, kw_only=True):
    role: AssignableRole
    reason: Reason | None = None


class SetNickname(Body, kw_only=True):
    nickname: Nickname | None = None


class Moderation(Body, kw_only=True):
    """Kick, ban, unban: an optional reason, kept in the event for the audit log."""

    reason: Reason | None = None


class Timeout(Body, kw_only=True):
    user_id: uuid.UUID
    duration_secs: TimeoutSecs
    reason: Reason | None = None


class Warn(Body, kw_only=True):
    user_id: uuid.UUID
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=rules.REASON_MAX)]


class CreateDm(Body, kw_only=True):
    target_user_id: uuid.UUID


# -- replies -----------------------------------------------------------------------------


class Created(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    position: str


class Done(msgspec.Struct, kw_only=True):
    position: str | None


class InviteReply(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    code: str
    community_id: uuid.UUID
    group_id: uuid.UUID | None
    max_uses: int | None
    uses: int
    expires_at: str | None
    created_by: uuid.UUID
    position: str | None = None


class InviteInfo(msgspec.Struct, kw_only=True):
    community_id: uuid.UUID
    community_name: str
    group_id: uuid.UUID | None
    group_name: str | None
    member_count: int
    expires_at: str | None


class Joined(msgspec.Struct, kw_only=True):
    community_id: uuid.UUID
    group_id: uuid.UUID | None = None
    position: str


class Community(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    description: str | None
    owner_id: uuid.UUID
    public: bool
    discoverable: bool
    accent_color: str | None
    welcome_message: str | None
    who_creates_groups: str
    who_creates_invites: str
    member_count: int
    created_at: str


class Group(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    community_id: uuid.UUID
    name: str
    description: str | None
    owner_id: uuid.UUID
    public: bool
    discoverable: bool
    accent_color: str | None
    member_count: int
    created_at: str


class Channel(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: str
    name: str | None
    topic: str | None
    community_id: uuid.UUID | None
    group_id: uuid.UUID | None
    read_only: bool
    archived: bool
    slow_mode_secs: int
    e2e_required: bool
    created_at: str


class Member(msgspec.Struct, kw_only=True):
    user_id: uuid.UUID
    username: str | None
    display_name: str | None
    nickname: str | None = None
    role: str
    joined_at: str


class MemberPage(msgspec.Struct, kw_only=True):
    items: list[Member]
    next_cursor: str | None


class Ban(msgspec.Struct, kw_only=True):
    user_id: uuid.UUID
    moderator_id: uuid.UUID
    reason: str | None
    banned_at: str


class BanPage(msgspec.Struct, kw_only=True):
    items: list[Ban]
    next_cursor: str | None


class Warning(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    channel_id: uuid.UUID
    user_id: uuid.UUID
    moderator_id: uuid.UUID
    reason: str | None
    created_at: str


class WarningPage(msgspec.Struct, kw_only=True):
    items: list[Warning]
    next_cursor: str | None
    total: int


class DmUser(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    username: str
    display_name: str | None
    avatar_url: str | None


class Dm(msgspec.Struct, kw_only=True):
    channel: Channel
    other_user: DmUser | None


class DmReply(msgspec.Struct, kw_only=True):
    channel_id: uuid.UUID
    created: bool
    position: str | None


class DmPage(msgspec.Struct, kw_only=True):
    items: list[Dm]
    next_cursor: str | None


class GroupPage(msgspec.Struct, kw_only=True):
    items: list[Group]
    next_cursor: str | None


class CommunityPage(msgspec.Struct, kw_only=True):
    items: list[Community]
    next_cursor: str | None


def check_reason(reason: str | None) -> str | None:
    """A reason given as a query parameter (DELETE routes carry no body)."""
    if reason is not None and len(reason) > rules.REASON_MAX:
        raise bad_request(f"reason must be at most {rules.REASON_MAX} characters")
    return reason or None
