"""Request and response bodies of the key routes (/api/keys, /api/channels/{id}/sender-keys).

Binary fields are standard base64 strings. Request Structs bound every field, so oversize
or malformed input is a 400 before a handler runs. The prekey items are also the ones a
registration carries (chatalot/accounts/contracts.py imports them from here).
"""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

from chatalot.contracts import Body
from chatalot.domain.keys import rules

U32 = Annotated[int, msgspec.Meta(ge=0, le=0xFFFFFFFF)]
KeyId = U32
B64Key = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Envelope = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]


class SignedPrekeyUpload(Body, kw_only=True):
    key_id: KeyId
    public_key: B64Key
    signature: B64Key


class OneTimePrekeyUpload(Body, kw_only=True):
    key_id: KeyId
    public_key: B64Key


OneTimePrekeyBatch = Annotated[
    list[OneTimePrekeyUpload],
    msgspec.Meta(min_length=1, max_length=rules.ONE_TIME_UPLOAD_MAX),
]

__all__ = [
    "IdentityReplacement",
    "IdentityReply",
    "KeyBundle",
    "OneTimePrekey",
    "OneTimePrekeyBatch",
    "OneTimePrekeyUpload",
    "OneTimePrekeysReply",
    "PrekeyCount",
    "SenderKeyCopy",
    "SenderKeyDistribution",
    "SenderKeysReply",
    "SignedPrekey",
    "SignedPrekeyReply",
    "SignedPrekeyUpload",
    "StoredSenderKey",
]


class SignedPrekey(msgspec.Struct, kw_only=True):
    key_id: int
    public_key: str
    signature: str


class OneTimePrekey(msgspec.Struct, kw_only=True):
    key_id: int
    public_key: str


class KeyBundle(msgspec.Struct, kw_only=True):
    """What an initiator needs for X3DH. `one_time_prekey` is null when none is left (or
    when fetching one's own bundle); `position` is null when the fetch appended nothing."""

    user_id: uuid.UUID
    identity_key: str
    signed_prekey: SignedPrekey
    one_time_prekey: OneTimePrekey | None
    position: str | None


class PrekeyCount(msgspec.Struct, kw_only=True):
    count: int


class SignedPrekeyReply(msgspec.Struct, kw_only=True):
    key_id: int
    position: str


class OneTimePrekeysReply(msgspec.Struct, kw_only=True):
    """`count`: the one-time prekeys stored after the upload."""

    count: int
    position: str


class SenderKeyCopy(Body, kw_only=True):
    recipient_id: uuid.UUID
    envelope: Envelope


class SenderKeyDistribution(Body, kw_only=True):
    chain_id: U32
    distributions: Annotated[
        list[SenderKeyCopy], msgspec.Meta(min_length=1, max_length=rules.DISTRIBUTIONS_MAX)
    ]


class SenderKeysReply(msgspec.Struct, kw_only=True):
    """`count`: the copies stored (one per recipient)."""

    count: int
    position: str


class StoredSenderKey(msgspec.Struct, kw_only=True):
    sender_id: uuid.UUID
    chain_id: int
    envelope: str
    created_at: str
    position: str


class IdentityReplacement(Body, kw_only=True):
    """PUT /keys/identity: a whole new bundle, in the registration's shapes, confirmed
    with the account's password."""

    identity_key: B64Key
    signed_prekey: SignedPrekeyUpload
    one_time_prekeys: Annotated[
        list[OneTimePrekeyUpload], msgspec.Meta(max_length=rules.ONE_TIME_UPLOAD_MAX)
    ] = []
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class IdentityReply(msgspec.Struct, kw_only=True):
    """`fingerprint`: the new identity key's, hex SHA-256 (as at registration)."""

    fingerprint: str
    position: str
