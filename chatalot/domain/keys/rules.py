"""Key-server rules as plain functions: input checks and decisions over typed state.

Nothing here touches a database; chatalot/keys/commands.py loads the state, calls these,
and appends what they decide. The cryptographic checks are chatalot_crypto's (crypto.md
"Validation"), the same code every client runs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from chatalot.domain.errors import DomainError, bad_request, conflict, forbidden
from chatalot_crypto.envelopes import (
    DISTRIBUTION_SIZE,
    HEADER_SIZE,
    PrekeyMessage,
    parse_dm_envelope,
)
from chatalot_crypto.errors import CryptoError
from chatalot_crypto.keys import (
    validate_identity_key,
    validate_key_id,
    validate_x25519_public,
    verify_signed_prekey,
)
from chatalot_crypto.primitives import AEAD_TAG_SIZE

# -- limits (see docs/keys.md) -------------------------------------------------------------

ONE_TIME_UPLOAD_MAX: Final = 200
"""One-time prekeys per upload request, and in a registration's bundle (upstream's
server limit; the only definition of it)."""
ONE_TIME_STORED_MAX: Final = 500
"""One-time prekeys stored per user; an upload past it is refused whole (422)."""
KEYS_LOW_THRESHOLD: Final = 20
"""Below this many one-time prekeys the owner is sent KeysLow (crypto.md)."""
SIGNED_PREKEYS_KEPT: Final = 3
"""The current signed prekey and the two uploaded before it."""
DISTRIBUTIONS_MAX: Final = 100
"""Sender-key copies per request (one per recipient); larger channels send several."""
SENDER_KEYS_LIST_MAX: Final = 1000
"""Copies returned by GET /channels/{id}/sender-keys, newest first."""
CHAINS_KEPT: Final = 5
"""Chains kept per (channel, recipient, sender): receivers keep 5 for late messages."""

# A distribution's plaintext is exactly 89 bytes, so its DM envelope has one exact size.
DISTRIBUTION_CT: Final = DISTRIBUTION_SIZE + AEAD_TAG_SIZE
MESSAGE_ENVELOPE_SIZE: Final = 2 + HEADER_SIZE + DISTRIBUTION_CT
PREKEY_ENVELOPE_SIZE: Final = 2 + 32 + 32 + 4 + 4 + HEADER_SIZE + DISTRIBUTION_CT


def b64decode(value: str, what: str) -> bytes:
    """Standard base64 (with padding), else 400."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(f"{what} is not valid base64") from None


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- prekeys -------------------------------------------------------------------------------


class PrekeyItem(Protocol):
    @property
    def key_id(self) -> int: ...

    @property
    def public_key(self) -> str: ...


@dataclass(frozen=True)
class SignedPrekey:
    key_id: int
    public_key: bytes
    signature: bytes


def check_signed_prekey(identity_key: bytes, key_id: int, public_key: str, signature: str,
                        *, where: str = "") -> SignedPrekey:
    """A valid key id, a valid X25519 key, and an Ed25519 signature of it by the account's
    identity key (strict verification, crypto.md), else 400. `where` prefixes the field
    names in a refusal (a registration's `signed_prekey.`)."""
    public = b64decode(public_key, f"{where}public_key")
    sig = b64decode(signature, f"{where}signature")
    try:
        validate_key_id(key_id)
        verify_signed_prekey(identity_key, public, sig)
    except CryptoError as exc:
        raise bad_request(f"signed prekey refused: {exc}") from None
    return SignedPrekey(key_id, public, sig)


def check_one_time_batch(items: Sequence[PrekeyItem], *, where: str = ""
                         ) -> list[tuple[int, bytes]]:
    """Decode and check a batch: valid key ids and X25519 keys (400), no id twice (409).
    `where` prefixes the item names in a refusal (a registration's `one_time_prekeys`)."""
    if not items:
        raise bad_request("upload at least one one-time prekey")
    if len(items) > ONE_TIME_UPLOAD_MAX:
        raise bad_request(f"at most {ONE_TIME_UPLOAD_MAX} one-time prekeys per upload")
    out: list[tuple[int, bytes]] = []
    for index, item in enumerate(items):
        public = b64decode(item.public_key, f"{where}[{index}].public_key")
        try:
            validate_key_id(item.key_id)
            validate_x25519_public(public)
        except CryptoError as exc:
            raise bad_request(f"{where}[{index}] refused: {exc}") from None
        out.append((item.key_id, public))
    seen: set[int] = set()
    for key_id, _ in out:
        if key_id in seen:
            raise conflict(f"key_id {key_id} appears twice in the batch")
        seen.add(key_id)
    return out


class SignedPrekeyItem(PrekeyItem, Protocol):
    @property
    def signature(self) -> str: ...


@dataclass(frozen=True)
class InitialBundle:
    """The keys a registration stores: identity key (and its fingerprint, the hex SHA-256),
    signed prekey, and any one-time prekeys."""

    identity_key: bytes
    fingerprint: str
    signed_prekey: SignedPrekey
    one_time: list[tuple[int, bytes]]


def check_initial_bundle(identity_key: str, signed_prekey: SignedPrekeyItem,
                         one_time: Sequence[PrekeyItem]) -> InitialBundle:
    """A registration's bundle, checked as the uploads check theirs: a valid Ed25519
    identity key, a signed prekey it signed, valid one-time prekeys (each 400), and no
    one-time key id twice (409 `conflict`, as at upload). No one-time prekeys is fine."""
    identity = b64decode(identity_key, "identity_key")
    try:
        validate_identity_key(identity)
    except CryptoError as exc:
        raise bad_request(f"identity_key refused: {exc}") from None
    signed = check_signed_prekey(identity, signed_prekey.key_id, signed_prekey.public_key,
                                 signed_prekey.signature, where="signed_prekey.")
    batch = check_one_time_batch(one_time, where="one_time_prekeys") if one_time else []
    return InitialBundle(identity, hashlib.sha256(identity).hexdigest(), signed, batch)


def check_new_ids(already_stored: Sequence[int]) -> None:
    """Key ids are unique per user among the stored prekeys: 409."""
    if already_stored:
        shown = ", ".join(str(k) for k in sorted(already_stored)[:10])
        raise conflict(f"key_id already stored: {shown}")


def check_capacity(stored: int, adding: int) -> None:
    """At most ONE_TIME_STORED_MAX stored per user; nothing is stored past it (422)."""
    if stored + adding > ONE_TIME_STORED_MAX:
        raise DomainError(
            "limit_reached",
            f"at most {ONE_TIME_STORED_MAX} one-time prekeys are stored per user"
            f" ({stored} stored, {adding} uploaded)")


def should_send_keys_low(remaining: int, already_sent: bool) -> bool:
    """KeysLow once per crossing: below the threshold and not sent since the owner last
    uploaded back to it."""
    return remaining < KEYS_LOW_THRESHOLD and not already_sent


def rearms_keys_low(remaining: int) -> bool:
    """An upload that brings the count back to the threshold re-arms the notification."""
    return remaining >= KEYS_LOW_THRESHOLD


# Bundle fetches: token buckets (rate per second, burst), shared by every node with Redis.
BUNDLE_FETCHES_PER_PAIR: Final = (1 / 600, 3)
"""One requester, one owner: 3 at once, then one per 10 minutes (a client needs a bundle
once per new session with someone)."""
BUNDLE_FETCHES_PER_REQUESTER: Final = (1 / 3, 20)
"""One requester, any owners: 20 at once, then one per 3 s."""
ONE_TIME_RESERVE: Final = 5
"""An owner's last one-time prekeys: each requester gets at most one of them..."""
RESERVE_GRANTS_PER_REQUESTER: Final = (1 / 3600, 1)
"""...per hour (the signed prekey alone still lets X3DH start)."""


def bundle_fetch_buckets(caller: uuid.UUID, owner: uuid.UUID
                         ) -> list[tuple[str, float, float]]:
    """The buckets a bundle fetch draws from: (name, rate per second, burst). Without them
    any user could drain another's one-time prekeys by fetching (5 fetches emptied one)."""
    buckets: list[tuple[str, float, float]] = [
        (f"bundle:{caller}", *BUNDLE_FETCHES_PER_REQUESTER)]
    if caller != owner:
        buckets.append((f"bundle:{caller}:{owner}", *BUNDLE_FETCHES_PER_PAIR))
    return buckets


def reserve_bucket(caller: uuid.UUID, owner: uuid.UUID) -> tuple[str, float, float]:
    return (f"bundle-reserve:{caller}:{owner}", *RESERVE_GRANTS_PER_REQUESTER)


def in_reserve(remaining: int) -> bool:
    """Whether handing out one more one-time prekey takes one of the owner's last few, which
    a requester gets only with a reserve grant (at most one per hour)."""
    return remaining <= ONE_TIME_RESERVE


def check_bundle_access(caller: uuid.UUID, owner: uuid.UUID, blocked_by_owner: bool,
                        may_contact: bool) -> None:
    """Only those who may open a DM with the owner (instance staff, a shared community, or
    an existing DM: the spaces port decides it) fetch their bundle, and never someone the
    owner blocked. One's own bundle is always served."""
    if caller == owner:
        return
    if blocked_by_owner:
        raise forbidden("this user does not accept new sessions from you")
    if not may_contact:
        raise forbidden("you share no community with this user")


# -- sender keys -----------------------------------------------------------------------------


class DistributionItem(Protocol):
    @property
    def recipient_id(self) -> uuid.UUID: ...

    @property
    def envelope(self) -> str: ...


def check_distribution_envelope(data: bytes, sender_identity: bytes, where: str) -> None:
    """A DM envelope (0x01 prekey or 0x02 message, crypto.md) whose plaintext can only be
    the 89-byte distribution: exact length, canonical non-small-order X25519 keys (the
    ratchet key, and the ephemeral key), and, for a prekey envelope, the sender's own
    identity key. The server never decrypts it."""
    try:
        message = parse_dm_envelope(data)
    except CryptoError as exc:
        raise bad_request(f"{where}: not a DM envelope ({exc})") from None
    expected = PREKEY_ENVELOPE_SIZE if isinstance(message, PrekeyMessage) else (
        MESSAGE_ENVELOPE_SIZE)
    if len(data) != expected:
        raise bad_request(
            f"{where}: a sender-key distribution envelope of this type is {expected} bytes")
    try:
        validate_x25519_public(message.header[:32])
        if isinstance(message, PrekeyMessage):
            validate_x25519_public(message.base_key)
    except CryptoError as exc:
        raise bad_request(f"{where}: {exc}") from None
    if isinstance(message, PrekeyMessage) and message.identity_key != sender_identity:
        raise bad_request(f"{where}: the prekey envelope names another identity key")


def check_distributions(sender: uuid.UUID, items: Sequence[DistributionItem],
                        sender_identity: bytes) -> list[tuple[uuid.UUID, bytes]]:
    """Bounded, one copy per recipient, never to oneself, each a well-formed envelope."""
    if not items:
        raise bad_request("distributions must not be empty")
    if len(items) > DISTRIBUTIONS_MAX:
        raise bad_request(f"at most {DISTRIBUTIONS_MAX} distributions per request")
    seen: set[uuid.UUID] = set()
    out: list[tuple[uuid.UUID, bytes]] = []
    for index, item in enumerate(items):
        where = f"distributions[{index}]"
        if item.recipient_id == sender:
            raise bad_request(f"{where}: the sender is not a recipient of its own key")
        if item.recipient_id in seen:
            raise bad_request(f"{where}: a second copy for recipient {item.recipient_id}")
        seen.add(item.recipient_id)
        data = b64decode(item.envelope, f"{where}.envelope")
        check_distribution_envelope(data, sender_identity, where)
        out.append((item.recipient_id, data))
    return out
