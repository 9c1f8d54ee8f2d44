"""Event types by name: one msgspec Struct per type, with explicit upcasting.

Stored rows carry the type name and its schema version. Decoding an unknown name is an
error, and an old version is decoded only through the upcasters registered for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from event_store.errors import NotEncodable, UnknownEventType

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class _EventType(msgspec.Struct, frozen=True):
    name: str
    cls: type[msgspec.Struct]
    version: int
    decoder: msgspec.json.Decoder[Any]


class EventRegistry:
    def __init__(self, types: Iterable[type[msgspec.Struct]] = ()) -> None:
        self._by_name: dict[str, _EventType] = {}
        self._by_cls: dict[type[msgspec.Struct], _EventType] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        self._encoder = msgspec.json.Encoder()
        # (name, current version) -> decode: the hot path of every read, one dict lookup
        self._fast: dict[tuple[str, int], Callable[[bytes | str], Any]] = {}
        for cls in types:
            self.register(cls)

    def register(
        self, cls: type[msgspec.Struct], *, name: str | None = None, version: int = 1
    ) -> type[msgspec.Struct]:
        """Register a type (usable as a decorator); its name defaults to the class name."""
        name = name or cls.__name__
        if not 1 <= version <= 32767:
            raise ValueError("schema version must be 1..32767")
        known = self._by_name.get(name)
        if known is not None and known.cls is not cls:
            raise ValueError(f"event type name {name!r} is already registered")
        entry = _EventType(name, cls, version, msgspec.json.Decoder(cls))
        if known is not None:
            self._fast.pop((name, known.version), None)
        self._by_name[name] = entry
        self._by_cls[cls] = entry
        self._fast[(name, version)] = entry.decoder.decode
        return cls

    def upcaster(self, name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register fn turning a `from_version` payload (as a dict) into the next version."""

        def decorate(fn: Upcaster) -> Upcaster:
            self._upcasters[(name, from_version)] = fn
            return fn

        return decorate

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def type_of(self, data: msgspec.Struct) -> tuple[str, int]:
        entry = self._by_cls.get(type(data))
        if entry is None:
            raise UnknownEventType(f"{type(data).__name__} is not a registered event type")
        return entry.name, entry.version

    def encode(self, data: msgspec.Struct) -> bytes:
        try:
            return self._encoder.encode(data)
        except (TypeError, ValueError, OverflowError) as exc:
            raise NotEncodable(f"{type(data).__name__} cannot be encoded: {exc}") from None

    def decoders(self) -> dict[tuple[str, int], Callable[[bytes | str], Any]]:
        """(name, current version) -> decode, for hot loops; fall back to `decode`."""
        return self._fast

    def decode(self, name: str, schema_version: int, raw: bytes | str) -> Any:
        fast = self._fast.get((name, schema_version))
        if fast is not None:
            return fast(raw)
        entry = self._by_name.get(name)
        if entry is None:
            raise UnknownEventType(f"no event type registered as {name!r}")
        if schema_version == entry.version:
            return entry.decoder.decode(raw)
        if schema_version > entry.version:
            raise UnknownEventType(
                f"{name} v{schema_version} is newer than this code knows (v{entry.version})"
            )
        payload: dict[str, Any] = msgspec.json.decode(raw)
        for version in range(schema_version, entry.version):
            step = self._upcasters.get((name, version))
            if step is None:
                raise UnknownEventType(f"no upcaster for {name} v{version} -> v{version + 1}")
            payload = step(payload)
        return msgspec.convert(payload, entry.cls)
