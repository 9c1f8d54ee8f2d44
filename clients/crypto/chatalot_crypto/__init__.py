"""Chatalot's end-to-end encryption library (issue 5), per docs spec crypto.md.

Pure Python over `cryptography`, no I/O. Randomness is injectable (`rng`) so the test
vectors are deterministic; by default it is os.urandom.
"""

from chatalot_crypto.ed25519 import verify as verify_signature
from chatalot_crypto.envelopes import (
    GroupMessage,
    PrekeyMessage,
    RatchetMessage,
    SenderKeyDistribution,
    parse_distribution,
    parse_dm_envelope,
    parse_group_envelope,
)
from chatalot_crypto.errors import (
    ChainExhausted,
    CryptoError,
    DecryptError,
    DuplicateMessage,
    InvalidEnvelope,
    InvalidKey,
    InvalidKeyId,
    InvalidSignature,
    NoSession,
    PrekeyReplay,
    StateError,
    TooManySkipped,
    UnknownPrekey,
    UnknownSenderChain,
    WrongChannel,
)
from chatalot_crypto.fingerprints import fingerprint, safety_number
from chatalot_crypto.keys import (
    NO_ONE_TIME_PREKEY,
    IdentityKeyPair,
    LocalKeys,
    OneTimePrekey,
    PrekeyBundle,
    SignedPrekey,
    validate_identity_key,
    validate_key_id,
    validate_x25519_public,
    verify_signed_prekey,
)
from chatalot_crypto.ratchet import RatchetState
from chatalot_crypto.sender_keys import SenderChain, SenderKeyStore
from chatalot_crypto.sessions import Session, SessionStore

__all__ = [
    "NO_ONE_TIME_PREKEY",
    "ChainExhausted",
    "CryptoError",
    "DecryptError",
    "DuplicateMessage",
    "GroupMessage",
    "IdentityKeyPair",
    "InvalidEnvelope",
    "InvalidKey",
    "InvalidKeyId",
    "InvalidSignature",
    "LocalKeys",
    "NoSession",
    "OneTimePrekey",
    "PrekeyBundle",
    "PrekeyMessage",
    "PrekeyReplay",
    "RatchetMessage",
    "RatchetState",
    "SenderChain",
    "SenderKeyDistribution",
    "SenderKeyStore",
    "Session",
    "SessionStore",
    "SignedPrekey",
    "StateError",
    "TooManySkipped",
    "UnknownPrekey",
    "UnknownSenderChain",
    "WrongChannel",
    "fingerprint",
    "parse_distribution",
    "parse_dm_envelope",
    "parse_group_envelope",
    "safety_number",
    "validate_identity_key",
    "validate_key_id",
    "validate_x25519_public",
    "verify_signature",
    "verify_signed_prekey",
]
