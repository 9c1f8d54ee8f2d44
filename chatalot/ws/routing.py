"""Log events -> server frames and their audience: the one place that maps them.

`route(event)` says what a socket may receive for one recorded event: the frame (encoded
once, shared by every recipient), and who receives it:

- `users`: the users it is addressed to (keys_low, sender_key_updated, a kicked member);
- `channel_id`: the members of that channel *at delivery time* (the hub asks
  `channel_members`, the decision table, once per batch, never per socket);
- `sharers_of`: everyone who shares a channel with that user, and the user
  (profile changes, identity key changes; never every socket);
- `close_sessions` / `close_users`: sockets to close 4003 (a revoked session, a suspended
  or deleted user).

Event data conventions (PORTS.md): events about a channel carry `channel_id`; an event
about one user carries `user_id`. An event type not listed here is not delivered.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import msgspec

from chatalot.contracts import iso
from chatalot.ws.frames import encode
from event_store import RecordedEvent


@dataclass(frozen=True)
class Route:
    frame: bytes
    position: str
    users: frozenset[uuid.UUID] = frozenset()
    channel_id: uuid.UUID | None = None
    sharers_of: uuid.UUID | None = None
    close_sessions: frozenset[uuid.UUID] = frozenset()
    close_users: frozenset[uuid.UUID] = frozenset()
    close_reason: str = ""
    community_id: uuid.UUID | None = None
    gate: uuid.UUID | None = None
    """Recipients must (still) be members of this channel: a sender key addressed to a
    member who has since left is not delivered."""
    everyone: bool = False
    """Every user with a socket (instance announcements)."""
    poll_id: uuid.UUID | None = None
    """A vote on this poll: if the poll is anonymous (the hub asks the log, once per poll),
    everyone but the voter gets `redacted` (no user_id) instead of `frame`."""
    redacted: bytes = b""
    own_user: uuid.UUID | None = None
    own_frame: bytes = b""
    """`own_user` receives `own_frame` instead of `frame` (the voter sees their own vote)."""

    def frame_for(self, user: uuid.UUID) -> bytes:
        return self.own_frame if self.own_frame and user == self.own_user else self.frame

    def anonymised(self) -> Route:
        """The route of a vote on an anonymous poll: the voter's name only to the voter."""
        return replace(self, frame=self.redacted, own_user=self.own_user,
                       own_frame=self.frame, poll_id=None, redacted=b"")


def _plain(data: Any) -> dict[str, Any]:
    built = msgspec.to_builtins(data)
    return built if isinstance(built, dict) else {}


def _uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            return None
    return None


Shape = Callable[[dict[str, Any]], dict[str, Any]]


def _same(data: dict[str, Any]) -> dict[str, Any]:
    return data


def _without(*names: str) -> Shape:
    def shape(data: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in data.items() if k not in names}
    return shape


# Event type -> (server frame type, how the data becomes the frame's fields).
# Addressed to one user (the field that names them):
ADDRESSED: dict[str, tuple[str, str, Shape]] = {
    "KeysLow": ("keys_low", "user_id", _same),
    "SenderKeyUpdated": ("sender_key_updated", "recipient_id", _without("recipient_id")),
}
GATED = frozenset({"SenderKeyUpdated"})

# To everyone who shares a channel with data["user_id"] (and that user):
ABOUT_A_USER: dict[str, tuple[str, Shape]] = {
    "ProfileUpdated": ("user_profile_updated", _same),
    "IdentityKeyReplaced": ("identity_key_changed", lambda d: {"user_id": d["user_id"]}),
    "IdentityKeyChanged": ("identity_key_changed", lambda d: {"user_id": d["user_id"]}),
}

# To the members of data["channel_id"] at delivery time (plus, for the events about one
# member, that member: a kicked or banned user learns why the channel went quiet, though
# no longer a member). Names are the spaces and messaging contexts' (PORTS.md).
CHANNEL: dict[str, tuple[str, Shape]] = {
    # the client_id is the sender's own retry key: only its message_sent echoes it
    "MessageSent": ("new_message", _without("client_id", "scheduled_id")),
    "MessageEdited": ("message_edited", _same),
    "MessageDeleted": ("message_deleted", _same),
    # ours (admin purge, issue 11): to clients it is a moderator's deletion
    "MessagePurged": ("message_deleted", lambda d: {
        "message_id": d["message_id"], "channel_id": d["channel_id"],
        "deleted_by": d["moderator_id"], "by_moderator": True}),
    # ours (messaging's quarantine): clients hide the body at once
    "MessageQuarantined": ("message_quarantined", _same),
    "MessageUnquarantined": ("message_unquarantined", _same),
    "ReactionAdded": ("reaction_added", _same),
    "ReactionRemoved": ("reaction_removed", _same),
    "ReadCursorMoved": ("read_receipt", _without("receipt")),
    "MessagePinned": ("message_pinned", _same),
    "MessageUnpinned": ("message_unpinned", _same),
    "PollCreated": ("poll_created", _same),
    "PollVoted": ("poll_voted", _same),
    "PollVoteRemoved": ("poll_vote_removed", _same),
    "PollClosed": ("poll_closed", _same),
    "ChannelUpdated": ("channel_updated", _same),
    # ours (protocol.md has no frame for it): a group channel's members are the group's,
    # written in the same transaction, so the channel's audience is exactly who may see it
    "ChannelCreated": ("channel_created", _same),
    "ChannelOwnershipTransferred": ("channel_ownership_transferred", _same),  # ours too
    "ChannelMemberKicked": ("member_kicked", _same),
    "ChannelMemberBanned": ("member_banned", _same),
    "ChannelRoleChanged": ("member_role_updated", _same),
    "UserTimedOut": ("user_timed_out", _same),
    "UserWarned": ("user_warned", _same),
    "SenderKeyRotationRequired": ("sender_key_rotation_required", _same),
}

# Votes: who voted is hidden from everyone but the voter when the poll is anonymous.
VOTES = frozenset({"PollVoted", "PollVoteRemoved"})

# Channel events that also reach the user they name (who may no longer be a member).
ALSO_TO_SUBJECT = frozenset({
    "ChannelMemberKicked", "ChannelMemberBanned", "ChannelRoleChanged", "UserTimedOut",
    "UserWarned", "CommunityMemberKicked", "CommunityMemberBanned", "CommunityRoleChanged",
})

# A read receipt is sent only when the reader's preference allows it.
SKIP_WHEN_FALSE = {"ReadCursorMoved": "receipt"}

# To the members of data["community_id"] (a deleted channel has no members left to ask:
# its community's members are told).
COMMUNITY: dict[str, tuple[str, Shape]] = {
    "CommunityUpdated": ("community_updated", _same),
    "CommunityMemberKicked": ("member_kicked", _same),
    "CommunityMemberBanned": ("member_banned", _same),
    "CommunityRoleChanged": ("member_role_updated", _same),
    "GroupUpdated": ("group_updated", _same),
    "GroupDeleted": ("group_deleted", _same),
    "ChannelDeleted": ("channel_deleted", _same),
}

# A new group (ours, as channel_created): a public one to the community's members (each
# joins it in the same transaction), a private one to its creator alone.
GROUP_CREATED = {"GroupCreated": "group_created"}

# New DM: to both sides.
DM_CREATED = {"DmChannelCreated": "new_dm_channel"}

# To every user (protocol.md: "announcements" are addressed to every socket's user).
EVERYONE: dict[str, tuple[str, Shape]] = {
    "AnnouncementPublished": ("announcement", lambda d: {
        "id": d["announcement_id"], "title": d["title"], "body": d["body"],
        "created_by": d["created_by"]}),
}

CLOSE_USER = {"UserSuspended": "the account was suspended",
              "UserDeleted": "the account was deleted"}


def _frame(kind: str, data: dict[str, Any], position: str) -> bytes:
    return encode({"type": kind, **data, "position": position})


def route(event: RecordedEvent) -> Route | None:
    """How one recorded event is delivered, or None when no socket receives it."""
    name = event.type
    position = event.position.encode()
    if name == "SessionRevoked":
        session = _uuid(getattr(event.data, "session_id", None))
        return Route(b"", position, close_sessions=frozenset({session}) if session else
                     frozenset(), close_reason="the session was revoked")
    if name in CLOSE_USER:
        user = _uuid(getattr(event.data, "user_id", None))
        return Route(b"", position, close_users=frozenset({user}) if user else frozenset(),
                     close_reason=CLOSE_USER[name])
    if name in ADDRESSED:
        kind, field_name, shape = ADDRESSED[name]
        data = _plain(event.data)
        user = _uuid(data.get(field_name))
        if user is None:
            return None
        return Route(_frame(kind, shape(data), position), position, users=frozenset({user}),
                     gate=_uuid(data.get("channel_id")) if name in GATED else None)
    if name in ABOUT_A_USER:
        kind, shape = ABOUT_A_USER[name]
        data = _plain(event.data)
        user = _uuid(data.get("user_id"))
        if user is None:
            return None
        return Route(_frame(kind, shape(data), position), position, sharers_of=user)
    if name in EVERYONE:
        kind, shape = EVERYONE[name]
        fields = {**shape(_plain(event.data)), "created_at": iso(event.recorded_at)}
        return Route(_frame(kind, fields, position), position, everyone=True)
    if name in DM_CREATED:
        data = _plain(event.data)
        users = {u for u in (_uuid(x) for x in data.get("member_ids", data.get("user_ids", [])))
                 if u is not None}
        for key in ("user_id", "initiator_id"):
            if (u := _uuid(data.get(key))) is not None:
                users.add(u)
        return Route(_frame(DM_CREATED[name], data, position), position,
                     users=frozenset(users), channel_id=_uuid(data.get("channel_id")))
    if name in GROUP_CREATED:
        data = _plain(event.data)
        creator = _uuid(data.get("user_id"))
        frame = _frame(GROUP_CREATED[name], data, position)
        if data.get("public"):
            return Route(frame, position, community_id=_uuid(data.get("community_id")),
                         users=frozenset({creator}) if creator else frozenset())
        return Route(frame, position, users=frozenset({creator}) if creator else frozenset())
    if name in COMMUNITY:
        kind, shape = COMMUNITY[name]
        data = _plain(event.data)
        community = _uuid(data.get("community_id"))
        if community is None:  # a DM's channel: its two members were told by the DM
            return None
        subject = _uuid(data.get("user_id")) if name in ALSO_TO_SUBJECT else None
        return Route(_frame(kind, shape(data), position), position, community_id=community,
                     users=frozenset({subject}) if subject else frozenset())
    if name in CHANNEL:
        kind, shape = CHANNEL[name]
        data = _plain(event.data)
        if name in SKIP_WHEN_FALSE and not data.get(SKIP_WHEN_FALSE[name], True):
            return None
        if name == "MessageSent":
            data["created_at"] = iso(event.recorded_at)
        channel = _uuid(data.get("channel_id"))
        if channel is None:
            return None
        subject = _uuid(data.get("user_id")) if name in ALSO_TO_SUBJECT else None
        framed = shape(data)
        if name in VOTES:
            return Route(_frame(kind, framed, position), position, channel_id=channel,
                         poll_id=_uuid(data.get("poll_id")),
                         redacted=_frame(kind, {**framed, "user_id": None}, position),
                         own_user=_uuid(data.get("user_id")))
        return Route(_frame(kind, framed, position), position, channel_id=channel,
                     users=frozenset({subject}) if subject else frozenset())
    return None


def delivered_types() -> frozenset[str]:
    """Every event type some socket may receive (for tests and docs)."""
    return frozenset({*ADDRESSED, *ABOUT_A_USER, *CHANNEL, *COMMUNITY, *DM_CREATED, *GROUP_CREATED,
                      *EVERYONE, *CLOSE_USER, "SessionRevoked"})
