"""Appending: versions, optimistic concurrency, idempotency, validation, rollback."""

from __future__ import annotations

import asyncio
import uuid

import msgspec
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from event_store import (
    ANY,
    NO_STREAM,
    ConcurrencyError,
    IdempotencyConflict,
    InvalidAppend,
    InvalidStreamId,
    Metadata,
    NewEvent,
    NotEncodable,
    PayloadTooLarge,
    StreamOrderConflict,
    UnknownEventType,
)
from tests.event_store.conftest import Noted, Renamed


async def count_events(store) -> int:
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM events")
        return (await cur.fetchone())[0]


async def test_versions_and_expected_version(store):
    first = await store.append("note-a", [NewEvent(Noted(1, 1))], NO_STREAM)
    assert first.version == 1
    second = await store.append("note-a", [NewEvent(Noted(1, 2)), NewEvent(Noted(1, 3))], 1)
    assert second.version == 3
    assert second.positions[0] > first.position
    with pytest.raises(ConcurrencyError) as err:
        await store.append("note-a", [NewEvent(Noted(1, 4))], 1)
    assert err.value.actual == 3
    with pytest.raises(ConcurrencyError) as err:
        await store.append("note-a", [NewEvent(Noted(1, 4))], NO_STREAM)
    assert err.value.actual == 3
    with pytest.raises(ConcurrencyError) as err:
        await store.append("note-missing", [NewEvent(Noted(1, 4))], 5)
    assert err.value.actual == 0
    anyway = await store.append("note-a", [NewEvent(Noted(1, 4))], ANY)
    assert anyway.version == 4
    assert await store.stream_version("note-a") == 4
    events = await store.read_stream("note-a")
    assert [e.version for e in events] == [1, 2, 3, 4]
    assert [e.data.n for e in events] == [1, 2, 3, 4]
    backwards = await store.read_stream("note-a", backwards=True, from_version=3, limit=2)
    assert [e.version for e in backwards] == [3, 2]
    assert [e.version for e in await store.read_stream("note-a", from_version=3)] == [3, 4]


async def test_metadata_and_clock_are_recorded(store):
    meta = Metadata(
        actor_id="u1", causation_id="c1", correlation_id="r1", ip="127.0.0.1",
        user_agent="pytest", command="Note",
    )
    await store.append("note-m", [NewEvent(Noted(1, 1), metadata=meta)])
    (event,) = await store.read_stream("note-m")
    assert event.metadata == meta
    async with store.pool.connection() as conn:
        now = (await (await conn.execute("SELECT now()")).fetchone())[0]
    assert abs((now - event.recorded_at).total_seconds()) < 60


@pytest.mark.parametrize("expected", [NO_STREAM, 2])
async def test_racing_writers_on_one_expected_version_one_wins(store, expected):
    for round_ in range(15):
        stream = f"race-{uuid.uuid4()}"
        if expected:
            await store.append(stream, [NewEvent(Noted(0, 1)), NewEvent(Noted(0, 2))])
        results = await asyncio.gather(
            *(store.append(stream, [NewEvent(Noted(w, round_))], expected) for w in (1, 2)),
            return_exceptions=True,
        )
        wins = [r for r in results if not isinstance(r, BaseException)]
        losses = [r for r in results if isinstance(r, ConcurrencyError)]
        assert len(wins) == 1 and len(losses) == 1, results
        assert losses[0].actual == expected + 1
        assert await store.stream_version(stream) == expected + 1


async def test_idempotent_reappend(store):
    batch = [NewEvent(Noted(1, 1)), NewEvent(Noted(1, 2))]
    first = await store.append("idem-1", batch, NO_STREAM)
    again = await store.append("idem-1", batch, NO_STREAM)
    assert again == first
    assert await count_events(store) == 2
    # the same ids concurrently: one effect, the same answer everywhere
    batch2 = [NewEvent(Noted(2, n)) for n in range(3)]
    results = await asyncio.gather(*(store.append("idem-2", batch2) for _ in range(6)))
    assert all(r == results[0] for r in results)
    assert await count_events(store) == 5


async def test_same_id_other_content_is_an_error(store):
    event = NewEvent(Noted(1, 1))
    await store.append("idem-3", [event])
    with pytest.raises(IdempotencyConflict):
        await store.append("idem-3", [NewEvent(Noted(1, 99), event_id=event.event_id)])
    with pytest.raises(IdempotencyConflict):
        await store.append("idem-other", [event])
    with pytest.raises(IdempotencyConflict):  # only part of the batch was appended before
        await store.append("idem-3", [event, NewEvent(Noted(1, 2))])
    assert await count_events(store) == 1


class Unregistered(msgspec.Struct):
    x: int


@pytest.mark.parametrize(
    ("stream", "events", "error"),
    [
        ("", [NewEvent(Noted(1, 1))], InvalidStreamId),
        ("x" * 201, [NewEvent(Noted(1, 1))], InvalidStreamId),
        ("note-\n", [NewEvent(Noted(1, 1))], InvalidStreamId),
        ("note-\x00", [NewEvent(Noted(1, 1))], InvalidStreamId),
        ("note-\x85", [NewEvent(Noted(1, 1))], InvalidStreamId),
        ("note-\ud800", [NewEvent(Noted(1, 1))], InvalidStreamId),
        ("note-1", [], InvalidAppend),
        ("note-1", [NewEvent(Unregistered(1))], UnknownEventType),
        ("note-1", [NewEvent(Noted(1, 1, "a" * (1024 * 1024)))], PayloadTooLarge),
        ("note-1", [NewEvent(Noted(1, 1, "nul\x00"))], NotEncodable),
        ("note-1", [NewEvent(Noted(1, 1, "\ud800"))], NotEncodable),
        ("note-1", [NewEvent(Noted(1, 1, "ok")), NewEvent(Noted(1, 2, "\ud800"))], NotEncodable),
        ("note-1", [NewEvent(Noted(1, 1), metadata=Metadata(actor_id="\x00"))], NotEncodable),
    ],
)
async def test_bad_input_is_a_typed_error_before_any_write(store, stream, events, error):
    with pytest.raises(error):
        await store.append(stream, events)
    assert await count_events(store) == 0
    assert await store.stream_version("note-1") == 0


async def test_payload_just_under_the_limit_is_accepted(store):
    text = "a" * (1024 * 1024 - len(b'{"writer":1,"n":1,"text":""}'))
    result = await store.append("note-big", [NewEvent(Noted(1, 1, text))])
    assert result.version == 1


@given(stream=st.text(st.characters(exclude_categories=[]), max_size=220))
async def test_stream_id_validation_property(store, stream):
    valid = 0 < len(stream) <= 200 and not any(
        ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in stream
    ) and not any(0xD800 <= ord(c) <= 0xDFFF for c in stream)
    try:
        result = await store.append(stream, [NewEvent(Noted(1, 1))])
    except InvalidStreamId:
        assert not valid
    except psycopg.DataError:
        pytest.fail(f"database refused {stream!r}: should have been a typed error")
    except UnicodeEncodeError:
        # lone surrogates cannot be sent at all; they must be refused up front too
        pytest.fail(f"{stream!r} crashed the driver")
    else:
        assert valid
        events = await store.read_stream(stream, from_version=result.version)
        assert events[0].stream_id == stream


async def test_failed_transaction_leaves_nothing(store):
    with pytest.raises(RuntimeError):
        async with store.transaction() as conn:
            await store.append("tx-1", [NewEvent(Noted(1, 1))], conn=conn)
            await store.append("tx-2", [NewEvent(Renamed("x"))], conn=conn)
            raise RuntimeError("boom")
    assert await count_events(store) == 0
    assert await store.stream_version("tx-1") == 0
    # and the stream can still start from scratch
    assert (await store.append("tx-1", [NewEvent(Noted(1, 1))], NO_STREAM)).version == 1


async def test_any_version_writers_on_one_stream_all_land(store):
    """More writers than pooled connections, all on one stream: a writer that loses a race
    must not starve (in CI one lost 20 times running when each retry queued for the pool)."""
    writers, each = 16, 15

    async def write(w: int):
        for n in range(each):
            await store.append("hot-1", [NewEvent(Noted(w, n))])

    await asyncio.gather(*(write(w) for w in range(writers)))
    events = await store.read_stream("hot-1")
    assert [e.version for e in events] == list(range(1, writers * each + 1))
    for w in range(writers):
        assert [e.data.n for e in events if e.data.writer == w] == list(range(each))


@pytest.mark.parametrize("size", [1, 3])
async def test_any_version_inside_overlapping_transactions_all_land_in_order(store, size):
    """Transactions that overlap on one stream (as commands auditing to a shared stream do):
    an append that would land on top of a younger transaction's events is refused, the
    writer runs its transaction again, and in the end every batch landed whole, and the log
    hands the stream out in version order."""
    writers = 8
    refused = 0

    async def write(w: int) -> None:
        nonlocal refused
        batch = [NewEvent(Noted(w, n)) for n in range(size)]
        for _ in range(100):
            try:
                async with store.transaction() as conn:
                    await store.append("shared-any", batch, conn=conn)
                    await asyncio.sleep(0.02)  # hold it open so the next ones overlap
                return
            except StreamOrderConflict:
                refused += 1
        raise AssertionError(f"writer {w} never got in")

    await asyncio.gather(*(write(w) for w in range(writers)))
    events = await store.read_stream("shared-any")
    assert [e.version for e in events] == list(range(1, writers * size + 1))
    for w in range(writers):
        mine = [e for e in events if e.data.writer == w]
        assert [e.data.n for e in mine] == list(range(size))
        assert mine[-1].version - mine[0].version == size - 1  # a batch stays contiguous
    in_log = [e.version for e in await store.read_all() if e.stream_id == "shared-any"]
    assert in_log == list(range(1, writers * size + 1))


async def test_append_on_top_of_a_younger_transaction_is_refused(store):
    """T2 takes its transaction id first (an append to another stream); T1, younger, then
    appends S v1 and commits. T2 appending to S would sort before v1 in the log: refused,
    whatever the expected version, and nothing of T2 lands once it rolls back."""
    for name, expected in (("any", ANY), ("exact", 1)):
        stream = f"order-{name}"
        with pytest.raises(StreamOrderConflict) as err:
            async with store.transaction() as older:
                await store.append(f"other-{name}", [NewEvent(Noted(2, 0))], conn=older)
                await store.append(stream, [NewEvent(Noted(1, 1))])  # younger, committed
                await store.append(stream, [NewEvent(Noted(2, 1))], expected, conn=older)
        assert err.value.actual == 1
        assert isinstance(err.value, ConcurrencyError)  # retryable like any lost race
        assert [e.data.writer for e in await store.read_stream(stream)] == [1]
        assert await store.read_stream(f"other-{name}") == []
    # a transaction younger than the head appends as usual
    async with store.transaction() as conn:
        await store.append("order-any", [NewEvent(Noted(3, 1))], 1, conn=conn)
    assert [e.version for e in await store.read_all() if e.stream_id == "order-any"] == [1, 2]


@pytest.mark.parametrize("expected", [NO_STREAM, 1])
async def test_batch_inside_a_transaction_is_all_or_nothing(store, expected):
    """A batch whose later versions a concurrent transaction takes meanwhile goes in not at
    all, with a concurrency error (it used to go in half, and name an idempotency
    conflict for ids nobody had used)."""
    stream = "batch-race"
    if expected == 1:
        await store.append(stream, [NewEvent(Noted(0, 0))], NO_STREAM)
    base = 0 if expected == NO_STREAM else 1
    other = await store.pool.getconn()
    try:
        async with other.transaction():
            # the rival takes the batch's first version (of three) and holds it uncommitted
            await store.append(stream, [NewEvent(Noted(9, 0))], expected, conn=other)
            batch = [NewEvent(Noted(1, n)) for n in range(3)]

            async def mine() -> None:
                async with store.transaction() as conn:
                    await store.append(stream, batch, expected, conn=conn)

            task = asyncio.create_task(mine())
            await _wait_until_blocked(store)
        with pytest.raises(ConcurrencyError) as err:
            await task
        assert not isinstance(err.value, IdempotencyConflict)
        assert err.value.actual == base + 1
    finally:
        await store.pool.putconn(other)
    writers = [e.data.writer for e in await store.read_stream(stream)]
    assert writers == [0] * base + [9]


async def _wait_until_blocked(store) -> None:
    """Until some backend of this database waits on a lock (bounded)."""
    async with store.pool.connection() as conn:
        for _ in range(500):
            cur = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'")
            if (await cur.fetchone())[0]:
                return
            await asyncio.sleep(0.01)
    raise AssertionError("nothing blocked within 5 s")


async def test_inside_a_transaction_reappend_answers_and_conflict_raises(store):
    batch = [NewEvent(Noted(1, 1)), NewEvent(Noted(1, 2))]
    first = await store.append("shared-1", batch, NO_STREAM)
    async with store.transaction() as conn:
        assert await store.append("shared-1", batch, NO_STREAM, conn=conn) == first
        other = await store.append("shared-2", [NewEvent(Noted(2, 1))], NO_STREAM, conn=conn)
    assert other.version == 1
    with pytest.raises(ConcurrencyError) as err:
        async with store.transaction() as conn:
            await store.append("shared-1", [NewEvent(Noted(1, 3))], 1, conn=conn)
    assert err.value.actual == 2
    with pytest.raises(IdempotencyConflict):  # half new, half a re-append: all rolled back
        async with store.transaction() as conn:
            await store.append("shared-1", [batch[0], NewEvent(Noted(1, 9))], ANY, conn=conn)
    with pytest.raises(ConcurrencyError):  # expected ahead of the stream
        async with store.transaction() as conn:
            await store.append("shared-1", [NewEvent(Noted(1, 4))], 7, conn=conn)
    assert [e.data.n for e in await store.read_stream("shared-1")] == [1, 2]
    assert await count_events(store) == 3
