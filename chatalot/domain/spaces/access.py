"""What a caller is in one channel or community, as the decision tables say right now.
Pure types: chatalot/spaces/access.py loads them, chatalot/domain/spaces/permissions.py
judges them."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from chatalot.domain.spaces.roles import Role


class ChannelAccess(msgspec.Struct, frozen=True):
    channel_id: uuid.UUID
    kind: str  # "text" | "voice" | "dm"
    community_id: uuid.UUID | None  # None for DMs
    group_id: uuid.UUID | None  # None for DMs
    member: bool  # the caller has a channel_members row (never when banned)
    role: Role | None  # highest of instance, community and channel role; None for a
    #                    non-member who is not instance staff
    banned: bool
    timed_out_until: datetime | None
    read_only: bool
    archived: bool
    slow_mode_secs: int  # 0 = off
    e2e_required: bool  # always True for kind "dm"


class CommunityAccess(msgspec.Struct, frozen=True):
    """The caller in a community: `role` is the highest of instance and community role."""

    community_id: uuid.UUID
    owner_id: uuid.UUID
    member: bool
    role: Role | None
    banned: bool
    public: bool
    discoverable: bool
    who_creates_groups: Role  # the lowest community role that may create groups
    who_creates_invites: Role  # the lowest community role that may create invites
    group_count: int


class GroupAccess(msgspec.Struct, frozen=True):
    """The caller in a group: `role` is the highest of instance, community and group role
    (a group's owner is OWNER in it)."""

    group_id: uuid.UUID
    community_id: uuid.UUID
    owner_id: uuid.UUID
    member: bool
    community_member: bool
    role: Role | None
    banned: bool  # banned from the community
    public: bool
    discoverable: bool
    channel_count: int
