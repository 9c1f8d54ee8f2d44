"""Time travel (issue 11 item 3): a channel's settings, members and roles, and bans as of a
point in the log, folded from the events of its own stream, its group's stream (who is in
the group when the channel is created; a group join or leave carries the channel ids it
joined or left) and its community's stream (a community's deletion). The same meaning as
the decision tables spaces keeps (chatalot/spaces/commands), without any projection.

Pins and the message count fold messaging's events of the channel's messages (their
`message-<id>` streams): pins as of the point, most recently pinned first (the order of
GET /channels/{id}/pins); the count is messages sent minus those deleted or purged (a
thread reply counts; a message deleted and then purged counts once). Pure: events in,
state out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

SETTINGS = ("name", "topic", "read_only", "archived", "slow_mode_secs", "e2e_required")
# All the fold reads of an event of a message's stream (sent, deleted, purged, pinned,
# unpinned): readers may hand it just these fields, never the body.
MESSAGE_FIELDS = ("message_id", "channel_id")


class ChannelSettings(msgspec.Struct, kw_only=True):
    channel_id: str
    kind: str | None = None
    community_id: str | None = None
    group_id: str | None = None
    name: str | None = None
    topic: str | None = None
    read_only: bool = False
    archived: bool = False
    slow_mode_secs: int = 0
    e2e_required: bool = False
    deleted: bool = False


class Ban(msgspec.Struct, kw_only=True):
    user_id: str
    moderator_id: str | None
    reason: str | None


class ChannelState:
    """Fold events (type, data as JSON values) in commit order; `apply` ignores what does
    not concern this channel."""

    def __init__(self, channel_id: str) -> None:
        self.channel = ChannelSettings(channel_id=channel_id)
        self.members: dict[str, str] = {}  # user id -> channel role
        self.bans: dict[str, Ban] = {}
        self.group_members: set[str] = set()
        self._pins: dict[str, None] = {}  # in pin order
        self._live: set[str] = set()  # messages sent and not deleted nor purged
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "GroupMemberJoined": self._group_joined, "GroupMemberLeft": self._group_left,
            "ChannelCreated": self._created, "DmChannelCreated": self._dm_created,
            "ChannelUpdated": self._updated, "ChannelDeleted": self._deleted,
            "GroupDeleted": self._deleted_with, "CommunityDeleted": self._deleted_with,
            "ChannelMemberJoined": self._joined, "ChannelMemberLeft": self._left,
            "ChannelMemberKicked": self._left, "ChannelMemberBanned": self._banned,
            "ChannelMemberUnbanned": self._unbanned, "ChannelRoleChanged": self._role,
            "ChannelOwnershipTransferred": self._transferred,
            "MessageSent": self._sent, "MessageDeleted": self._gone_message,
            "MessagePurged": self._gone_message, "MessagePinned": self._pinned,
            "MessageUnpinned": self._unpinned,
        }

    @property
    def pins(self) -> list[str]:
        return list(reversed(self._pins))

    @property
    def message_count(self) -> int:
        return len(self._live)

    @property
    def id(self) -> str:
        return self.channel.channel_id

    def apply(self, event_type: str, data: dict[str, Any]) -> None:
        handler = self._handlers.get(event_type)
        if handler is not None:
            handler(data)

    def _mine(self, data: dict[str, Any]) -> bool:
        return str(data.get("channel_id")) == self.id

    def _group_joined(self, d: dict[str, Any]) -> None:
        self.group_members.add(d["user_id"])
        if self.id in map(str, d.get("channel_ids", ())):
            self.members.setdefault(d["user_id"], "member")

    def _group_left(self, d: dict[str, Any]) -> None:
        self.group_members.discard(d["user_id"])
        if self.id in map(str, d.get("channel_ids", ())):
            self.members.pop(d["user_id"], None)

    def _created(self, d: dict[str, Any]) -> None:
        if self._mine(d):
            self.channel = ChannelSettings(
                channel_id=self.id, kind=d["kind"], community_id=d["community_id"],
                group_id=d["group_id"], name=d["name"], topic=d.get("topic"))
            for user in self.group_members:
                self.members.setdefault(user, "member")
            if d.get("owner_id") is not None:  # the creator, a group member: its owner
                self.members[d["owner_id"]] = "owner"

    def _dm_created(self, d: dict[str, Any]) -> None:
        if self._mine(d):
            self.channel = ChannelSettings(channel_id=self.id, kind="dm", e2e_required=True)
            for user in (d["user_id"], d["initiator_id"]):
                self.members.setdefault(user, "member")

    def _updated(self, d: dict[str, Any]) -> None:
        if self._mine(d):
            for name in SETTINGS:
                if d.get(name) is not None:
                    setattr(self.channel, name, d[name])

    def _deleted(self, d: dict[str, Any]) -> None:
        if self._mine(d):
            self._gone()

    def _deleted_with(self, d: dict[str, Any]) -> None:
        if self.id in map(str, d.get("channel_ids", ())):
            self._gone()

    def _gone(self) -> None:
        self.channel.deleted = True
        self.members.clear()
        self.bans.clear()

    def _transferred(self, d: dict[str, Any]) -> None:
        """The new owner's row becomes 'owner', the previous owner's 'admin' (as the
        decision table does)."""
        if self._mine(d):
            previous = d.get("previous_owner_id")
            if previous is not None and previous in self.members:
                self.members[previous] = "admin"
            self.members[d["user_id"]] = "owner"

    def _joined(self, d: dict[str, Any]) -> None:
        if self._mine(d):
            self.members[d["user_id"]] = d["role"]

    def _left(self, d: dict[str, Any]) -> None:
        if self._mine(d):
            self.members.pop(d["user_id"], None)

    def _banned(self, d: dict[str, Any]) -> None:
        if self._mine(d):
            self.members.pop(d["user_id"], None)
            self.bans[d["user_id"]] = Ban(user_id=d["user_id"],
                                          moderator_id=d.get("moderator_id"),
                                          reason=d.get("reason"))

    def _unbanned(self, d: dict[str, Any]) -> None:
        if self._mine(d):
            self.bans.pop(d["user_id"], None)

    def _role(self, d: dict[str, Any]) -> None:
        if self._mine(d) and d["user_id"] in self.members:
            self.members[d["user_id"]] = d["role"]

    def _sent(self, d: dict[str, Any]) -> None:
        if self._mine(d):
            self._live.add(str(d["message_id"]))

    def _gone_message(self, d: dict[str, Any]) -> None:
        if self._mine(d):
            self._live.discard(str(d["message_id"]))
            self._pins.pop(str(d["message_id"]), None)

    def _pinned(self, d: dict[str, Any]) -> None:
        if self._mine(d):
            self._pins[str(d["message_id"])] = None

    def _unpinned(self, d: dict[str, Any]) -> None:
        if self._mine(d):
            self._pins.pop(str(d["message_id"]), None)
