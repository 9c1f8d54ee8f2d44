"""The wire shapes the SDK reads and writes (protocol.md), as msgspec Structs.

Replies decode leniently (unknown fields are ignored: a newer server may add some); binary
fields stay base64 strings here and are decoded where they are used.
"""

from __future__ import annotations

import uuid

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
