"""The local key file: every private key, session and sender chain, encrypted with a key
derived from the user's passphrase (scrypt, then ChaCha20-Poly1305).

crypto.md requires the advanced sending state to be on disk before an envelope leaves the
client (a nonce is derived, so a state used twice reuses a key): `save()` writes a new file
beside the old one, fsyncs it and renames it over (atomic on POSIX), then fsyncs the
directory. One process at a time: the file is held with an exclusive lock while open.
"""

from __future__ import annotations

import base64
import fcntl
import os
import uuid
from pathlib import Path
from typing import IO

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from chatalot_sdk.errors import KeyStoreError

FORMAT = "chatalot.keyfile"
VERSION = 1
# scrypt cost: ~0.1 s and 32 MiB on a laptop; tests may lower it (kept in the file).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


class Tokens(msgspec.Struct, kw_only=True):
    access: str
    refresh: str


class State(msgspec.Struct, kw_only=True):
    """Everything the SDK keeps between runs. Binary fields are bytes (base64 in JSON)."""

    server: str
    user_id: uuid.UUID | None = None
    username: str = ""
    sessions: bytes = b""  # chatalot_crypto SessionStore.to_bytes()
    sender_keys: bytes = b""  # chatalot_crypto SenderKeyStore.to_bytes()
    pinned: dict[str, bytes] = {}  # user id -> the identity key trusted for them
    key_changes: dict[str, bytes] = {}  # user id -> a new key seen, not accepted yet
    # channel id -> the members who hold my current chain; cleared on rotation
    distributed: dict[str, list[str]] = {}
    next_signed_prekey_id: int = 2
    next_one_time_prekey_id: int = 1
    tokens: Tokens | None = None
    position: str | None = None  # the last live event handled (resume_after)
    plaintexts: dict[str, str] = {}  # message id -> text (message keys are single-use)


class _Kdf(msgspec.Struct, kw_only=True):
    name: str
    salt: bytes
    n: int
    r: int
    p: int


class _Header(msgspec.Struct, kw_only=True):
    format: str
    version: int
    kdf: _Kdf
    nonce: bytes = b""


class _File(msgspec.Struct, kw_only=True):
    header: _Header
    ciphertext: bytes


def _derive(passphrase: str, kdf: _Kdf) -> bytes:
    if kdf.name != "scrypt" or not (2 <= kdf.n <= 2**20 and kdf.n & (kdf.n - 1) == 0
                                    and 1 <= kdf.r <= 32 and 1 <= kdf.p <= 16
                                    and len(kdf.salt) >= 16):
        raise KeyStoreError("unsupported key file parameters")
    return Scrypt(salt=kdf.salt, length=32, n=kdf.n, r=kdf.r, p=kdf.p).derive(
        passphrase.encode())


class KeyStore:
    """An open key file: `state` in memory, `save()` to persist it."""

    def __init__(self, path: Path, state: State, key: bytes, kdf: _Kdf, lock: IO[bytes]
                 ) -> None:
        self.path = path
        self.state = state
        self._key = key
        self._kdf = kdf
        self._lock = lock

    def __repr__(self) -> str:
        return f"KeyStore({str(self.path)!r}, user_id={self.state.user_id})"

    @classmethod
    def create(cls, path: str | Path, passphrase: str, state: State, *,
               scrypt_n: int = SCRYPT_N) -> KeyStore:
        """A new key file; refuses to overwrite one (it may hold the only copy of keys)."""
        path = Path(path)
        lock = _lock(path)
        if path.exists():
            lock.close()
            raise KeyStoreError(f"{path} exists already")
        kdf = _Kdf(name="scrypt", salt=os.urandom(16), n=scrypt_n, r=SCRYPT_R, p=SCRYPT_P)
        store = cls(path, state, _derive(passphrase, kdf), kdf, lock)
        store.save()
        return store

    @classmethod
    def open(cls, path: str | Path, passphrase: str) -> KeyStore:
        path = Path(path)
        lock = _lock(path)
        try:
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                raise KeyStoreError(f"no key file at {path}") from None
            try:
                file = msgspec.json.decode(raw, type=_File)
            except msgspec.DecodeError:
                raise KeyStoreError(f"{path} is not a key file") from None
            if file.header.format != FORMAT or file.header.version != VERSION:
                raise KeyStoreError(f"{path}: unknown key file format")
            if len(file.header.nonce) != 12:
                raise KeyStoreError(f"{path}: damaged header")
            key = _derive(passphrase, file.header.kdf)
            try:
                plain = ChaCha20Poly1305(key).decrypt(
                    file.header.nonce, file.ciphertext, _aad(file.header))
            except InvalidTag:
                raise KeyStoreError("wrong passphrase, or the key file is damaged") from None
            try:
                state = msgspec.json.decode(plain, type=State)
            except msgspec.DecodeError:
                raise KeyStoreError(f"{path}: damaged state") from None
        except BaseException:
            lock.close()
            raise
        return cls(path, state, key, file.header.kdf, lock)

    def save(self) -> None:
        """Encrypt the state under a fresh nonce and replace the file atomically."""
        header = _Header(format=FORMAT, version=VERSION, kdf=self._kdf, nonce=os.urandom(12))
        ct = ChaCha20Poly1305(self._key).encrypt(
            header.nonce, msgspec.json.encode(self.state), _aad(header))
        data = msgspec.json.encode(_File(header=header, ciphertext=ct))
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def close(self) -> None:
        self._lock.close()


def _aad(header: _Header) -> bytes:
    """The header without the nonce: the KDF parameters are authenticated too."""
    return msgspec.json.encode(msgspec.structs.replace(header, nonce=b""))


def _lock(path: Path) -> IO[bytes]:
    """Hold `<file>.lock` exclusively: two processes on one key file would reuse keys."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = open(path.with_name(path.name + ".lock"), "ab")  # noqa: SIM115 - held while open
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise KeyStoreError(f"{path} is in use by another process") from None
    return lock


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
