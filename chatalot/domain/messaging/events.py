"""Messaging events: one msgspec Struct per type (docs/messaging.md).

Streams (chatalot/domain/streams.py):
- `message-<id>`: MessageSent, MessageEdited, MessageDeleted, ReactionAdded,
  ReactionRemoved, MessagePinned, MessageUnpinned, MessageQuarantined,
  MessageUnquarantined, MessagePurged. Each message is its own small stream,
  so concurrent sends never contend and deciding on a message reads one short stream.
- `reads-<user id>`: ReadCursorMoved (one user's read cursors, all channels).
- `bookmarks-<user id>`: BookmarkAdded, BookmarkRemoved.
- `poll-<id>`: PollCreated, PollVoted, PollVoteRemoved, PollClosed.
- `scheduled-<id>`: MessageScheduled, ScheduledMessageCancelled, ScheduledMessageDelivered
  (the delivery's MessageSent goes to the new message's own stream, in the same append).
- `webhook-<id>`: WebhookCreated, WebhookUpdated, WebhookDeleted (never the token).

Every event carries `channel_id` (PORTS.md: the gateway routes by it), except the
bookmark events, which are private to their `user_id` (ADDRESSEE).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

import msgspec

# -- messages (stream message-<id>) -----------------------------------------------------------


class MessageSent(msgspec.Struct, frozen=True, kw_only=True):
    """`ciphertext` and `nonce` are base64; with encryption `none` the ciphertext decodes
    to UTF-8 text the server may read (and index). `mentions` are declared by the sender."""

    message_id: uuid.UUID
    channel_id: uuid.UUID
    sender_id: uuid.UUID | None  # None for a webhook's message
    ciphertext: str
    nonce: str
    encryption: str  # none | double_ratchet | sender_key
    message_type: str  # text | file | system | webhook
    reply_to: uuid.UUID | None = None
    thread_id: uuid.UUID | None = None
    sender_key_id: int | None = None
    client_id: uuid.UUID | None = None
    mentions: list[uuid.UUID] = msgspec.field(default_factory=list)
    webhook_id: uuid.UUID | None = None
    webhook_name: str | None = None
    webhook_avatar: str | None = None
    scheduled_id: uuid.UUID | None = None


class MessageEdited(msgspec.Struct, frozen=True, kw_only=True):
    """The new body; the earlier ones stay in the stream (the edit history)."""

    message_id: uuid.UUID
    channel_id: uuid.UUID
    editor_id: uuid.UUID
    ciphertext: str
    nonce: str
    mentions: list[uuid.UUID] = msgspec.field(default_factory=list)


class MessageDeleted(msgspec.Struct, frozen=True, kw_only=True):
    message_id: uuid.UUID
    channel_id: uuid.UUID
    deleted_by: uuid.UUID
    by_moderator: bool


class ReactionAdded(msgspec.Struct, frozen=True, kw_only=True):
    message_id: uuid.UUID
    channel_id: uuid.UUID
    user_id: uuid.UUID
    emoji: str


class ReactionRemoved(msgspec.Struct, frozen=True, kw_only=True):
    message_id: uuid.UUID
    channel_id: uuid.UUID
    user_id: uuid.UUID
    emoji: str


class MessagePinned(msgspec.Struct, frozen=True, kw_only=True):
    message_id: uuid.UUID
    channel_id: uuid.UUID
    pinned_by: uuid.UUID


class MessageUnpinned(msgspec.Struct, frozen=True, kw_only=True):
    message_id: uuid.UUID
    channel_id: uuid.UUID
    unpinned_by: uuid.UUID


class MessageQuarantined(msgspec.Struct, frozen=True, kw_only=True):
    """Instance staff hid a message pending review: members see it as quarantined, without
    its body; staff still see it; search leaves it out."""

    message_id: uuid.UUID
    channel_id: uuid.UUID
    moderator_id: uuid.UUID
    reason: str | None = None


class MessageUnquarantined(msgspec.Struct, frozen=True, kw_only=True):
    message_id: uuid.UUID
    channel_id: uuid.UUID
    moderator_id: uuid.UUID


class MessagePurged(msgspec.Struct, frozen=True, kw_only=True):
    """Instance staff purged the message (alone, or with all of its sender's or channel's
    messages: `scope`): it is gone as if deleted, and the bodies of its MessageSent and
    MessageEdited (and of the MessageScheduled it was delivered from) are then redacted
    from the log (EventRedacted records, chatalot/messaging/commands/purge.py). `user_id`
    is the sender (None for a webhook's message), the audited target."""

    message_id: uuid.UUID
    channel_id: uuid.UUID
    user_id: uuid.UUID | None
    moderator_id: uuid.UUID
    scope: str  # message | user | channel
    reason: str | None = None


# -- read cursors (stream reads-<user id>) ----------------------------------------------------


class ReadCursorMoved(msgspec.Struct, frozen=True, kw_only=True):
    """`user_id` read `channel_id` up to `message_id`. `receipt` is False when the user
    turned read receipts off: no `read_receipt` is sent and the cursor is not shown."""

    channel_id: uuid.UUID
    user_id: uuid.UUID
    message_id: uuid.UUID
    receipt: bool


# -- bookmarks (stream bookmarks-<user id>) ---------------------------------------------------


class BookmarkAdded(msgspec.Struct, frozen=True, kw_only=True):
    bookmark_id: uuid.UUID
    user_id: uuid.UUID
    message_id: uuid.UUID
    channel_id: uuid.UUID
    note: str | None = None


class BookmarkRemoved(msgspec.Struct, frozen=True, kw_only=True):
    bookmark_id: uuid.UUID
    user_id: uuid.UUID


# -- polls (stream poll-<id>) -----------------------------------------------------------------


class PollCreated(msgspec.Struct, frozen=True, kw_only=True):
    poll_id: uuid.UUID
    channel_id: uuid.UUID
    creator_id: uuid.UUID
    question: str
    options: list[str]
    multi_select: bool
    anonymous: bool
    expires_at: datetime | None = None


class PollVoted(msgspec.Struct, frozen=True, kw_only=True):
    """`user_id`'s whole current choice (a new vote replaces the earlier one)."""

    poll_id: uuid.UUID
    channel_id: uuid.UUID
    user_id: uuid.UUID
    option_indexes: list[int]


class PollVoteRemoved(msgspec.Struct, frozen=True, kw_only=True):
    poll_id: uuid.UUID
    channel_id: uuid.UUID
    user_id: uuid.UUID


class PollClosed(msgspec.Struct, frozen=True, kw_only=True):
    poll_id: uuid.UUID
    channel_id: uuid.UUID
    closed_by: uuid.UUID | None  # None: it expired


# -- scheduled messages (stream scheduled-<id>) -----------------------------------------------


class MessageScheduled(msgspec.Struct, frozen=True, kw_only=True):
    scheduled_id: uuid.UUID
    channel_id: uuid.UUID
    sender_id: uuid.UUID
    ciphertext: str
    nonce: str
    encryption: str
    message_type: str
    due_at: datetime
    reply_to: uuid.UUID | None = None
    thread_id: uuid.UUID | None = None
    sender_key_id: int | None = None
    mentions: list[uuid.UUID] = msgspec.field(default_factory=list)


class ScheduledMessageCancelled(msgspec.Struct, frozen=True, kw_only=True):
    scheduled_id: uuid.UUID
    channel_id: uuid.UUID
    sender_id: uuid.UUID


class ScheduledMessageDelivered(msgspec.Struct, frozen=True, kw_only=True):
    """Delivered as `message_id` (its MessageSent is in the same append), or dropped
    with `refused` (the sender may no longer post there) and no message."""

    scheduled_id: uuid.UUID
    channel_id: uuid.UUID
    sender_id: uuid.UUID
    message_id: uuid.UUID | None
    refused: str | None = None


# -- incoming webhooks (stream webhook-<id>) --------------------------------------------------


class WebhookCreated(msgspec.Struct, frozen=True, kw_only=True):
    """Never the token: only its hash is kept, in the decision table."""

    webhook_id: uuid.UUID
    channel_id: uuid.UUID
    name: str
    avatar_url: str | None
    created_by: uuid.UUID


class WebhookUpdated(msgspec.Struct, frozen=True, kw_only=True):
    webhook_id: uuid.UUID
    channel_id: uuid.UUID
    name: str
    avatar_url: str | None
    active: bool


class WebhookDeleted(msgspec.Struct, frozen=True, kw_only=True):
    webhook_id: uuid.UUID
    channel_id: uuid.UUID


ADDRESSEE: Final[dict[str, str]] = {
    "BookmarkAdded": "user_id",
    "BookmarkRemoved": "user_id",
}
"""Event type -> the field naming the one user it is delivered to (not to the channel)."""


MESSAGING_EVENTS: list[type[msgspec.Struct]] = [
    MessageSent, MessageEdited, MessageDeleted, ReactionAdded, ReactionRemoved,
    MessagePinned, MessageUnpinned, MessageQuarantined, MessageUnquarantined, MessagePurged,
    ReadCursorMoved, BookmarkAdded, BookmarkRemoved,
    PollCreated, PollVoted, PollVoteRemoved, PollClosed, MessageScheduled,
    ScheduledMessageCancelled, ScheduledMessageDelivered, WebhookCreated, WebhookUpdated,
    WebhookDeleted,
]
