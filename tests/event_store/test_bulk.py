"""append_new_streams writes the rows a loop of NO_STREAM appends writes, chain included,
all or nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from event_store import (
    NO_STREAM,
    ConcurrencyError,
    EventStore,
    IdempotencyConflict,
    InvalidAppend,
    Metadata,
    NewEvent,
)
from event_store.bulk import append_new_streams
from event_store.integrity import verify
from tests.event_store.conftest import Noted, Renamed

# Every column a loop and a bulk append must agree on, apart from ids and times (and the
# links, which cover both: the chain is checked by `verify` instead).
_ROWS = """SELECT substr(stream_id, 37), version, type, schema_version, data, metadata,
                  data_hash, redacted
             FROM events WHERE stream_id LIKE %s ORDER BY position"""

texts = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)
events = st.lists(st.one_of(
    st.builds(Noted, st.integers(-(2**31), 2**31), st.integers(0, 10**12), texts),
    st.builds(Renamed, texts)), min_size=1, max_size=30)


async def rows(store: EventStore, prefix: str) -> list[tuple[Any, ...]]:
    async with store.pool.connection() as conn:
        return await (await conn.execute(_ROWS, (prefix + "%",))).fetchall()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=events, in_tx=st.booleans())
async def test_a_bulk_append_writes_what_a_loop_of_appends_writes(
    store: EventStore, data: list[Any], in_tx: bool
) -> None:
    loop, bulk = f"loop{uuid.uuid4().hex}", f"bulk{uuid.uuid4().hex}"  # both 36 chars
    meta = Metadata(correlation_id=str(uuid.uuid4()))
    for i, d in enumerate(data):
        await store.append(f"{loop}-{i}", [NewEvent(d, metadata=meta)], NO_STREAM)
    items = [(f"{bulk}-{i}", NewEvent(d, metadata=meta)) for i, d in enumerate(data)]
    if in_tx:
        async with store.transaction() as conn:
            results = await append_new_streams(store, items, conn=conn)
    else:
        results = await append_new_streams(store, items)
    assert [r.stream_id for r in results] == [s for s, _ in items]
    assert all(r.version == 1 for r in results)
    assert len({r.positions[0].transaction_id for r in results}) == 1  # one transaction
    assert [r.positions[0] for r in results] == sorted(r.positions[0] for r in results)
    assert await rows(store, bulk) == await rows(store, loop)
    read = await store.read_all(limit=10_000)
    assert [e.stream_id for e in read if e.stream_id.startswith(bulk)] == [s for s, _ in items]
    async with store.pool.connection() as conn:
        report = await verify(conn)
    assert report.ok, report


async def test_an_existing_stream_or_event_id_writes_nothing(store: EventStore) -> None:
    taken = NewEvent(Noted(1, 1))
    await store.append("bulk-taken", [taken], NO_STREAM)
    fresh = [(f"bulk-new-{i}", NewEvent(Noted(2, i))) for i in range(3)]
    with pytest.raises(ConcurrencyError) as caught:
        await append_new_streams(store, [*fresh, ("bulk-taken", NewEvent(Noted(1, 2)))])
    assert caught.value.stream_id == "bulk-taken"
    with pytest.raises(IdempotencyConflict):
        await append_new_streams(store, [*fresh, ("bulk-other", taken)])
    assert [e.stream_id for e in await store.read_all()] == ["bulk-taken"]
    with pytest.raises(InvalidAppend):
        await append_new_streams(store, [fresh[0], fresh[0]])
    with pytest.raises(InvalidAppend):
        await append_new_streams(store, [])
