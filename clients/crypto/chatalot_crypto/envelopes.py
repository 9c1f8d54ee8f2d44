"""Wire formats of crypto.md: DM envelopes 0x01/0x02, group envelope 0x03, and the
89-byte sender-key distribution. Parsing is strict: wrong version, type or length is an
InvalidEnvelope, never a best-effort guess.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import NamedTuple

from chatalot_crypto.errors import InvalidEnvelope
from chatalot_crypto.primitives import AEAD_TAG_SIZE, U32_MAX, pack_u32, unpack_u32

__all__ = [
    "DISTRIBUTION_SIZE",
    "HEADER_SIZE",
    "TYPE_MESSAGE",
    "TYPE_PREKEY",
    "TYPE_SENDER_KEY",
    "VERSION",
    "GroupMessage",
    "Header",
    "PrekeyMessage",
    "RatchetMessage",
    "SenderKeyDistribution",
    "parse_distribution",
    "parse_dm_envelope",
    "parse_group_envelope",
    "uuid_bytes",
]

VERSION = 0x01
TYPE_PREKEY = 0x01
TYPE_MESSAGE = 0x02
TYPE_SENDER_KEY = 0x03
HEADER_SIZE = 40
DISTRIBUTION_SIZE = 89
_NONE = U32_MAX
_SIG = 64

_PREKEY_MIN = 2 + 32 + 32 + 4 + 4 + HEADER_SIZE + AEAD_TAG_SIZE
_MESSAGE_MIN = 2 + HEADER_SIZE + AEAD_TAG_SIZE
_GROUP_MIN = 2 + 4 + 4 + AEAD_TAG_SIZE + _SIG


def uuid_bytes(value: uuid.UUID | bytes) -> bytes:
    """A user or channel id as its 16 RFC 4122 bytes."""
    if isinstance(value, uuid.UUID):
        return value.bytes
    if type(value) is bytes and len(value) == 16:
        return value
    raise ValueError("an id must be a UUID or its 16 bytes")


class Header(NamedTuple):
    """Double Ratchet header: dh_pub (32) || pn (u32) || n (u32)."""

    dh: bytes
    pn: int
    n: int

    def encode(self) -> bytes:
        return self.dh + pack_u32(self.pn) + pack_u32(self.n)

    @classmethod
    def parse(cls, data: bytes) -> Header:
        if len(data) != HEADER_SIZE:
            raise InvalidEnvelope("malformed header")
        return cls(data[:32], unpack_u32(data, 32), unpack_u32(data, 36))


class PrekeyMessage(NamedTuple):
    """0x01 0x01: the initiator's message until she has received a reply."""

    identity_key: bytes
    base_key: bytes
    signed_prekey_id: int
    one_time_prekey_id: int | None
    header: bytes
    ciphertext: bytes

    def encode(self) -> bytes:
        opk = _NONE if self.one_time_prekey_id is None else self.one_time_prekey_id
        return b"".join(
            (
                bytes((VERSION, TYPE_PREKEY)),
                self.identity_key,
                self.base_key,
                pack_u32(self.signed_prekey_id),
                pack_u32(opk),
                self.header,
                self.ciphertext,
            )
        )


class RatchetMessage(NamedTuple):
    """0x01 0x02: an ordinary Double Ratchet message."""

    header: bytes
    ciphertext: bytes

    def encode(self) -> bytes:
        return bytes((VERSION, TYPE_MESSAGE)) + self.header + self.ciphertext


def parse_dm_envelope(data: bytes) -> PrekeyMessage | RatchetMessage:
    if len(data) < 2 or data[0] != VERSION:
        raise InvalidEnvelope("unknown envelope version")
    kind = data[1]
    if kind == TYPE_MESSAGE:
        if len(data) < _MESSAGE_MIN:
            raise InvalidEnvelope("envelope too short")
        return RatchetMessage(data[2:42], data[42:])
    if kind == TYPE_PREKEY:
        if len(data) < _PREKEY_MIN:
            raise InvalidEnvelope("envelope too short")
        spk_id = unpack_u32(data, 66)
        opk_id = unpack_u32(data, 70)
        if spk_id == _NONE:
            raise InvalidEnvelope("reserved signed prekey id")
        return PrekeyMessage(
            identity_key=data[2:34],
            base_key=data[34:66],
            signed_prekey_id=spk_id,
            one_time_prekey_id=None if opk_id == _NONE else opk_id,
            header=data[74:114],
            ciphertext=data[114:],
        )
    raise InvalidEnvelope("not a DM envelope")


class GroupMessage(NamedTuple):
    """0x01 0x03: chain_id || iteration || ct || signature over everything before it."""

    chain_id: int
    iteration: int
    ciphertext: bytes
    signature: bytes

    @property
    def signed_part(self) -> bytes:
        return (
            bytes((VERSION, TYPE_SENDER_KEY))
            + pack_u32(self.chain_id)
            + pack_u32(self.iteration)
            + self.ciphertext
        )

    def encode(self) -> bytes:
        return self.signed_part + self.signature


def parse_group_envelope(data: bytes) -> GroupMessage:
    if len(data) < 2 or data[0] != VERSION:
        raise InvalidEnvelope("unknown envelope version")
    if data[1] != TYPE_SENDER_KEY:
        raise InvalidEnvelope("not a group envelope")
    if len(data) < _GROUP_MIN:
        raise InvalidEnvelope("envelope too short")
    return GroupMessage(
        chain_id=unpack_u32(data, 2),
        iteration=unpack_u32(data, 6),
        ciphertext=data[10:-_SIG],
        signature=data[-_SIG:],
    )


@dataclass(frozen=True, eq=False, repr=False, slots=True)
class SenderKeyDistribution:
    """0x01 || channel_id || chain_id || iteration || chain_key || signing key: 89 bytes."""

    channel_id: bytes
    chain_id: int
    iteration: int
    chain_key: bytes
    signing_key: bytes

    def encode(self) -> bytes:
        return b"".join(
            (
                bytes((VERSION,)),
                self.channel_id,
                pack_u32(self.chain_id),
                pack_u32(self.iteration),
                self.chain_key,
                self.signing_key,
            )
        )

    def __repr__(self) -> str:
        return (
            f"SenderKeyDistribution(channel_id={self.channel_id.hex()}, "
            f"chain_id={self.chain_id}, iteration={self.iteration}, "
            f"signing_key={self.signing_key.hex()})"
        )


def parse_distribution(data: bytes) -> SenderKeyDistribution:
    if len(data) != DISTRIBUTION_SIZE:
        raise InvalidEnvelope("a distribution is exactly 89 bytes")
    if data[0] != VERSION:
        raise InvalidEnvelope("unknown distribution version")
    return SenderKeyDistribution(
        channel_id=data[1:17],
        chain_id=unpack_u32(data, 17),
        iteration=unpack_u32(data, 21),
        chain_key=data[25:57],
        signing_key=data[57:89],
    )
