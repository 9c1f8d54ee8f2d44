"""Key-server events: one msgspec Struct per type. The key server owns all key material,
including the bundle a registration stores.

- `IdentityKeyRegistered`, `SignedPrekeyUploaded`, `OneTimePrekeysUploaded` (stream
  `keys-<user id>`): the initial bundle at registration (all three, one append), and each
  later upload. (They were declared with the account events until issue 9; their
  registered names, the class names, are unchanged.)
- `OneTimePrekeyClaimed` (stream `keys-<owner id>`): a bundle fetch handed out and deleted
  one one-time prekey, in the same transaction.
- `KeysLow` (stream `user-<owner id>`): the owner's one-time prekeys fell below the
  threshold; once per crossing.
- `SenderKeyUpdated` (stream `senderkeys-<channel id>-<sender id>`): one encrypted copy of a
  sender-key distribution, for one recipient.
- `IdentityKeyReplaced` (stream `keys-<user id>`, issue 15): the owner replaced the whole
  bundle (`PUT /keys/identity`, a device that lost its keys), followed in the same append
  by the new `SignedPrekeyUploaded` and (when any) `OneTimePrekeysUploaded`.

Addressing, for live delivery: `KeysLow` and `SenderKeyUpdated` are private to one user,
named by the field in `ADDRESSEE`; the WebSocket gateway sends them (as `keys_low` and
`sender_key_updated`, the type names in snake case) to that user only, never to a channel.
`IdentityKeyReplaced` is delivered as `identity_key_changed {user_id, position}` to the
owner and everyone who shares a channel with them (chatalot/ws/routing.py); its
`shared_with` records who shared one when it was appended.
Their streams are chosen for write concurrency, not for delivery: the copies of one
distribution are one append, and two senders never contend for a stream.
"""

from __future__ import annotations

import uuid
from typing import Final

import msgspec

# -- the owner's public keys (stream keys-<user id>) -----------------------------------------


class PrekeyUpload(msgspec.Struct, frozen=True):
    key_id: int
    public_key: str  # base64


class IdentityKeyRegistered(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    identity_key: str  # base64 Ed25519 public key
    fingerprint: str  # hex SHA-256 of the key


class SignedPrekeyUploaded(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    key_id: int
    public_key: str
    signature: str


class OneTimePrekeysUploaded(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    prekeys: list[PrekeyUpload]


# -- claims, alerts, sender keys -------------------------------------------------------------


class OneTimePrekeyClaimed(msgspec.Struct, frozen=True, kw_only=True):
    """`user_id`'s one-time prekey `key_id` was handed out to `claimed_by` (and deleted);
    `remaining` are left on the server."""

    user_id: uuid.UUID
    key_id: int
    claimed_by: uuid.UUID
    remaining: int


class KeysLow(msgspec.Struct, frozen=True, kw_only=True):
    """Addressed to `user_id`: upload more one-time prekeys (`remaining` are left)."""

    user_id: uuid.UUID
    remaining: int


class SenderKeyUpdated(msgspec.Struct, frozen=True, kw_only=True):
    """Addressed to `recipient_id`: `sender_id`'s sender key for chain `chain_id` in
    `channel_id`, as a DM envelope (base64) only the recipient can open."""

    channel_id: uuid.UUID
    sender_id: uuid.UUID
    recipient_id: uuid.UUID
    chain_id: int
    envelope: str


class IdentityKeyReplaced(msgspec.Struct, frozen=True, kw_only=True):
    """`user_id` registered a new identity key (the old one is gone with every prekey);
    `shared_with` are the users who shared a channel with them then, who are told."""

    user_id: uuid.UUID
    identity_key: str  # base64 Ed25519 public key
    fingerprint: str
    shared_with: list[uuid.UUID]


ADDRESSEE: Final[dict[str, str]] = {
    "KeysLow": "user_id",
    "SenderKeyUpdated": "recipient_id",
}
"""Event type -> the field naming the one user it is delivered to."""


KEY_EVENTS: list[type[msgspec.Struct]] = [
    IdentityKeyRegistered, SignedPrekeyUploaded, OneTimePrekeysUploaded, OneTimePrekeyClaimed,
    KeysLow, SenderKeyUpdated, IdentityKeyReplaced,
]
