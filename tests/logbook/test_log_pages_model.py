"""Raw log pages against a model: random logs (recorded_at out of commit order included),
random filters, every page of every paging compared with the plain filter in Python. The
page statements take indexes by category, type and time (migration 0026); whatever plan
a statement gets, its answer must be the plain filter's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatalot.logbook import log_queries
from chatalot.logbook.log_queries import EventFilter
from event_store import EventStore, NewEvent, Position
from tests.event_store.conftest import Noted, Renamed, registry, store  # noqa: F401

_BASE = datetime(2026, 1, 1, tzinfo=UTC)
_STREAMS = ("user-a", "user-b", "user", "userx-a", "channel-a", "channel-b-c", "a-user-b")

appends = st.lists(st.tuples(st.sampled_from(_STREAMS), st.lists(st.booleans(), min_size=1,
                                                                   max_size=4)),
                   min_size=1, max_size=12)
# seconds after _BASE for each event, in commit order: mostly growing, sometimes not
offsets = st.lists(st.integers(0, 40), min_size=60, max_size=60)
filters = st.fixed_dictionaries({
    "stream": st.none() | st.sampled_from(_STREAMS),
    "category": st.none() | st.sampled_from(["user", "channel", "userx", "channel-b", "a"]),
    "types": st.sampled_from([(), ("Noted",), ("Renamed",), ("Noted", "Renamed"),
                              ("Renamed", "Nothing")]),
    "since": st.none() | st.integers(0, 40),
    "until": st.none() | st.integers(0, 40),
    "newest_first": st.booleans(),
})


def _matches(row: dict[str, Any], f: EventFilter) -> bool:
    if f.stream is not None and row["stream_id"] != f.stream:
        return False
    if f.category is not None and not row["stream_id"].startswith(f.category + "-"):
        return False
    if f.types and row["type"] not in f.types:
        return False
    if f.since is not None and row["recorded_at"] < f.since:
        return False
    return f.until is None or row["recorded_at"] < f.until + timedelta(milliseconds=1)


async def _log(pool: Any, store: EventStore,  # noqa: F811
               batches: list[tuple[str, list[bool]]],
               seconds: list[int]) -> list[dict[str, Any]]:
    """A fresh log of these appends, recorded_at rewritten (triggers off) in commit order."""
    async with pool.connection() as conn:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("DELETE FROM events")
    for stream, kinds in batches:
        await store.append(stream, [NewEvent(
            Noted(writer=0, n=i) if noted else Renamed(name=str(i)))
            for i, noted in enumerate(kinds)])
    async with pool.connection() as conn:
        await conn.execute("SET session_replication_role = replica")
        rows = await (await conn.execute(
            "SELECT epoch, transaction_id, position FROM events"
            " ORDER BY epoch, transaction_id, position")).fetchall()
        for (e, t, p), s in zip(rows, seconds, strict=False):
            await conn.execute(
                "UPDATE events SET recorded_at = %s WHERE (epoch, transaction_id, position)"
                " = (%s, %s, %s)", (_BASE + timedelta(seconds=s), e, t, p))
        await conn.execute("ANALYZE events")
    return await log_queries.page_rows(pool, store, EventFilter(), 10_000)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=appends, seconds=offsets, wanted=filters, size=st.integers(1, 7),
       small=st.sampled_from([0, 3, 20_000]))
async def test_pages_are_the_plain_filter(pool: Any, store: EventStore,  # noqa: F811
                                          batches: list[tuple[str, list[bool]]],
                                          seconds: list[int], wanted: dict[str, Any],
                                          size: int, small: int,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # windows read by time (small ones) and by walking commit order (the rest), both ways
    monkeypatch.setattr(log_queries, "SMALL_WINDOW", small)
    everything = await _log(pool, store, batches, seconds)
    f = EventFilter(
        stream=wanted["stream"], category=wanted["category"], types=wanted["types"],
        since=None if wanted["since"] is None else _BASE + timedelta(seconds=wanted["since"]),
        until=None if wanted["until"] is None else _BASE + timedelta(seconds=wanted["until"]),
        newest_first=wanted["newest_first"])
    expected = [r["event_id"] for r in everything if _matches(r, f)]
    if f.newest_first:
        expected.reverse()
    got: list[uuid.UUID] = []
    cursor = None
    while True:
        page = await log_queries.events_page(pool, store, f, cursor, size)
        got += [item.event_id for item in page.items]
        assert len(page.items) <= size
        cursor = page.next_cursor
        if cursor is None:
            break
        assert Position.parse(cursor)
    assert got == expected
    assert await log_queries.count(pool, store, f) == len(expected)
