"""THE permissions module: every REST route and every WebSocket frame asks it, nowhere
else. Pure functions over the access records that chatalot/spaces/access.py loads from
the decision tables inside the command's own transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Set
from datetime import datetime

from chatalot.domain.errors import DomainError, bad_request, forbidden
from chatalot.domain.spaces.access import ChannelAccess, CommunityAccess, GroupAccess
from chatalot.domain.spaces.roles import Role


def _at_least(role: Role | None, floor: Role) -> bool:
    return role is not None and role >= floor


def require_read(access: ChannelAccess) -> None:
    """Reading a channel (history, members, sender keys): members only."""
    if not access.member or access.banned:
        raise forbidden("you are not a member of this channel")


def require_post(access: ChannelAccess, now: datetime) -> None:
    """Posting (messages, reactions, files): a member who is not timed out, in a channel
    that is neither read-only nor archived. Staff of the community may post in a
    read-only channel (announcements); nobody posts in an archived one."""
    require_read(access)
    if access.timed_out_until is not None and access.timed_out_until > now:
        raise DomainError("timed_out", "you are timed out in this channel")
    if access.archived:
        raise DomainError("read_only", "this channel is archived")
    if access.read_only and not _at_least(access.role, Role.MODERATOR):
        raise DomainError("read_only", "this channel is read-only")


def require_recipients(recipients: Iterable[uuid.UUID], members: Set[uuid.UUID],
                       what: str = "recipient") -> None:
    """Every named user must belong to the channel: 400 bad_request naming the first one
    who does not (they are fields of the request, not the caller's rights)."""
    for user_id in recipients:
        if user_id not in members:
            raise bad_request(f"{what} {user_id} is not a member of this channel")


def require_moderate(access: ChannelAccess) -> None:
    """Kicks, bans, timeouts, warnings, pins of others' messages: moderator or higher."""
    if not may_moderate(access):
        raise forbidden("moderators only")


def may_moderate(access: ChannelAccess) -> bool:
    return _at_least(access.role, Role.MODERATOR)


def require_manage(access: ChannelAccess) -> None:
    """Channel settings and webhooks: admin or higher."""
    if not may_manage(access):
        raise forbidden("admins only")


def may_manage(access: ChannelAccess) -> bool:
    return _at_least(access.role, Role.ADMIN)


def require_moderates(actor: Role | None, target: Role | None) -> None:
    """An actor moderates only strictly lower roles (a non-member target counts as a
    member)."""
    if not _at_least(actor, Role.MODERATOR):
        raise forbidden("moderators only")
    assert actor is not None
    if actor <= (target or Role.MEMBER):
        raise forbidden("you can only moderate members below your own role")


def require_assigns(actor: Role | None, target: Role | None, new_role: Role) -> None:
    """A role change: admins and above, on a target below them, to a role below them."""
    if not _at_least(actor, Role.ADMIN):
        raise forbidden("admins only")
    assert actor is not None
    if actor <= (target or Role.MEMBER):
        raise forbidden("you can only change the role of members below your own role")
    if new_role >= actor:
        raise forbidden("you can only give roles below your own")


# -- communities and groups --------------------------------------------------------------


def require_community_view(access: CommunityAccess) -> None:
    """A community's details and member list: members, or anyone for a public or
    discoverable one (they may join it); never a banned user (staff excepted)."""
    if _at_least(access.role, Role.INSTANCE_ADMIN):
        return
    if access.banned or not (access.member or access.public or access.discoverable):
        raise forbidden("you are not a member of this community")


def require_community_member(access: CommunityAccess) -> None:
    if not access.member and not _at_least(access.role, Role.INSTANCE_ADMIN):
        raise forbidden("you are not a member of this community")


def require_community_join(access: CommunityAccess) -> None:
    """Joining without an invite: a public community, not banned, not yet a member."""
    if access.banned:
        raise forbidden("you are banned from this community")
    if access.member:
        raise DomainError("conflict", "you are already a member")
    if not access.public:
        raise forbidden("this community is private: an invite is needed")


def require_community_moderate(access: CommunityAccess) -> None:
    if not _at_least(access.role, Role.MODERATOR):
        raise forbidden("moderators only")


def require_community_manage(access: CommunityAccess) -> None:
    if not _at_least(access.role, Role.ADMIN):
        raise forbidden("admins only")


def require_community_owner(access: CommunityAccess) -> None:
    """Deleting or transferring a community: its owner (instance staff too)."""
    if not _at_least(access.role, Role.OWNER):
        raise forbidden("the community's owner only")


def require_create_groups(access: CommunityAccess) -> None:
    if _at_least(access.role, Role.INSTANCE_ADMIN):
        return
    require_community_member(access)
    if not _at_least(access.role, access.who_creates_groups):
        raise forbidden("this community does not let your role create groups")


def require_create_invites(access: CommunityAccess) -> None:
    if _at_least(access.role, Role.INSTANCE_ADMIN):
        return
    require_community_member(access)
    if not _at_least(access.role, access.who_creates_invites):
        raise forbidden("this community does not let your role create invites")


def require_group_view(access: GroupAccess) -> None:
    if _at_least(access.role, Role.INSTANCE_ADMIN):
        return
    if access.banned or not (access.member or (access.community_member and access.public)):
        raise forbidden("you are not a member of this group")


def require_group_join(access: GroupAccess) -> None:
    if access.banned:
        raise forbidden("you are banned from this community")
    if access.member:
        raise DomainError("conflict", "you are already a member of this group")
    if not access.community_member:
        raise forbidden("join the community first")
    if not access.public:
        raise forbidden("this group is private: an invite is needed")


def require_group_manage(access: GroupAccess) -> None:
    """Group settings and its channels: the group's owner, community admins, staff."""
    if not _at_least(access.role, Role.ADMIN):
        raise forbidden("the group's owner or a community admin only")


def require_group_owner(access: GroupAccess) -> None:
    if not _at_least(access.role, Role.OWNER):
        raise forbidden("the group's owner only")
