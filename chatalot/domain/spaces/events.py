"""Spaces events: one msgspec Struct per type (docs/spaces.md lists streams and meaning).

Streams: `community-<id>` (a community's lifecycle, members, bans, invites, roles),
`group-<id>` (a group's lifecycle, members, invites), `channel-<id>` (a channel's or DM's
lifecycle, members, bans, timeouts, warnings, sender-key rotations).

Data conventions (PORTS.md): events about a channel carry `channel_id`, about a community
`community_id`, about a group `group_id` and `community_id`; an event that concerns one
user names them `user_id`; moderation events carry `moderator_id` and `reason`.
"""

from __future__ import annotations

import uuid

import msgspec

# -- communities (stream community-<id>) -------------------------------------------------


class CommunityCreated(msgspec.Struct, frozen=True, kw_only=True):
    community_id: uuid.UUID
    user_id: uuid.UUID  # the creator, its first owner
    name: str
    description: str | None = None
    public: bool = False
    discoverable: bool = False


class CommunityUpdated(msgspec.Struct, frozen=True, kw_only=True):
    """Only the fields that changed are set; "" clears a text field."""

    community_id: uuid.UUID
    name: str | None = None
    description: str | None = None
    public: bool | None = None
    discoverable: bool | None = None
    accent_color: str | None = None
    welcome_message: str | None = None
    who_creates_groups: str | None = None
    who_creates_invites: str | None = None


class CommunityDeleted(msgspec.Struct, frozen=True, kw_only=True):
    community_id: uuid.UUID
    group_ids: list[uuid.UUID]
    channel_ids: list[uuid.UUID]


class CommunityOwnershipTransferred(msgspec.Struct, frozen=True, kw_only=True):
    community_id: uuid.UUID
    user_id: uuid.UUID  # the new owner
    previous_owner_id: uuid.UUID
    reason: str | None = None  # "account_deleted" when the owner's account went away


class CommunityMemberJoined(msgspec.Struct, frozen=True, kw_only=True):
    community_id: uuid.UUID
    user_id: uuid.UUID
    role: str
    invite_id: uuid.UUID | None = None


class CommunityMemberLeft(msgspec.Struct, frozen=True, kw_only=True):
    community_id: uuid.UUID
    user_id: uuid.UUID


class CommunityMemberKicked(msgspec.Struct, frozen=True, kw_only=True):
    community_id: uuid.UUID
    user_id: uuid.UUID
    moderator_id: uuid.UUID
    reason: str | None = None


class CommunityMemberBanned(msgspec.Struct, frozen=True, kw_only=True):
    community_id: uuid.UUID
    user_id: uuid.UUID
    moderator_id: uuid.UUID
    reason: str | None = None


class CommunityMemberUnbanned(msgspec.Struct, frozen=True, kw_only=True):
    community_id: uuid.UUID
    user_id: uuid.UUID
    moderator_id: uuid.UUID
    reason: str | None = None


class CommunityRoleChanged(msgspec.Struct, frozen=True, kw_only=True):
    community_id: uuid.UUID
    user_id: uuid.UUID
    role: str
    moderator_id: uuid.UUID
    reason: str | None = None


class CommunityNicknameChanged(msgspec.Struct, frozen=True, kw_only=True):
    community_id: uuid.UUID
    user_id: uuid.UUID
    nickname: str | None


class CommunityInviteCreated(msgspec.Struct, frozen=True, kw_only=True):
    community_id: uuid.UUID
    invite_id: uuid.UUID
    code: str
    user_id: uuid.UUID  # who created it
    max_uses: int | None
    expires_at: str | None  # RFC 3339


class CommunityInviteUsed(msgspec.Struct, frozen=True, kw_only=True):
    community_id: uuid.UUID
    invite_id: uuid.UUID
    user_id: uuid.UUID
    uses: int  # after this use


class CommunityInviteDeleted(msgspec.Struct, frozen=True, kw_only=True):
    community_id: uuid.UUID
    invite_id: uuid.UUID


# -- groups (stream group-<id>) ----------------------------------------------------------


class GroupCreated(msgspec.Struct, frozen=True, kw_only=True):
    group_id: uuid.UUID
    community_id: uuid.UUID
    user_id: uuid.UUID  # the creator, its owner
    name: str
    description: str | None = None
    public: bool = True
    discoverable: bool = True


class GroupUpdated(msgspec.Struct, frozen=True, kw_only=True):
    group_id: uuid.UUID
    community_id: uuid.UUID
    name: str | None = None
    description: str | None = None
    public: bool | None = None
    discoverable: bool | None = None
    accent_color: str | None = None


class GroupDeleted(msgspec.Struct, frozen=True, kw_only=True):
    group_id: uuid.UUID
    community_id: uuid.UUID
    channel_ids: list[uuid.UUID]


class GroupOwnershipTransferred(msgspec.Struct, frozen=True, kw_only=True):
    group_id: uuid.UUID
    community_id: uuid.UUID
    user_id: uuid.UUID
    previous_owner_id: uuid.UUID
    reason: str | None = None  # "account_deleted" when the owner's account went away


class GroupMemberJoined(msgspec.Struct, frozen=True, kw_only=True):
    """The user joined the group and with it `channel_ids` (its channels)."""

    group_id: uuid.UUID
    community_id: uuid.UUID
    user_id: uuid.UUID
    role: str
    channel_ids: list[uuid.UUID]
    invite_id: uuid.UUID | None = None


class GroupMemberLeft(msgspec.Struct, frozen=True, kw_only=True):
    """Left, or removed with the community (kick, ban, leave); `channel_ids` left with it."""

    group_id: uuid.UUID
    community_id: uuid.UUID
    user_id: uuid.UUID
    channel_ids: list[uuid.UUID]


class GroupInviteCreated(msgspec.Struct, frozen=True, kw_only=True):
    group_id: uuid.UUID
    community_id: uuid.UUID
    invite_id: uuid.UUID
    code: str
    user_id: uuid.UUID
    max_uses: int | None
    expires_at: str | None


class GroupInviteUsed(msgspec.Struct, frozen=True, kw_only=True):
    group_id: uuid.UUID
    community_id: uuid.UUID
    invite_id: uuid.UUID
    user_id: uuid.UUID
    uses: int


# -- channels and DMs (stream channel-<id>) ----------------------------------------------


class ChannelCreated(msgspec.Struct, frozen=True, kw_only=True):
    """A group channel: every member of the group is a member of it from now on."""

    channel_id: uuid.UUID
    community_id: uuid.UUID
    group_id: uuid.UUID
    kind: str
    name: str
    topic: str | None = None
    user_id: uuid.UUID  # the creator
    owner_id: uuid.UUID | None = None  # the creator when a group member (its 'owner' row)


class ChannelUpdated(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: uuid.UUID
    community_id: uuid.UUID | None
    group_id: uuid.UUID | None
    name: str | None = None
    topic: str | None = None
    read_only: bool | None = None
    archived: bool | None = None
    slow_mode_secs: int | None = None
    e2e_required: bool | None = None


class ChannelDeleted(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: uuid.UUID
    community_id: uuid.UUID | None
    group_id: uuid.UUID | None


class ChannelOwnershipTransferred(msgspec.Struct, frozen=True, kw_only=True):
    """`user_id` owns the channel now; `by` is the acting user (the owner, or a manager
    of an ownerless channel); `previous_owner_id` None for an ownerless channel."""

    channel_id: uuid.UUID
    community_id: uuid.UUID | None
    group_id: uuid.UUID | None
    user_id: uuid.UUID
    previous_owner_id: uuid.UUID | None
    by: uuid.UUID


class DmChannelCreated(msgspec.Struct, frozen=True, kw_only=True):
    """`user_id` is the other side (new_dm_channel is addressed to both)."""

    channel_id: uuid.UUID
    user_id: uuid.UUID
    initiator_id: uuid.UUID


class ChannelMemberJoined(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: uuid.UUID
    community_id: uuid.UUID | None
    user_id: uuid.UUID
    role: str


class ChannelMemberLeft(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: uuid.UUID
    community_id: uuid.UUID | None
    user_id: uuid.UUID


class ChannelMemberKicked(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: uuid.UUID
    community_id: uuid.UUID | None
    user_id: uuid.UUID
    moderator_id: uuid.UUID
    reason: str | None = None


class ChannelMemberBanned(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: uuid.UUID
    community_id: uuid.UUID | None
    user_id: uuid.UUID
    moderator_id: uuid.UUID
    reason: str | None = None


class ChannelMemberUnbanned(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: uuid.UUID
    community_id: uuid.UUID | None
    user_id: uuid.UUID
    moderator_id: uuid.UUID
    reason: str | None = None


class ChannelRoleChanged(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: uuid.UUID
    community_id: uuid.UUID | None
    user_id: uuid.UUID
    role: str
    moderator_id: uuid.UUID
    reason: str | None = None


class UserTimedOut(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: uuid.UUID
    community_id: uuid.UUID | None
    user_id: uuid.UUID
    moderator_id: uuid.UUID
    reason: str | None
    until: str  # RFC 3339


class TimeoutRemoved(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: uuid.UUID
    community_id: uuid.UUID | None
    user_id: uuid.UUID
    moderator_id: uuid.UUID
    reason: str | None = None


class UserWarned(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: uuid.UUID
    community_id: uuid.UUID | None
    user_id: uuid.UUID
    moderator_id: uuid.UUID
    reason: str | None
    warning_id: uuid.UUID


class SenderKeyRotationRequired(msgspec.Struct, frozen=True, kw_only=True):
    """`user_id` left or was removed from the channel: every remaining member must start a
    new sender-key chain (the leaver holds the old ones)."""

    channel_id: uuid.UUID
    user_id: uuid.UUID


WIRE_NAMES: dict[str, str] = {
    "CommunityMemberKicked": "member_kicked", "ChannelMemberKicked": "member_kicked",
    "CommunityMemberBanned": "member_banned", "ChannelMemberBanned": "member_banned",
    "CommunityRoleChanged": "member_role_updated", "ChannelRoleChanged": "member_role_updated",
    "UserTimedOut": "user_timed_out", "UserWarned": "user_warned",
    "DmChannelCreated": "new_dm_channel", "ChannelUpdated": "channel_updated",
    "GroupUpdated": "group_updated", "CommunityUpdated": "community_updated",
    "ChannelDeleted": "channel_deleted", "GroupDeleted": "group_deleted",
    "SenderKeyRotationRequired": "sender_key_rotation_required",
}
"""The WebSocket frame type (protocol.md) of the events that have one upstream; the
gateway sends the others under their own name in snake case, or not at all."""

SPACES_EVENTS: list[type[msgspec.Struct]] = [
    CommunityCreated, CommunityUpdated, CommunityDeleted, CommunityOwnershipTransferred,
    CommunityMemberJoined, CommunityMemberLeft, CommunityMemberKicked, CommunityMemberBanned,
    CommunityMemberUnbanned, CommunityRoleChanged, CommunityNicknameChanged,
    CommunityInviteCreated, CommunityInviteUsed, CommunityInviteDeleted,
    GroupCreated, GroupUpdated, GroupDeleted, GroupOwnershipTransferred, GroupMemberJoined,
    GroupMemberLeft, GroupInviteCreated, GroupInviteUsed,
    ChannelCreated, ChannelUpdated, ChannelDeleted, ChannelOwnershipTransferred,
    DmChannelCreated, ChannelMemberJoined,
    ChannelMemberLeft, ChannelMemberKicked, ChannelMemberBanned, ChannelMemberUnbanned,
    ChannelRoleChanged, UserTimedOut, TimeoutRemoved, UserWarned, SenderKeyRotationRequired,
]
