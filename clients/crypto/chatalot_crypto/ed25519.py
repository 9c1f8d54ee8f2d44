"""Strict Ed25519 (crypto.md "Validation"): RFC 8032 5.1.7, cofactorless, S < L, canonical
A and R, and A and R of order exactly L.

OpenSSL (through `cryptography`) computes R' = [S]B - [k]A and compares its canonical
encoding with the R bytes, so it checks the cofactorless equation; it does not refuse
small-order or mixed-order A, so this module makes the checks explicitly:

- S < L, and A decoded strictly with order exactly L (cached per key: keys repeat, and the
  order check is a pure-Python [L]A).
- R: canonical y, not x = 0 with the sign bit set, not one of the 8 small-order points.
  Once A has order L and the equation holds, R = [S]B - [k]A lies in the prime-order
  subgroup, so R's curve membership and freedom from torsion follow from the equation:
  the result is the same as decoding R strictly and computing [L]R, without paying a
  pure-Python scalar multiplication per message. tests/crypto checks this equivalence
  against a fully explicit reference verifier.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from cryptography.exceptions import InvalidSignature as _CryptographyInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from chatalot_crypto import edwards25519 as ed
from chatalot_crypto.errors import InvalidKey, InvalidSignature

__all__ = [
    "SIGNATURE_SIZE",
    "SMALL_ORDER_Y",
    "is_valid_point",
    "public_key_from_seed",
    "sign",
    "signer",
    "to_x25519_private",
    "to_x25519_public",
    "validate_point",
    "verify",
]

SIGNATURE_SIZE = 64
_Y_MASK = (1 << 255) - 1

# y-coordinates of the 8 points of small order (identity y = 1, order 2 y = -1, order 4
# y = 0, order 8 the remaining pair). Every small-order point has one of these y.
SMALL_ORDER_Y = frozenset(
    {
        0,
        1,
        ed.P - 1,
        55188659117513257062467267217118295137698188065244968500265048394206261417927,
        2707385501144840649318225287225658788936804267575313519463743609750303402022,
    }
)


@lru_cache(maxsize=4096)
def _checked_public_key(data: bytes) -> Ed25519PublicKey | None:
    """The OpenSSL key object for a point that passes every check, else None."""
    point = ed.decode(data)
    if point is None or not ed.has_order_l(point):
        return None
    return Ed25519PublicKey.from_public_bytes(data)


def is_valid_point(data: bytes) -> bool:
    """Strict decoding (y < p, on curve, no x = 0 with sign set) and order exactly L."""
    return type(data) is bytes and len(data) == 32 and _checked_public_key(data) is not None


def validate_point(data: bytes) -> None:
    if not is_valid_point(data):
        raise InvalidKey("Ed25519 public key fails the point checks")


def public_key_from_seed(seed: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


def signer(seed: bytes) -> Ed25519PrivateKey:
    """An OpenSSL signing key, for callers that sign many messages with one seed."""
    if len(seed) != 32:
        raise InvalidKey("Ed25519 seed must be 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(seed)


def sign(seed: bytes, message: bytes) -> bytes:
    """Ed25519 signature (RFC 8032, deterministic)."""
    return signer(seed).sign(message)


def verify(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Strict verification; raises InvalidSignature on any failure, bad A included."""
    if len(signature) != SIGNATURE_SIZE or type(public_key) is not bytes or len(public_key) != 32:
        raise InvalidSignature("signature refused")
    if int.from_bytes(signature[32:], "little") >= ed.L:
        raise InvalidSignature("signature refused")
    r = int.from_bytes(signature[:32], "little")
    ry = r & _Y_MASK
    # Non-canonical y, small order (the x = 0 points, y = 1 and y = -1, are among them).
    if ry >= ed.P or ry in SMALL_ORDER_Y:
        raise InvalidSignature("signature refused")
    key = _checked_public_key(public_key)
    if key is None:
        raise InvalidSignature("signature refused")
    try:
        key.verify(signature, message)
    except _CryptographyInvalidSignature:
        raise InvalidSignature("signature refused") from None


@lru_cache(maxsize=4096)
def _x25519_public(data: bytes) -> bytes | None:
    point = ed.decode(data)
    if point is None or not ed.has_order_l(point):
        return None
    return ed.to_montgomery_u(point).to_bytes(32, "little")


def to_x25519_public(ed_public: bytes) -> bytes:
    """Montgomery u = (1 + y) / (1 - y) of a validated Ed25519 public key."""
    if type(ed_public) is not bytes or len(ed_public) != 32:
        raise InvalidKey("Ed25519 public key must be 32 bytes")
    u = _x25519_public(ed_public)
    if u is None:
        raise InvalidKey("Ed25519 public key fails the point checks")
    return u


def to_x25519_private(seed: bytes) -> bytes:
    """clamp(SHA-512(seed)[0:32]): the X25519 scalar matching to_x25519_public."""
    if len(seed) != 32:
        raise InvalidKey("Ed25519 seed must be 32 bytes")
    h = bytearray(hashlib.sha512(seed).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return bytes(h)
