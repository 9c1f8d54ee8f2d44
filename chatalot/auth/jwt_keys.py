"""The Ed25519 key pair that signs access tokens."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)


class JwtKeyError(Exception):
    """The configured key files are unusable."""


log = logging.getLogger(__name__)


def ensure_jwt_keys(private_path: Path, public_path: Path) -> tuple[
    Ed25519PrivateKey, Ed25519PublicKey
]:
    """Load the pair, or create it (private key mode 0600) on first start."""
    if not private_path.exists():
        private_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        public_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        public_path.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    try:
        private = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise JwtKeyError(f"JWT_PRIVATE_KEY_PATH: cannot read an Ed25519 key: {exc}") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise JwtKeyError("JWT_PRIVATE_KEY_PATH: the key is not Ed25519")
    if private_path.stat().st_mode & 0o077:
        try:
            os.chmod(private_path, 0o600)
        except OSError:  # a read-only mount (a Docker secret): its owner sets the mode
            log.warning("JWT_PRIVATE_KEY_PATH is readable by others and cannot be made 0600")
    public = private.public_key()
    if public_path.exists():
        try:
            stored = serialization.load_pem_public_key(public_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise JwtKeyError(f"JWT_PUBLIC_KEY_PATH: cannot read the key: {exc}") from None
        if not isinstance(stored, Ed25519PublicKey) or stored.public_bytes_raw() != (
            public.public_bytes_raw()
        ):
            raise JwtKeyError("JWT_PUBLIC_KEY_PATH does not match JWT_PRIVATE_KEY_PATH")
    else:
        public_path.write_bytes(
            public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return private, public
