"""Symmetric primitives and X25519 exactly as crypto.md fixes them.

The message-key path (KDF_CK, then HKDF to key and nonce) runs once per message on both
sides, so it is built from hashlib SHA-256 with the HMAC pads derived once per key; the
general HKDF uses `cryptography`, and the tests check the two agree.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from chatalot_crypto.errors import DecryptError, InvalidKey

__all__ = [
    "AEAD_TAG_SIZE",
    "INFO_MESSAGE_KEYS",
    "INFO_RATCHET",
    "INFO_SENDER_KEY",
    "INFO_X3DH",
    "KEY_SIZE",
    "U32_MAX",
    "ZERO_SALT",
    "Random",
    "aead_decrypt",
    "aead_encrypt",
    "generate_x25519",
    "hkdf_sha256",
    "hmac_sha256",
    "kdf_ck",
    "message_key_material",
    "pack_u32",
    "random_bytes",
    "ratchet_chain_step",
    "sender_chain_step",
    "unpack_u32",
    "validate_x25519_public",
    "x25519",
    "x25519_public",
]

Random = Callable[[int], bytes]
"""A source of random bytes: `rng(n)` returns n bytes. Injected for deterministic vectors."""

KEY_SIZE = 32
AEAD_TAG_SIZE = 16
U32_MAX = 0xFFFFFFFF
ZERO_SALT = bytes(32)

INFO_X3DH = b"chatalot-x3dh-shared-secret"
INFO_RATCHET = b"chatalot-ratchet"
INFO_MESSAGE_KEYS = b"chatalot-message-keys"
INFO_SENDER_KEY = b"chatalot-sender-key"

_P = 2**255 - 19
_U32 = struct.Struct(">I")


def random_bytes(n: int) -> bytes:
    """The default Random: the operating system's CSPRNG."""
    return os.urandom(n)


def pack_u32(value: int) -> bytes:
    return _U32.pack(value)


def unpack_u32(data: bytes, offset: int = 0) -> int:
    return int(_U32.unpack_from(data, offset)[0])


# --- HMAC / HKDF -------------------------------------------------------------------------

_sha256 = hashlib.sha256
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_IPAD_FILL = b"\x36" * 32
_OPAD_FILL = b"\x5c" * 32
# HMAC keyed with the all-zero 32-byte salt: both pads are constant, hash them once.
_ZERO_SALT_INNER = _sha256(b"\x36" * 64)
_ZERO_SALT_OUTER = _sha256(b"\x5c" * 64)


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104) of any key length."""
    if len(key) > 64:
        key = _sha256(key).digest()
    key = key.ljust(64, b"\x00")
    inner = _sha256(key.translate(_IPAD) + data).digest()
    return _sha256(key.translate(_OPAD) + inner).digest()


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 (RFC 5869)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def kdf_ck(ck: bytes) -> tuple[bytes, bytes]:
    """KDF_CK of crypto.md: (mk, next_ck) = (HMAC(ck, 0x01), HMAC(ck, 0x02)); ck is 32 bytes."""
    inner = _sha256(ck.translate(_IPAD) + _IPAD_FILL)
    outer = _sha256(ck.translate(_OPAD) + _OPAD_FILL)
    inner_mk = inner.copy()
    inner_mk.update(b"\x01")
    inner.update(b"\x02")
    outer_mk = outer.copy()
    outer_mk.update(inner_mk.digest())
    outer.update(inner.digest())
    return outer_mk.digest(), outer.digest()


def message_key_material(mk: bytes, info: bytes) -> tuple[bytes, bytes]:
    """k || nonce = HKDF-SHA256(ikm = mk, salt = 0x00*32, info, 44): (32-byte key, 12-byte nonce).

    Written out (extract with the constant zero salt, two expand blocks) because it is the
    per-message hot path; equal to hkdf_sha256(mk, ZERO_SALT, info, 44).
    """
    inner = _ZERO_SALT_INNER.copy()
    inner.update(mk)
    outer = _ZERO_SALT_OUTER.copy()
    outer.update(inner.digest())
    prk = outer.digest()
    inner = _sha256(prk.translate(_IPAD) + _IPAD_FILL)
    outer = _sha256(prk.translate(_OPAD) + _OPAD_FILL)
    inner2 = inner.copy()
    inner.update(info + b"\x01")
    outer1 = outer.copy()
    outer1.update(inner.digest())
    t1 = outer1.digest()
    inner2.update(t1 + info + b"\x02")
    outer.update(inner2.digest())
    return t1, outer.digest()[:12]


def _chain_stepper(info: bytes) -> Callable[[bytes], tuple[bytes, bytes, bytes]]:
    """kdf_ck then message_key_material in one function, for the per-message hot path.

    Same values as the two functions (the tests check it); it only saves calls: the
    constants are bound as locals and the intermediate tuples are never built.
    """
    info1 = info + b"\x01"
    info2 = info + b"\x02"

    def step(
        ck: bytes,
        sha256: Callable[[bytes], Any] = _sha256,
        ipad: bytes = _IPAD,
        opad: bytes = _OPAD,
        ifill: bytes = _IPAD_FILL,
        ofill: bytes = _OPAD_FILL,
        zero_inner: Any = _ZERO_SALT_INNER,
        zero_outer: Any = _ZERO_SALT_OUTER,
    ) -> tuple[bytes, bytes, bytes]:
        # KDF_CK: mk = HMAC(ck, 0x01), next = HMAC(ck, 0x02).
        inner = sha256(ck.translate(ipad) + ifill)
        outer = sha256(ck.translate(opad) + ofill)
        inner_mk = inner.copy()
        inner_mk.update(b"\x01")
        inner.update(b"\x02")
        outer_mk = outer.copy()
        outer_mk.update(inner_mk.digest())
        outer.update(inner.digest())
        mk = outer_mk.digest()
        # HKDF extract with the zero salt, then two expand blocks.
        inner = zero_inner.copy()
        inner.update(mk)
        prk_outer = zero_outer.copy()
        prk_outer.update(inner.digest())
        prk = prk_outer.digest()
        inner = sha256(prk.translate(ipad) + ifill)
        po = prk.translate(opad) + ofill
        inner2 = inner.copy()
        inner.update(info1)
        t1 = sha256(po + inner.digest()).digest()
        inner2.update(t1 + info2)
        return outer.digest(), t1, sha256(po + inner2.digest()).digest()[:12]

    return step


ratchet_chain_step = _chain_stepper(INFO_MESSAGE_KEYS)
"""Double Ratchet: ck -> (next_ck, aead_key, nonce) of the message ck yields."""
sender_chain_step = _chain_stepper(INFO_SENDER_KEY)
"""Sender Keys: ck -> (next_ck, aead_key, nonce) of the message ck yields."""


# --- AEAD ----------------------------------------------------------------------------------


def aead_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """ChaCha20-Poly1305 (IETF): ciphertext || 16-byte tag."""
    return ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)


def aead_decrypt(key: bytes, nonce: bytes, ct: bytes, aad: bytes) -> bytes:
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, ct, aad)
    except InvalidTag:
        raise DecryptError("message authentication failed") from None


# --- X25519 --------------------------------------------------------------------------------

# u-coordinates (mod p) of the points of order 1, 2, 4 and 8 on Curve25519 and its twist.
_SMALL_ORDER_U = frozenset(
    {
        0,
        1,
        _P - 1,
        325606250916557431795983626356110631294008115727848805560023387167927233504,
        39382357235489614581723060781553021112529911719440698176882885853963445705823,
    }
)


def validate_x25519_public(public: bytes) -> None:
    """Refuse an X25519 public key that is non-canonical or of small order.

    Small order is crypto.md's rule. Non-canonical (top bit set, or u >= p) is this
    library's addition: X25519 ignores the top bit and reduces u mod p (RFC 7748), so a
    second encoding of a key gives the same shared secret. An EK_A with its top bit flipped
    would then make a prekey envelope decrypt again as a "new" session, past the EK_A replay
    memory. No honest key has such an encoding (X25519 outputs are canonical).
    """
    if type(public) is not bytes or len(public) != 32:
        raise InvalidKey("X25519 public key must be 32 bytes")
    u = int.from_bytes(public, "little")
    if u >= _P:
        raise InvalidKey("X25519 public key not canonically encoded")
    if u in _SMALL_ORDER_U:
        raise InvalidKey("X25519 public key of small order")


def x25519_public(private: bytes) -> bytes:
    if len(private) != 32:
        raise InvalidKey("X25519 private key must be 32 bytes")
    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()


def generate_x25519(rng: Random = random_bytes) -> tuple[bytes, bytes]:
    """A new X25519 pair (private, public); the private key is the raw 32 bytes of rng."""
    private = rng(32)
    if len(private) != 32:
        raise ValueError("rng returned the wrong number of bytes")
    return private, x25519_public(private)


def x25519(private: bytes, public: bytes) -> bytes:
    """X25519(private, public), refusing small-order keys and an all-zero output."""
    validate_x25519_public(public)
    if len(private) != 32:
        raise InvalidKey("X25519 private key must be 32 bytes")
    try:
        out = X25519PrivateKey.from_private_bytes(private).exchange(
            X25519PublicKey.from_public_bytes(public)
        )
    except ValueError:
        # OpenSSL refuses an all-zero shared secret itself.
        raise InvalidKey("X25519 output is all zero") from None
    if out == bytes(32):
        raise InvalidKey("X25519 output is all zero")
    return out
