"""TOTP (RFC 6238, via pyotp) with secrets encrypted at rest, and single-use backup codes.

The encryption key is 32 bytes: TOTP_ENCRYPTION_KEY (base64), else `<data dir>/keys/
totp.key`, created (mode 0600) on first use. Secrets are sealed with AES-256-GCM, bound to
their user id, so a ciphertext copied onto another account does not open.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chatalot.auth.passwords import hash_code, new_code
from chatalot.domain.accounts import rules

STEP_SECS = 30
DIGITS = rules.TOTP_DIGITS
WINDOW = 1  # accept the previous and the next step too (clock skew)
ISSUER = "Chatalot"


class TotpKeyError(Exception):
    """The configured TOTP encryption key is unusable (one line for the operator)."""


def load_totp_key(configured: str | None, data_dir: Path) -> bytes:
    if configured:
        try:
            key = base64.b64decode(configured, validate=True)
        except (binascii.Error, ValueError):
            raise TotpKeyError("TOTP_ENCRYPTION_KEY: expected base64 of 32 bytes") from None
        if len(key) != 32:
            raise TotpKeyError("TOTP_ENCRYPTION_KEY: expected base64 of 32 bytes")
        return key
    path = data_dir / "keys" / "totp.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process won the race; read theirs
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(base64.b64encode(secrets.token_bytes(32)) + b"\n")
    try:
        key = base64.b64decode(path.read_bytes().strip(), validate=True)
    except (OSError, binascii.Error, ValueError) as exc:
        raise TotpKeyError(f"{path}: cannot read the TOTP key: {exc}") from None
    if len(key) != 32:
        raise TotpKeyError(f"{path}: expected base64 of 32 bytes")
    return key


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, user_id: uuid.UUID, secret: str) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, secret.encode(), user_id.bytes)

    def open(self, user_id: uuid.UUID, sealed: bytes) -> str:
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], user_id.bytes).decode()
        except (InvalidTag, ValueError) as exc:
            raise TotpKeyError("a TOTP secret does not open with the configured key") from exc


def new_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits, RFC 4226's recommended size


def provisioning_uri(secret: str, username: str, issuer: str = ISSUER) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECS).provisioning_uri(
        name=username, issuer_name=issuer
    )


def current_step(now: float) -> int:
    return int(now // STEP_SECS)


def matching_step(secret: str, code: str, now: float, *, after_step: int | None) -> int | None:
    """The time step whose code equals `code` within the window, newer than `after_step`
    (a code is accepted once), or None."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECS)
    found = None
    step = current_step(now)
    for candidate in range(step - WINDOW, step + WINDOW + 1):
        expected = totp.generate_otp(candidate)
        if hmac.compare_digest(expected, code) and (after_step is None or candidate > after_step):
            found = candidate
    return found


def is_backup_code_shape(code: str) -> bool:
    return rules.is_backup_code(code)


def new_backup_codes(user_id: uuid.UUID, count: int) -> tuple[list[str], list[bytes]]:
    codes = [new_code(2, 5) for _ in range(count)]  # XXXXX-XXXXX, 50 bits each
    return codes, [hash_code(str(user_id), c) for c in codes]


def use_backup_code(user_id: uuid.UUID, stored: list[bytes], code: str) -> list[bytes] | None:
    """The remaining hashes once `code` is spent, or None when it matches none."""
    digest = hash_code(str(user_id), code)
    for index, candidate in enumerate(stored):
        if hmac.compare_digest(candidate, digest):
            return stored[:index] + stored[index + 1:]
    return None


Clock = Callable[[], float]
system_clock: Clock = time.time
