"""X3DH key agreement (Signal rev. 1) with the choices of crypto.md."""

from __future__ import annotations

from dataclasses import dataclass

from chatalot_crypto import ed25519
from chatalot_crypto.keys import (
    IdentityKeyPair,
    OneTimePrekey,
    PrekeyBundle,
    SignedPrekey,
    validate_identity_key,
)
from chatalot_crypto.primitives import (
    INFO_X3DH,
    ZERO_SALT,
    Random,
    generate_x25519,
    hkdf_sha256,
    random_bytes,
    validate_x25519_public,
    x25519,
)

__all__ = ["X3DHInitiation", "X3DHResponse", "derive_shared_secret", "initiate", "respond"]

_F = b"\xff" * 32


def derive_shared_secret(dh_outputs: list[bytes]) -> bytes:
    """SK = HKDF(0xFF*32 || DH1 || DH2 || DH3 [|| DH4], salt 0x00*32, info, 32)."""
    return hkdf_sha256(_F + b"".join(dh_outputs), ZERO_SALT, INFO_X3DH, 32)


@dataclass(frozen=True, eq=False, repr=False, slots=True)
class X3DHInitiation:
    """The initiator's result: SK, AD and what her prekey envelopes must carry."""

    shared_secret: bytes
    associated_data: bytes
    ephemeral_public: bytes
    signed_prekey_id: int
    signed_prekey: bytes
    one_time_prekey_id: int | None

    def __repr__(self) -> str:
        return (
            f"X3DHInitiation(ephemeral_public={self.ephemeral_public.hex()}, "
            f"signed_prekey_id={self.signed_prekey_id}, "
            f"one_time_prekey_id={self.one_time_prekey_id})"
        )


@dataclass(frozen=True, eq=False, repr=False, slots=True)
class X3DHResponse:
    shared_secret: bytes
    associated_data: bytes

    def __repr__(self) -> str:
        return "X3DHResponse(<secret>)"


def initiate(
    identity: IdentityKeyPair,
    bundle: PrekeyBundle,
    rng: Random = random_bytes,
) -> X3DHInitiation:
    """Alice's side. Verifies the bundle (SPK signature, point checks) before any DH."""
    bundle.validate()
    ek_private, ek_public = generate_x25519(rng)
    ik_b = ed25519.to_x25519_public(bundle.identity_key)
    dh = [
        x25519(identity.x25519_private, bundle.signed_prekey),
        x25519(ek_private, ik_b),
        x25519(ek_private, bundle.signed_prekey),
    ]
    if bundle.one_time_prekey is not None:
        dh.append(x25519(ek_private, bundle.one_time_prekey))
    return X3DHInitiation(
        shared_secret=derive_shared_secret(dh),
        associated_data=identity.public + bundle.identity_key,
        ephemeral_public=ek_public,
        signed_prekey_id=bundle.signed_prekey_id,
        signed_prekey=bundle.signed_prekey,
        one_time_prekey_id=bundle.one_time_prekey_id,
    )


def respond(
    identity: IdentityKeyPair,
    signed_prekey: SignedPrekey,
    one_time_prekey: OneTimePrekey | None,
    initiator_identity: bytes,
    ephemeral_public: bytes,
) -> X3DHResponse:
    """Bob's side, from the keys named in a prekey envelope. Raises InvalidKey on bad keys."""
    validate_identity_key(initiator_identity)
    validate_x25519_public(ephemeral_public)
    ik_a = ed25519.to_x25519_public(initiator_identity)
    dh = [
        x25519(signed_prekey.private, ik_a),
        x25519(identity.x25519_private, ephemeral_public),
        x25519(signed_prekey.private, ephemeral_public),
    ]
    if one_time_prekey is not None:
        dh.append(x25519(one_time_prekey.private, ephemeral_public))
    return X3DHResponse(
        shared_secret=derive_shared_secret(dh),
        associated_data=initiator_identity + identity.public,
    )
