"""Sender Keys for group channels (crypto.md "Sender Keys").

Each member has one sending chain per channel and, per channel and sender, up to 5
receiving chains (the most recent distributions). Receivers check the signature before
touching any key, and a failed decrypt leaves every chain unchanged.
"""

from __future__ import annotations

import uuid
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from chatalot_crypto import ed25519
from chatalot_crypto.envelopes import (
    VERSION,
    SenderKeyDistribution,
    parse_distribution,
    parse_group_envelope,
    uuid_bytes,
)
from chatalot_crypto.errors import (
    ChainExhausted,
    DecryptError,
    DuplicateMessage,
    InvalidKey,
    NoSession,
    StateError,
    TooManySkipped,
    UnknownSenderChain,
    WrongChannel,
)
from chatalot_crypto.primitives import (
    INFO_SENDER_KEY,
    U32_MAX,
    Random,
    kdf_ck,
    message_key_material,
    pack_u32,
    random_bytes,
    sender_chain_step,
    unpack_u32,
)
from chatalot_crypto.serialization import Reader, b64, dump, load

__all__ = [
    "CHAINS_PER_SENDER",
    "MAX_AHEAD",
    "MAX_SKIPPED_PER_CHAIN",
    "REMEMBERED_CHAIN_IDS",
    "ReceiverChain",
    "SenderChain",
    "SenderKeyStore",
]

MAX_SKIPPED_PER_CHAIN = 2000
MAX_AHEAD = 25_000
CHAINS_PER_SENDER = 5
REMEMBERED_CHAIN_IDS = 1000

_GROUP_PREFIX = bytes((VERSION, 0x03))

Id = uuid.UUID | bytes


def _message_keys(mk: bytes) -> tuple[bytes, bytes]:
    return message_key_material(mk, INFO_SENDER_KEY)


class SenderChain:
    """This member's sending chain in one channel."""

    __slots__ = ("_signer", "chain_id", "chain_key", "channel_id", "iteration", "signing_public",
                 "signing_seed")

    def __init__(
        self,
        *,
        channel_id: bytes,
        chain_id: int,
        iteration: int,
        chain_key: bytes,
        signing_seed: bytes,
    ) -> None:
        self.channel_id = channel_id
        self.chain_id = chain_id
        self.iteration = iteration
        self.chain_key = chain_key
        self.signing_seed = signing_seed
        self._signer: Ed25519PrivateKey = ed25519.signer(signing_seed)
        self.signing_public = self._signer.public_key().public_bytes_raw()

    @classmethod
    def create(cls, channel_id: Id, rng: Random = random_bytes) -> SenderChain:
        """A new chain: rng gives chain_id (4 bytes), chain key (32), signing seed (32)."""
        chain_id = unpack_u32(rng(4))
        return cls(
            channel_id=uuid_bytes(channel_id),
            chain_id=chain_id,
            iteration=0,
            chain_key=rng(32),
            signing_seed=rng(32),
        )

    def __repr__(self) -> str:
        return (
            f"SenderChain(channel_id={self.channel_id.hex()}, chain_id={self.chain_id}, "
            f"iteration={self.iteration}, signing_public={self.signing_public.hex()})"
        )

    def distribution(self) -> bytes:
        """The 89 bytes for the next message this chain will send."""
        if self.iteration > U32_MAX:
            raise ChainExhausted("sending chain exhausted")
        return SenderKeyDistribution(
            channel_id=self.channel_id,
            chain_id=self.chain_id,
            iteration=self.iteration,
            chain_key=self.chain_key,
            signing_key=self.signing_public,
        ).encode()

    def encrypt(self, sender_id: Id, plaintext: bytes) -> bytes:
        """The group envelope; the chain advances (persist it before sending)."""
        iteration = self.iteration
        if iteration > U32_MAX:
            raise ChainExhausted("sending chain exhausted")
        next_ck, key, nonce = sender_chain_step(self.chain_key)
        aad = self.channel_id + uuid_bytes(sender_id)
        ct = ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)
        body = _GROUP_PREFIX + pack_u32(self.chain_id) + pack_u32(iteration) + ct
        envelope = body + self._signer.sign(body)
        self.chain_key = next_ck
        self.iteration = iteration + 1
        return envelope

    def to_obj(self) -> dict[str, Any]:
        return {
            "channel_id": b64(self.channel_id),
            "chain_id": self.chain_id,
            "iteration": self.iteration,
            "chain_key": b64(self.chain_key),
            "signing_seed": b64(self.signing_seed),
        }

    @classmethod
    def from_obj(cls, r: Reader) -> SenderChain:
        return cls(
            channel_id=r.bytes_("channel_id", 16),
            chain_id=r.int_("chain_id", 0, U32_MAX),
            iteration=r.int_("iteration", 0, U32_MAX + 1),
            chain_key=r.bytes_("chain_key", 32),
            signing_seed=r.bytes_("signing_seed", 32),
        )


class ReceiverChain:
    """A sender's chain as one receiver holds it."""

    __slots__ = ("chain_id", "chain_key", "iteration", "signing_public", "skipped")

    def __init__(
        self,
        *,
        chain_id: int,
        iteration: int,
        chain_key: bytes,
        signing_public: bytes,
        skipped: dict[int, bytes] | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.iteration = iteration  # of the next message key chain_key yields
        self.chain_key = chain_key
        self.signing_public = signing_public
        self.skipped: dict[int, bytes] = skipped if skipped is not None else {}

    def __repr__(self) -> str:
        return (
            f"ReceiverChain(chain_id={self.chain_id}, iteration={self.iteration}, "
            f"signing_public={self.signing_public.hex()}, skipped={len(self.skipped)})"
        )

    def decrypt(self, iteration: int, ct: bytes, aad: bytes) -> bytes:
        """Decrypt message `iteration` (signature already verified); atomic."""
        if iteration < self.iteration:
            mk = self.skipped.get(iteration)
            if mk is None:
                raise DuplicateMessage("message key already used or discarded")
            plaintext = _open(mk, ct, aad)
            del self.skipped[iteration]
            return plaintext
        ahead = iteration - self.iteration
        if ahead > MAX_AHEAD:
            raise TooManySkipped("message too far ahead of the chain")
        ck = self.chain_key
        new_skipped: list[tuple[int, bytes]] = []
        keep_from = iteration - MAX_SKIPPED_PER_CHAIN
        for i in range(self.iteration, iteration):
            mk, ck = kdf_ck(ck)
            if i >= keep_from:
                new_skipped.append((i, mk))
        mk, ck = kdf_ck(ck)
        plaintext = _open(mk, ct, aad)
        if new_skipped:
            skipped = self.skipped
            skipped.update(new_skipped)
            while len(skipped) > MAX_SKIPPED_PER_CHAIN:
                del skipped[next(iter(skipped))]
        self.chain_key = ck
        self.iteration = iteration + 1
        return plaintext

    def to_obj(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "iteration": self.iteration,
            "chain_key": b64(self.chain_key),
            "signing_public": b64(self.signing_public),
            "skipped": [[i, b64(mk)] for i, mk in self.skipped.items()],
        }

    @classmethod
    def from_obj(cls, r: Reader) -> ReceiverChain:
        skipped: dict[int, bytes] = {}
        for item in r.list_("skipped", MAX_SKIPPED_PER_CHAIN):
            if type(item) is not list or len(item) != 2:
                raise StateError("malformed skipped key")
            skipped[r.int_value(item[0], "skipped", 0, U32_MAX)] = r.decode_b64(
                item[1], "skipped", 32
            )
        signing_public = r.bytes_("signing_public", 32)
        if not ed25519.is_valid_point(signing_public):
            raise StateError("signing key in state fails the checks")
        return cls(
            chain_id=r.int_("chain_id", 0, U32_MAX),
            iteration=r.int_("iteration", 0, U32_MAX + 1),
            chain_key=r.bytes_("chain_key", 32),
            signing_public=signing_public,
            skipped=skipped,
        )


def _open(mk: bytes, ct: bytes, aad: bytes) -> bytes:
    key, nonce = _message_keys(mk)
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, ct, aad)
    except InvalidTag:
        raise DecryptError("message authentication failed") from None


class _SenderRecord:
    """What a receiver keeps per (channel, sender): chains newest last, remembered ids."""

    __slots__ = ("chains", "remembered")

    def __init__(self) -> None:
        self.chains: list[ReceiverChain] = []
        self.remembered: dict[int, None] = {}  # chain ids, oldest first


class SenderKeyStore:
    """One member's sender-key state across channels."""

    __slots__ = ("_receiving", "_sending", "user_id")

    def __init__(self, user_id: Id) -> None:
        self.user_id = uuid_bytes(user_id)
        self._sending: dict[bytes, SenderChain] = {}
        self._receiving: dict[tuple[bytes, bytes], _SenderRecord] = {}

    def __repr__(self) -> str:
        return (
            f"SenderKeyStore(user_id={self.user_id.hex()}, sending={len(self._sending)}, "
            f"receiving={len(self._receiving)})"
        )

    # --- sending -------------------------------------------------------------------------

    def start_chain(self, channel_id: Id, rng: Random = random_bytes) -> bytes:
        """Start a new sending chain (first message, or after sender_key_rotation_required).

        Returns its distribution, to be sent to each member as a DM envelope.
        """
        chain = SenderChain.create(channel_id, rng)
        self._sending[chain.channel_id] = chain
        return chain.distribution()

    def sending_chain(self, channel_id: Id) -> SenderChain | None:
        return self._sending.get(uuid_bytes(channel_id))

    def distribution(self, channel_id: Id) -> bytes:
        chain = self._sending.get(uuid_bytes(channel_id))
        if chain is None:
            raise NoSession("no sending chain in this channel")
        return chain.distribution()

    def encrypt(self, channel_id: Id, plaintext: bytes) -> bytes:
        chain = self._sending.get(uuid_bytes(channel_id))
        if chain is None:
            raise NoSession("no sending chain in this channel")
        return chain.encrypt(self.user_id, plaintext)

    # --- receiving -----------------------------------------------------------------------

    def process_distribution(self, channel_id: Id, sender_id: Id, data: bytes) -> bool:
        """Store a received distribution; False when ignored (chain id held or held before).

        Raises WrongChannel when it names another channel than channel_id (the channel it
        was fetched for) and InvalidKey when the signing key fails the point checks.
        """
        channel = uuid_bytes(channel_id)
        sender = uuid_bytes(sender_id)
        dist = parse_distribution(data)
        if dist.channel_id != channel:
            raise WrongChannel("distribution for another channel")
        if not ed25519.is_valid_point(dist.signing_key):
            raise InvalidKey("distribution signing key fails the point checks")
        record = self._receiving.get((channel, sender))
        if record is None:
            record = self._receiving[(channel, sender)] = _SenderRecord()
        if dist.chain_id in record.remembered or any(
            c.chain_id == dist.chain_id for c in record.chains
        ):
            return False
        record.chains.append(
            ReceiverChain(
                chain_id=dist.chain_id,
                iteration=dist.iteration,
                chain_key=dist.chain_key,
                signing_public=dist.signing_key,
            )
        )
        del record.chains[:-CHAINS_PER_SENDER]
        record.remembered[dist.chain_id] = None
        while len(record.remembered) > REMEMBERED_CHAIN_IDS:
            del record.remembered[next(iter(record.remembered))]
        return True

    def receiving_chains(self, channel_id: Id, sender_id: Id) -> list[ReceiverChain]:
        record = self._receiving.get((uuid_bytes(channel_id), uuid_bytes(sender_id)))
        return list(record.chains) if record else []

    def decrypt(self, channel_id: Id, sender_id: Id, envelope: bytes) -> bytes:
        """Verify then decrypt a group envelope; no chain changes when it raises."""
        channel = uuid_bytes(channel_id)
        sender = uuid_bytes(sender_id)
        message = parse_group_envelope(envelope)
        record = self._receiving.get((channel, sender))
        chain = None
        if record is not None:
            for candidate in record.chains:
                if candidate.chain_id == message.chain_id:
                    chain = candidate
        if chain is None:
            raise UnknownSenderChain("no distribution for this chain")
        ed25519.verify(chain.signing_public, envelope[:-64], message.signature)
        return chain.decrypt(message.iteration, message.ciphertext, channel + sender)

    # --- serialization -------------------------------------------------------------------

    FORMAT = "chatalot.sender_keys"

    def to_bytes(self) -> bytes:
        return dump(
            self.FORMAT,
            {
                "user_id": b64(self.user_id),
                "sending": [self._sending[c].to_obj() for c in sorted(self._sending)],
                "receiving": [
                    {
                        "channel_id": b64(channel),
                        "sender_id": b64(sender),
                        "chains": [c.to_obj() for c in record.chains],
                        "remembered": list(record.remembered),
                    }
                    for (channel, sender), record in sorted(self._receiving.items())
                ],
            },
        )

    @classmethod
    def from_bytes(cls, blob: bytes) -> SenderKeyStore:
        r = load(cls.FORMAT, blob)
        store = cls(r.bytes_("user_id", 16))
        for item in r.list_("sending"):
            chain = SenderChain.from_obj(r.wrap(item, "sending"))
            store._sending[chain.channel_id] = chain
        for item in r.list_("receiving"):
            rr = r.wrap(item, "receiving")
            record = _SenderRecord()
            for c in rr.list_("chains", CHAINS_PER_SENDER):
                record.chains.append(ReceiverChain.from_obj(rr.wrap(c, "chains")))
            for chain_id in rr.list_("remembered", REMEMBERED_CHAIN_IDS):
                record.remembered[rr.int_value(chain_id, "remembered", 0, U32_MAX)] = None
            key = (rr.bytes_("channel_id", 16), rr.bytes_("sender_id", 16))
            store._receiving[key] = record
        return store
