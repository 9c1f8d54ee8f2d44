from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from event_store import EventRegistry, EventStore


class Noted(msgspec.Struct, frozen=True):
    """A test event: `n` lets properties check order and completeness."""

    writer: int
    n: int
    text: str = ""


class Renamed(msgspec.Struct, frozen=True):
    name: str


def make_registry() -> EventRegistry:
    return EventRegistry([Noted, Renamed])


@pytest.fixture
def registry() -> EventRegistry:
    return make_registry()


@pytest.fixture
async def store(pool: Any, registry: EventRegistry) -> AsyncIterator[EventStore]:
    store = EventStore(pool, registry)
    await store.start()
    yield store
    await store.close()
