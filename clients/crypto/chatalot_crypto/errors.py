"""Typed errors of the E2E library.

Messages are fixed strings: an error never carries key material, plaintext or state, so
callers may log them freely.
"""

from __future__ import annotations

__all__ = [
    "ChainExhausted",
    "CryptoError",
    "DecryptError",
    "DuplicateMessage",
    "InvalidEnvelope",
    "InvalidKey",
    "InvalidKeyId",
    "InvalidSignature",
    "NoSession",
    "PrekeyReplay",
    "StateError",
    "TooManySkipped",
    "UnknownPrekey",
    "UnknownSenderChain",
    "WrongChannel",
]


class CryptoError(Exception):
    """Base of every error raised by chatalot_crypto."""


class InvalidKey(CryptoError):
    """A public key fails the point checks (strict decoding, order, small order)."""


class InvalidKeyId(InvalidKey):
    """A prekey id outside 0..0xFFFFFFFE (0xFFFFFFFF means "no one-time prekey")."""


class InvalidSignature(CryptoError):
    """An Ed25519 signature fails strict verification."""


class DecryptError(CryptoError):
    """A message cannot be decrypted; the state that was tried is unchanged."""


class InvalidEnvelope(DecryptError):
    """Envelope or distribution bytes are malformed (version, type or length)."""


class DuplicateMessage(DecryptError):
    """The message key was already used (or discarded): message keys are single-use."""


class TooManySkipped(DecryptError):
    """The message is further ahead of its chain than the skip bound allows."""


class UnknownPrekey(DecryptError):
    """A prekey envelope names a signed or one-time prekey this client does not hold."""


class PrekeyReplay(DecryptError):
    """A prekey envelope would re-create a session from an already used ephemeral key."""


class UnknownSenderChain(DecryptError):
    """A group message names a chain this client holds no distribution for."""


class NoSession(CryptoError):
    """There is no session with this peer (or channel) to encrypt or decrypt with."""


class WrongChannel(CryptoError):
    """A sender-key distribution names another channel than the one it was fetched for."""


class ChainExhausted(CryptoError):
    """A counter would overflow u32: the caller must start a new session or chain."""


class StateError(CryptoError):
    """Serialized state is corrupted, truncated, or of an unknown format or version."""
