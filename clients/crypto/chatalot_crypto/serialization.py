"""Versioned, checksummed JSON for persisted state.

A blob is canonical JSON (sorted keys, no whitespace, ASCII) of an object with "format",
"version", the state's fields (bytes as standard base64 with padding) and "check": the
first 8 bytes, in hex, of SHA-256 over the canonical JSON of the object without "check".
The checksum turns storage corruption into a StateError at load time instead of a wrong
key that fails later; it is not a MAC (local state is trusted as much as the device).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from chatalot_crypto.errors import StateError

__all__ = ["FORMAT_VERSION", "Reader", "b64", "dump", "load"]

FORMAT_VERSION = 1


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode(
        "ascii"
    )


def _check(obj: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(obj)).hexdigest()[:16]


def dump(kind: str, body: dict[str, Any]) -> bytes:
    obj = dict(body)
    obj["format"] = kind
    obj["version"] = FORMAT_VERSION
    obj["check"] = _check(obj)
    return _canonical(obj)


def load(kind: str, blob: bytes) -> Reader:
    """Parse and check a blob written by dump(kind, ...)."""
    if not isinstance(blob, bytes | bytearray):
        raise StateError("state must be bytes")
    try:
        obj = json.loads(bytes(blob).decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise StateError("state is not valid JSON") from None
    if not isinstance(obj, dict):
        raise StateError("state is not a JSON object")
    check = obj.pop("check", None)
    if obj.get("format") != kind:
        raise StateError(f"state is not of format {kind}")
    version = obj.get("version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise StateError("unknown state version")
    if type(check) is not str or check != _check(obj):
        raise StateError("state checksum mismatch (corrupted)")
    return Reader(obj, kind)


class Reader:
    """Typed access to a decoded state object: every malformed field is a StateError."""

    __slots__ = ("_obj", "_where")

    def __init__(self, obj: dict[str, Any], where: str) -> None:
        self._obj = obj
        self._where = where

    def _get(self, name: str) -> Any:
        if name not in self._obj:
            raise StateError(f"{self._where}: missing field {name}")
        return self._obj[name]

    def _bad(self, name: str) -> StateError:
        return StateError(f"{self._where}: malformed field {name}")

    def bytes_(self, name: str, length: int | None = None) -> bytes:
        return self.decode_b64(self._get(name), name, length)

    def opt_bytes(self, name: str, length: int | None = None) -> bytes | None:
        value = self._get(name)
        if value is None:
            return None
        return self.decode_b64(value, name, length)

    def decode_b64(self, value: Any, name: str, length: int | None = None) -> bytes:
        if type(value) is not str:
            raise self._bad(name)
        try:
            data = base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise self._bad(name) from None
        if length is not None and len(data) != length:
            raise self._bad(name)
        return data

    def int_(self, name: str, lo: int, hi: int) -> int:
        value = self._get(name)
        if type(value) is not int or not lo <= value <= hi:
            raise self._bad(name)
        return value

    def opt_int(self, name: str, lo: int, hi: int) -> int | None:
        if self._get(name) is None:
            return None
        return self.int_(name, lo, hi)

    def bool_(self, name: str) -> bool:
        value = self._get(name)
        if type(value) is not bool:
            raise self._bad(name)
        return value

    def list_(self, name: str, max_len: int | None = None) -> list[Any]:
        value = self._get(name)
        if type(value) is not list or (max_len is not None and len(value) > max_len):
            raise self._bad(name)
        return value

    def obj(self, name: str) -> Reader:
        return self.wrap(self._get(name), name)

    def wrap(self, value: Any, name: str) -> Reader:
        if type(value) is not dict:
            raise self._bad(name)
        return Reader(value, f"{self._where}.{name}")

    def int_value(self, value: Any, name: str, lo: int, hi: int) -> int:
        if type(value) is not int or not lo <= value <= hi:
            raise self._bad(name)
        return value
