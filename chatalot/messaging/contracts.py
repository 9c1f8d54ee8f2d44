"""Request and response bodies of messaging (REST now, WebSocket frames later: the gateway
decodes `send_message`, `edit_message`, `delete_message`, `add_reaction` /
`remove_reaction`, `mark_read` into these same Structs, whose fields are protocol.md's
frame fields). Binary fields are standard base64 strings."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec

from chatalot.contracts import Body
from chatalot.domain.messaging import rules

# a 64 KiB body is 87,384 base64 characters; the exact byte limit is checked decoded (413)
Ciphertext = Annotated[str, msgspec.Meta(max_length=200_000)]
Nonce = Annotated[str, msgspec.Meta(max_length=256)]
Mentions = Annotated[list[uuid.UUID], msgspec.Meta(max_length=rules.MAX_MENTIONS)]
Emoji = Annotated[str, msgspec.Meta(min_length=1, max_length=rules.EMOJI_MAX_CHARS)]
Encryption = Literal["none", "double_ratchet", "sender_key"]
MessageType = Literal["text", "file", "system", "webhook"]
U32 = Annotated[int, msgspec.Meta(ge=0, le=0xFFFFFFFF)]


class SendMessage(Body, kw_only=True, tag_field="type", tag="send_message"):
    """`send_message` (the `type` tag is optional: a WebSocket frame carries it, a REST
    body need not; the gateway decodes a frame as FRAMES, the union of these tagged
    Structs). `channel_id` is the frame's; over REST the path names the channel (a
    different one in the body is 400)."""

    ciphertext: Ciphertext
    nonce: Nonce = ""
    encryption: Encryption
    message_type: MessageType = "text"
    channel_id: uuid.UUID | None = None
    reply_to: uuid.UUID | None = None
    thread_id: uuid.UUID | None = None
    sender_key_id: U32 | None = None
    client_id: uuid.UUID | None = None
    mentions: Mentions = msgspec.field(default_factory=list)
    ref: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class EditMessage(Body, kw_only=True, tag_field="type", tag="edit_message"):
    """`edit_message` (over REST the path names the message)."""

    ciphertext: Ciphertext
    nonce: Nonce = ""
    message_id: uuid.UUID | None = None
    mentions: Mentions = msgspec.field(default_factory=list)
    ref: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class Reaction(Body, kw_only=True):
    """`add_reaction` / `remove_reaction`."""

    emoji: Emoji
    message_id: uuid.UUID | None = None
    ref: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class AddReaction(Reaction, kw_only=True, tag_field="type", tag="add_reaction"):
    pass


class RemoveReaction(Reaction, kw_only=True, tag_field="type", tag="remove_reaction"):
    pass


class DeleteMessage(Body, kw_only=True, tag_field="type", tag="delete_message"):
    message_id: uuid.UUID
    ref: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class MarkAllRead(Body, kw_only=True, tag_field="type", tag="mark_all_read"):
    ref: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class MarkRead(Body, kw_only=True, tag_field="type", tag="mark_read"):
    """`mark_read` (over REST the path names the channel)."""

    message_id: uuid.UUID
    channel_id: uuid.UUID | None = None
    ref: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class Bookmark(Body, kw_only=True):
    message_id: uuid.UUID
    note: Annotated[str, msgspec.Meta(max_length=500)] | None = None


FRAMES = SendMessage | EditMessage | DeleteMessage | AddReaction | RemoveReaction | MarkRead \
    | MarkAllRead
"""The messaging command frames of the WebSocket, as one tagged union (`type`)."""


# -- replies ----------------------------------------------------------------------------------


class MessageSentReply(msgspec.Struct, kw_only=True):
    """The reply to a send (`message_sent` over the WebSocket). A retry with the same
    client_id gets the first send's reply."""

    id: uuid.UUID
    channel_id: uuid.UUID
    client_id: uuid.UUID | None
    created_at: str
    position: str


class Position(msgspec.Struct, kw_only=True):
    position: str


class PositionOrNone(msgspec.Struct, kw_only=True):
    position: str | None


class ReactionCount(msgspec.Struct, kw_only=True):
    emoji: str
    count: int
    user_ids: list[uuid.UUID]


class Message(msgspec.Struct, kw_only=True):
    """A message as history shows it. A deleted message keeps its place with
    `deleted: true` and no body; a quarantined one with `quarantined: true`, its body
    shown to instance staff only."""

    id: uuid.UUID
    channel_id: uuid.UUID
    sender_id: uuid.UUID | None
    ciphertext: str | None
    nonce: str | None
    encryption: str
    message_type: str
    reply_to: uuid.UUID | None
    thread_id: uuid.UUID | None
    sender_key_id: int | None
    mentions: list[uuid.UUID]
    webhook_name: str | None
    webhook_avatar: str | None
    created_at: str
    edited_at: str | None
    deleted: bool
    quarantined: bool
    pinned: bool
    reply_count: int
    reactions: list[ReactionCount]
    position: str


class MessagePage(msgspec.Struct, kw_only=True):
    items: list[Message]
    next_cursor: str | None


class Edit(msgspec.Struct, kw_only=True):
    """One version of a message: the original first, then each edit."""

    ciphertext: str
    nonce: str
    mentions: list[uuid.UUID]
    editor_id: uuid.UUID | None
    at: str
    position: str


class EditHistory(msgspec.Struct, kw_only=True):
    message_id: uuid.UUID
    versions: list[Edit]


class Pin(msgspec.Struct, kw_only=True):
    message_id: uuid.UUID
    pinned_by: uuid.UUID
    pinned_at: str
    message: Message | None


class Unread(msgspec.Struct, kw_only=True):
    channel_id: uuid.UUID
    unread_count: int
    mention_count: int
    last_read_message_id: uuid.UUID | None


class ReadCursor(msgspec.Struct, kw_only=True):
    user_id: uuid.UUID
    last_read_message_id: uuid.UUID
    position: str


class ReadCursorPage(msgspec.Struct, kw_only=True):
    items: list[ReadCursor]
    next_cursor: str | None


class SearchHit(msgspec.Struct, kw_only=True):
    message_id: uuid.UUID
    channel_id: uuid.UUID
    sender_id: uuid.UUID | None
    message_type: str
    snippet: str
    rank: float
    created_at: str
    has_file: bool


class SearchPage(msgspec.Struct, kw_only=True):
    items: list[SearchHit]
    next_cursor: str | None


class BookmarkOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    message_id: uuid.UUID
    channel_id: uuid.UUID
    note: str | None
    created_at: str
    position: str | None = None


# -- polls ------------------------------------------------------------------------------------


class CreatePoll(Body, kw_only=True):
    question: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    options: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=200)]],
                       msgspec.Meta(min_length=2, max_length=10)]
    multi_select: bool = False
    anonymous: bool = False
    expires_in_minutes: Annotated[int, msgspec.Meta(ge=1, le=30 * 24 * 60)] | None = None


class Vote(Body, kw_only=True):
    option_indexes: Annotated[list[Annotated[int, msgspec.Meta(ge=0, le=9)]],
                              msgspec.Meta(min_length=1, max_length=10)]


class PollOption(msgspec.Struct, kw_only=True):
    text: str
    votes: int
    voter_ids: list[uuid.UUID] | None  # None for an anonymous poll


class Poll(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    channel_id: uuid.UUID
    creator_id: uuid.UUID
    question: str
    options: list[PollOption]
    multi_select: bool
    anonymous: bool
    expires_at: str | None
    closed: bool
    total_voters: int
    my_vote: list[int] | None
    created_at: str
    position: str | None = None


class PollPage(msgspec.Struct, kw_only=True):
    items: list[Poll]
    next_cursor: str | None


# -- scheduled messages -----------------------------------------------------------------------


class ScheduleMessage(Body, kw_only=True):
    """A `send_message` body plus when to send it (and the channel)."""

    channel_id: uuid.UUID
    scheduled_for: str  # RFC 3339
    ciphertext: Ciphertext
    nonce: Nonce = ""
    encryption: Encryption
    message_type: MessageType = "text"
    reply_to: uuid.UUID | None = None
    thread_id: uuid.UUID | None = None
    sender_key_id: U32 | None = None
    mentions: Mentions = msgspec.field(default_factory=list)


class Scheduled(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    channel_id: uuid.UUID
    scheduled_for: str
    ciphertext: str
    nonce: str
    encryption: str
    message_type: str
    created_at: str
    position: str | None = None


class ScheduledPage(msgspec.Struct, kw_only=True):
    items: list[Scheduled]
    next_cursor: str | None


# -- webhooks ---------------------------------------------------------------------------------

WebhookName = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
AvatarUrl = Annotated[str, msgspec.Meta(max_length=2048, pattern=r"^https?://\S+$")]


class CreateWebhook(Body, kw_only=True):
    name: WebhookName
    avatar_url: AvatarUrl | None = None


class UpdateWebhook(Body, kw_only=True):
    name: WebhookName | None = None
    avatar_url: AvatarUrl | None = None
    active: bool | None = None


class ExecuteWebhook(Body, kw_only=True):
    """A webhook's message: plain text (it is server-readable and indexed)."""

    content: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
    username: WebhookName | None = None
    avatar_url: AvatarUrl | None = None


class Webhook(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    channel_id: uuid.UUID
    name: str
    avatar_url: str | None
    active: bool
    created_by: uuid.UUID
    created_at: str
    token: str | None = None  # only in the reply that created it
    position: str | None = None


class Quarantine(Body, kw_only=True):
    reason: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class Purge(Body, kw_only=True):
    """POST /admin/purge/...: the why, kept in the log and the audit log."""

    reason: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class Purged(msgspec.Struct, kw_only=True):
    purged: int
    """messages purged by this call (0 when a retry found them all already purged)"""
    redacted: int
    """events whose body was redacted from the log by this call"""
    position: str | None
