"""The wire shapes the SDK reads and writes (protocol.md), as msgspec Structs.

Replies decode leniently (unknown fields are ignored: a newer server may add some); binary
fields stay base64 strings here and are decoded where they are used.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec


class Model(msgspec.Struct, kw_only=True):
    pass


class User(Model):
    id: uuid.UUID
    username: str
    display_name: str
    avatar_url: str | None = None
    status: str = "offline"
    is_admin: bool = False
    is_owner: bool = False


class AuthReply(Model):
    access_token: str
    refresh_token: str
    user: User
    position: str
    recovery_code: str | None = None


class TokenReply(Model):
    access_token: str
    refresh_token: str
    position: str


class Me(Model):
    id: uuid.UUID
    username: str
    display_name: str


class Announcement(Model):
    """An instance announcement (GET /announcements; the `announcement` frame)."""

    id: uuid.UUID
    title: str
    body: str
    created_by: uuid.UUID
    created_at: str
    position: str


class Dismissed(Model):
    id: uuid.UUID
    position: str | None


class SignedPrekey(Model):
    key_id: int
    public_key: str
    signature: str


class OneTimePrekey(Model):
    key_id: int
    public_key: str


class KeyBundle(Model):
    user_id: uuid.UUID
    identity_key: str
    signed_prekey: SignedPrekey
    one_time_prekey: OneTimePrekey | None = None
    position: str | None = None


class PrekeyCount(Model):
    count: int


class CountReply(Model):
    count: int
    position: str


class IdentityReply(Model):
    fingerprint: str
    position: str


class StoredSenderKey(Model):
    sender_id: uuid.UUID
    chain_id: int
    envelope: str
    created_at: str
    position: str


class Position(Model):
    position: str | None = None


class Created(Model):
    id: uuid.UUID
    position: str


class Channel(Model):
    id: uuid.UUID
    kind: str = "text"
    name: str | None = None
    topic: str | None = None
    community_id: uuid.UUID | None = None
    group_id: uuid.UUID | None = None
    read_only: bool = False
    archived: bool = False


class DmUser(Model):
    id: uuid.UUID
    username: str
    display_name: str | None = None


class Dm(Model):
    channel: Channel
    other_user: DmUser | None = None


class DmReply(Model):
    channel_id: uuid.UUID
    created: bool
    position: str | None = None


# -- what the SDK hands the user ---------------------------------------------------------


class Message(Model):
    """A message, decrypted: `text` when it could be read, else `error` says why (a
    message that cannot be decrypted is shown as such, never dropped)."""

    id: uuid.UUID
    channel_id: uuid.UUID
    sender_id: uuid.UUID | None
    encryption: str
    message_type: str = "text"
    text: str | None = None
    error: str | None = None
    reply_to: uuid.UUID | None = None
    thread_id: uuid.UUID | None = None
    client_id: uuid.UUID | None = None
    position: str | None = None


class SenderKeyReceived(Model):
    channel_id: uuid.UUID
    sender_id: uuid.UUID
    chain_id: int
    new: bool
    error: str | None = None


class KeyChanged(Model):
    """A peer replaced their identity key: verify the new safety number before trusting."""

    user_id: uuid.UUID


class Event(Model):
    """Any other server frame, as received (`type` and its fields)."""

    type: str
    data: dict[str, object]


class MessageSent(Model):
    id: uuid.UUID
    channel_id: uuid.UUID
    created_at: str
    position: str
    client_id: uuid.UUID | None = None


class Page(Model):
    items: list[dict[str, Any]]
    next_cursor: str | None = None
