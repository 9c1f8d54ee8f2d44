"""Long-term and prekey material (crypto.md "Keys"), and the checks the server runs on upload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chatalot_crypto import ed25519
from chatalot_crypto.errors import InvalidKey, InvalidKeyId, StateError
from chatalot_crypto.primitives import (
    U32_MAX,
    Random,
    generate_x25519,
    random_bytes,
    validate_x25519_public,
    x25519_public,
)
from chatalot_crypto.serialization import Reader, b64, dump, load

__all__ = [
    "NO_ONE_TIME_PREKEY",
    "IdentityKeyPair",
    "LocalKeys",
    "OneTimePrekey",
    "PrekeyBundle",
    "SignedPrekey",
    "validate_identity_key",
    "validate_key_id",
    "validate_x25519_public",
    "verify_signed_prekey",
]

NO_ONE_TIME_PREKEY = U32_MAX
"""The reserved key id that means "no one-time prekey"; never a real key's id."""


# --- checks shared by clients and the server ----------------------------------------------


def validate_identity_key(public: bytes) -> None:
    """Refuse an identity key that is not a strictly encoded point of order exactly L."""
    ed25519.validate_point(public)


def validate_key_id(key_id: int) -> None:
    """Key ids are u32 below 0xFFFFFFFF (that value is reserved for "none")."""
    if type(key_id) is not int or not 0 <= key_id < U32_MAX:
        raise InvalidKeyId("key id must be an integer in 0..0xFFFFFFFE")


def verify_signed_prekey(identity_public: bytes, prekey_public: bytes, signature: bytes) -> None:
    """The upload check of a signed prekey: valid keys and Ed25519_sign(IK, SPK_pub).

    Raises InvalidKey for a bad identity or prekey, InvalidSignature for a bad signature.
    """
    validate_identity_key(identity_public)
    validate_x25519_public(prekey_public)
    ed25519.verify(identity_public, prekey_public, signature)


# --- key pairs ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False, slots=True)
class IdentityKeyPair:
    """Ed25519 identity key with its X25519 form for X3DH (one per account)."""

    seed: bytes
    public: bytes
    x25519_private: bytes
    x25519_public: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> IdentityKeyPair:
        if type(seed) is not bytes or len(seed) != 32:
            raise InvalidKey("identity seed must be 32 bytes")
        public = ed25519.public_key_from_seed(seed)
        # A seed whose public key fails the checks is astronomically unlikely, but the peer
        # would refuse it, so refuse it here too.
        validate_identity_key(public)
        return cls(
            seed=seed,
            public=public,
            x25519_private=ed25519.to_x25519_private(seed),
            x25519_public=ed25519.to_x25519_public(public),
        )

    @classmethod
    def generate(cls, rng: Random = random_bytes) -> IdentityKeyPair:
        return cls.from_seed(rng(32))

    def sign(self, message: bytes) -> bytes:
        return ed25519.sign(self.seed, message)

    def __repr__(self) -> str:
        return f"IdentityKeyPair(public={self.public.hex()})"


@dataclass(frozen=True, eq=False, repr=False, slots=True)
class SignedPrekey:
    key_id: int
    private: bytes
    public: bytes
    signature: bytes

    @classmethod
    def generate(
        cls, identity: IdentityKeyPair, key_id: int, rng: Random = random_bytes
    ) -> SignedPrekey:
        validate_key_id(key_id)
        private, public = generate_x25519(rng)
        return cls(key_id, private, public, identity.sign(public))

    @classmethod
    def from_private(cls, identity: IdentityKeyPair, key_id: int, private: bytes) -> SignedPrekey:
        validate_key_id(key_id)
        public = x25519_public(private)
        return cls(key_id, private, public, identity.sign(public))

    def __repr__(self) -> str:
        return f"SignedPrekey(key_id={self.key_id}, public={self.public.hex()})"


@dataclass(frozen=True, eq=False, repr=False, slots=True)
class OneTimePrekey:
    key_id: int
    private: bytes
    public: bytes

    @classmethod
    def generate(cls, key_id: int, rng: Random = random_bytes) -> OneTimePrekey:
        validate_key_id(key_id)
        private, public = generate_x25519(rng)
        return cls(key_id, private, public)

    @classmethod
    def from_private(cls, key_id: int, private: bytes) -> OneTimePrekey:
        validate_key_id(key_id)
        return cls(key_id, private, x25519_public(private))

    def __repr__(self) -> str:
        return f"OneTimePrekey(key_id={self.key_id}, public={self.public.hex()})"


@dataclass(frozen=True, slots=True)
class PrekeyBundle:
    """What GET /keys/{user_id}/bundle hands out (public keys only)."""

    identity_key: bytes
    signed_prekey_id: int
    signed_prekey: bytes
    signed_prekey_signature: bytes
    one_time_prekey_id: int | None = None
    one_time_prekey: bytes | None = None

    def validate(self) -> None:
        """What the initiator checks before X3DH; raises InvalidKey or InvalidSignature."""
        validate_key_id(self.signed_prekey_id)
        verify_signed_prekey(self.identity_key, self.signed_prekey, self.signed_prekey_signature)
        if (self.one_time_prekey_id is None) != (self.one_time_prekey is None):
            raise InvalidKey("one-time prekey id and key must come together")
        if self.one_time_prekey_id is not None and self.one_time_prekey is not None:
            validate_key_id(self.one_time_prekey_id)
            validate_x25519_public(self.one_time_prekey)


class LocalKeys:
    """This client's private keys: identity, signed prekeys and unused one-time prekeys."""

    __slots__ = ("identity", "one_time_prekeys", "signed_prekeys")

    def __init__(
        self,
        identity: IdentityKeyPair,
        signed_prekeys: dict[int, SignedPrekey] | None = None,
        one_time_prekeys: dict[int, OneTimePrekey] | None = None,
    ) -> None:
        self.identity = identity
        self.signed_prekeys: dict[int, SignedPrekey] = dict(signed_prekeys or {})
        self.one_time_prekeys: dict[int, OneTimePrekey] = dict(one_time_prekeys or {})

    def __repr__(self) -> str:
        return (
            f"LocalKeys(identity={self.identity.public.hex()}, "
            f"signed_prekeys={sorted(self.signed_prekeys)}, "
            f"one_time_prekeys={len(self.one_time_prekeys)})"
        )

    def add_signed_prekey(self, key_id: int, rng: Random = random_bytes) -> SignedPrekey:
        spk = SignedPrekey.generate(self.identity, key_id, rng)
        self.signed_prekeys[key_id] = spk
        return spk

    def add_one_time_prekeys(
        self, first_id: int, count: int, rng: Random = random_bytes
    ) -> list[OneTimePrekey]:
        """A batch of one-time prekeys with ids first_id .. first_id + count - 1."""
        made = [OneTimePrekey.generate(first_id + i, rng) for i in range(count)]
        for opk in made:
            self.one_time_prekeys[opk.key_id] = opk
        return made

    def bundle(self, signed_prekey_id: int, one_time_prekey_id: int | None = None) -> PrekeyBundle:
        """The bundle the server would hand out for these keys (tests, local simulation)."""
        spk = self.signed_prekeys[signed_prekey_id]
        opk = None if one_time_prekey_id is None else self.one_time_prekeys[one_time_prekey_id]
        return PrekeyBundle(
            identity_key=self.identity.public,
            signed_prekey_id=spk.key_id,
            signed_prekey=spk.public,
            signed_prekey_signature=spk.signature,
            one_time_prekey_id=None if opk is None else opk.key_id,
            one_time_prekey=None if opk is None else opk.public,
        )

    # --- serialization --------------------------------------------------------------------

    FORMAT = "chatalot.local_keys"

    def to_obj(self) -> dict[str, Any]:
        return {
            "identity_seed": b64(self.identity.seed),
            "signed_prekeys": [
                [key_id, b64(self.signed_prekeys[key_id].private)]
                for key_id in sorted(self.signed_prekeys)
            ],
            "one_time_prekeys": [
                [key_id, b64(self.one_time_prekeys[key_id].private)]
                for key_id in sorted(self.one_time_prekeys)
            ],
        }

    @classmethod
    def from_obj(cls, r: Reader) -> LocalKeys:
        try:
            identity = IdentityKeyPair.from_seed(r.bytes_("identity_seed", 32))
        except InvalidKey:
            raise StateError("identity key in state fails the checks") from None
        keys = cls(identity)
        for item in r.list_("signed_prekeys"):
            key_id, private = cls._pair(r, item, "signed_prekeys")
            keys.signed_prekeys[key_id] = SignedPrekey.from_private(identity, key_id, private)
        for item in r.list_("one_time_prekeys"):
            key_id, private = cls._pair(r, item, "one_time_prekeys")
            keys.one_time_prekeys[key_id] = OneTimePrekey.from_private(key_id, private)
        return keys

    @staticmethod
    def _pair(r: Reader, item: Any, name: str) -> tuple[int, bytes]:
        if type(item) is not list or len(item) != 2:
            raise StateError(f"malformed field {name}")
        return r.int_value(item[0], name, 0, U32_MAX - 1), r.decode_b64(item[1], name, 32)

    def to_bytes(self) -> bytes:
        return dump(self.FORMAT, self.to_obj())

    @classmethod
    def from_bytes(cls, blob: bytes) -> LocalKeys:
        return cls.from_obj(load(cls.FORMAT, blob))
