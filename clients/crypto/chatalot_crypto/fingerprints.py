"""Key verification strings (crypto.md "Verification")."""

from __future__ import annotations

import hashlib
import uuid

from chatalot_crypto.envelopes import uuid_bytes
from chatalot_crypto.keys import validate_identity_key

__all__ = [
    "SAFETY_NUMBER_ITERATIONS",
    "fingerprint",
    "format_safety_number",
    "safety_number",
    "safety_number_half",
]

SAFETY_NUMBER_ITERATIONS = 5200
_VERSION = b"\x00\x00"


def fingerprint(identity_key: bytes) -> str:
    """SHA-256(IK_pub): 64 lowercase hex digits in 16 groups of 4, one space between."""
    validate_identity_key(identity_key)
    digest = hashlib.sha256(identity_key).hexdigest()
    return " ".join(digest[i : i + 4] for i in range(0, 64, 4))


def safety_number_half(identity_key: bytes, user_id: uuid.UUID | bytes) -> str:
    """One party's 30 digits (Signal's numeric fingerprint, version 0)."""
    validate_identity_key(identity_key)
    h = _VERSION + identity_key + uuid_bytes(user_id)
    sha512 = hashlib.sha512
    for _ in range(SAFETY_NUMBER_ITERATIONS):
        h = sha512(h + identity_key).digest()
    return "".join(
        f"{int.from_bytes(h[i : i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5)
    )


def safety_number(
    identity_a: bytes,
    user_a: uuid.UUID | bytes,
    identity_b: bytes,
    user_b: uuid.UUID | bytes,
) -> str:
    """The 60 digits both parties compare: the two halves sorted, so it is symmetric."""
    halves = sorted(
        (safety_number_half(identity_a, user_a), safety_number_half(identity_b, user_b))
    )
    return halves[0] + halves[1]


def format_safety_number(number: str) -> str:
    """Groups of 5 digits for display (12 groups)."""
    return " ".join(number[i : i + 5] for i in range(0, len(number), 5))
