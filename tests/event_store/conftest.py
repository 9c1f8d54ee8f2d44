from __future__ import annotations

import os
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


REQUIRE_NATIVE_CHAIN = bool(os.environ.get("CHATALOT_REQUIRE_NATIVE_CHAIN"))  # .ci/run sets it


def use_chain(store: EventStore, native: bool) -> None:
    """Chain the store's batches natively (event_batch_hashes, migration 0044) or in SQL.
    Native where this PostgreSQL lacks it: the test is skipped, or fails where required."""
    if native and not store.native_chain:
        if REQUIRE_NATIVE_CHAIN:
            pytest.fail("CHATALOT_REQUIRE_NATIVE_CHAIN: event_batch_hashes does not work here"
                        " (scripts/install builds it: event_store/chain_ext/build)")
        pytest.skip("the native chain is not installed for this PostgreSQL")
    store.native_chain = native
