"""Every event type of the domain, registered by name in one registry."""

from __future__ import annotations

import msgspec

from event_store import EventRegistry

# Each bounded area adds its Structs here (accounts, channels, messages, keys, ...).
EVENT_TYPES: list[type[msgspec.Struct]] = []


def build_registry() -> EventRegistry:
    return EventRegistry(EVENT_TYPES)

from chatalot.domain.accounts.events import ACCOUNT_EVENTS  # noqa: E402

EVENT_TYPES.extend(ACCOUNT_EVENTS)

from chatalot.domain.keys.events import KEY_EVENTS  # noqa: E402

EVENT_TYPES.extend(KEY_EVENTS)
