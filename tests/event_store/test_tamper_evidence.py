"""Tamper evidence (issue 11 item 6): a row edited by hand in SQL breaks its stream's chain
(data, type, order, a deleted row, an inserted row); what a chain cannot show, a sealed
checkpoint does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from event_store import ConcurrencyError, EventStore, Metadata, NewEvent, StreamOrderConflict
from event_store.integrity import verify, write_checkpoint
from tests.event_store.conftest import Noted, use_chain

_KEY = Ed25519PrivateKey.generate()


def seal(payload: bytes) -> bytes:
    return _KEY.sign(payload)


def check_seal(payload: bytes, signature: bytes) -> bool:
    try:
        _KEY.public_key().verify(signature, payload)
    except Exception:
        return False
    return True


async def history(store: EventStore) -> None:
    """Three streams: autocommit single appends, a batch, appends inside a transaction, and
    a redaction."""
    for n in range(1, 5):
        await store.append("alpha", [NewEvent(Noted(1, n, f"a{n}"))])
    await store.append("beta", [NewEvent(Noted(2, n, f"b{n}")) for n in range(1, 6)])
    async with store.transaction() as conn:
        await store.append("gamma", [NewEvent(Noted(3, 1))], conn=conn)
        await store.append("gamma", [NewEvent(Noted(3, n)) for n in (2, 3)], conn=conn)
    (first,) = await store.read_stream("alpha", limit=1)
    await store.redact(first.event_id, Noted(1, 1, ""), reason="test")


@pytest.fixture
async def tamper(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A superuser's connection with the immutability triggers off, as an intruder has."""
    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    await conn.execute("SET session_replication_role = replica")
    yield conn
    await conn.close()


async def check(store: EventStore) -> Any:
    async with store.pool.connection() as conn:
        return await verify(conn, check_seal)


async def test_an_untouched_log_verifies(store: EventStore) -> None:
    await history(store)
    async with store.pool.connection() as conn:
        assert await write_checkpoint(conn, store.epoch, seal) is not None
        assert await write_checkpoint(conn, store.epoch, seal) is None  # nothing new
    await store.append("alpha", [NewEvent(Noted(1, 5))])
    report = await check(store)
    assert report.ok, report
    assert report.events == 4 + 5 + 3 + 1 + 1  # with the redaction's record
    assert (report.checkpoints, report.sealed_events, report.unsealed_events) == (1, 13, 1)


@pytest.mark.parametrize("native", [True, False], ids=["native", "sql"])
async def test_writers_racing_on_one_stream_keep_its_chain(store: EventStore,
                                                          native: bool) -> None:
    use_chain(store, native)  # the batches below, racing, both ways
    async def writer(w: int) -> None:
        for n in range(6):
            if n % 2:
                await store.append("hot", [NewEvent(Noted(w, n)), NewEvent(Noted(w, -n))])
            else:
                for _ in range(50):  # what run_command does: the transaction again
                    try:
                        async with store.transaction() as conn:
                            await store.append("hot", [NewEvent(Noted(w, n))], conn=conn)
                        break
                    except (StreamOrderConflict, ConcurrencyError):
                        await asyncio.sleep(0.001)

    await asyncio.gather(*(writer(w) for w in range(6)))
    report = await check(store)
    assert report.ok and report.events == 6 * 9


@pytest.mark.parametrize("native", [True, False], ids=["native", "sql"])
async def test_a_batch_is_linked_as_event_link_links_each_event(
        store: EventStore, native: bool) -> None:
    """A batch's links come from event_batch_hashes (migration 0044, where installed), or
    from one event_links call (0043), or for a small batch from the statement itself: they
    must be the links event_link gives each row in turn, in every append mode and after a
    head."""
    use_chain(store, native)
    meta = Metadata(actor_id="a\n\"b\"", command="x")
    await store.append("delta", [NewEvent(Noted(4, n, "é\u2028")) for n in (1, 2, 3)], 0)
    await store.append("delta", [NewEvent(Noted(4, n), metadata=meta) for n in (4, 5)], 3)
    await store.append("delta", [NewEvent(Noted(4, n)) for n in (6, 7)])
    async with store.transaction() as conn:
        await store.append("delta", [NewEvent(Noted(4, n)) for n in (8, 9)], conn=conn)
        await store.append("delta", [NewEvent(Noted(4, n)) for n in (10, 11)], 9, conn=conn)
        # the largest batch chained in the statement (sql.UNROLLED), and the next size
        await store.append("delta", [NewEvent(Noted(4, n)) for n in range(12, 16)], 11,
                           conn=conn)
    await store.append("delta", [NewEvent(Noted(4, n)) for n in range(16, 21)])
    await store.append("delta", [NewEvent(Noted(4, n)) for n in range(21, 25)], 20)
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT e.version, e.data_hash = event_data_hash(e.data),"
            "       e.hash = event_link(lag(e.hash) OVER w, e.event_id, e.stream_id, e.version,"
            "                           e.type, e.metadata, e.recorded_at, e.data_hash)"
            "  FROM events e WHERE e.stream_id = 'delta' WINDOW w AS (ORDER BY e.version)"
            " ORDER BY e.version")
        assert await cur.fetchall() == [(v, True, True) for v in range(1, 25)]
        cur = await conn.execute(
            "SELECT event_chain(NULL, '{}'), event_chain('\\x00', ARRAY['\\x01'::bytea, '\\x02'])"
            " = ARRAY[sha256('\\x0001'), sha256(sha256('\\x0001') || '\\x02'::bytea)]")
        assert await cur.fetchone() == ([], True)
        cur = await conn.execute(  # the same links end to end, from no link too
            "SELECT event_links(NULL, '{}'), event_links(NULL, NULL),"
            "       event_links('\\x00', ARRAY['\\x01'::bytea, '\\x02'])"
            "       = (SELECT string_agg(l, '' ORDER BY i) FROM unnest(event_chain('\\x00',"
            "          ARRAY['\\x01'::bytea, '\\x02'])) WITH ORDINALITY AS u(l, i)),"
            "       event_links(NULL, ARRAY['\\x01'::bytea]) = sha256('\\x01')")
        assert await cur.fetchone() == (b"", b"", True, True)


@pytest.mark.parametrize(("edit", "stream", "version", "problem"), [
    ("UPDATE events SET data = '{\"writer\": 2, \"n\": 3, \"text\": \"forged\"}'"
     " WHERE stream_id = 'beta' AND version = 3", "beta", 3, "data"),
    ("UPDATE events SET type = 'Renamed' WHERE stream_id = 'gamma' AND version = 2",
     "gamma", 2, "link"),
    ("UPDATE events SET metadata = '{\"actor_id\": \"x\"}'"
     " WHERE stream_id = 'alpha' AND version = 4", "alpha", 4, "link"),
    # order: two events swap places in their stream
    ("UPDATE events SET version = -version WHERE stream_id = 'beta' AND version IN (2, 3);"
     "UPDATE events SET version = 5 + version WHERE stream_id = 'beta' AND version < 0",
     "beta", 2, "link"),
    ("DELETE FROM events WHERE stream_id = 'alpha' AND version = 2", "alpha", 3, "version"),
    ("INSERT INTO events (epoch, stream_id, version, event_id, type, data, data_hash, hash)"
     " SELECT 1, 'gamma', 4, gen_random_uuid(), 'Noted', '{\"writer\": 9, \"n\": 9}',"
     " event_data_hash('{\"writer\": 9, \"n\": 9}'), sha256('x')", "gamma", 4, "link"),
    # content put back in a redacted event, marked as not redacted
    ("UPDATE events SET redacted = false WHERE stream_id = 'alpha' AND version = 1",
     "alpha", 1, "data"),
    # a row marked redacted that no redaction record accounts for
    ("UPDATE events SET redacted = true, data = '{\"writer\": 2, \"n\": 1, \"text\": \"\"}'"
     " WHERE stream_id = 'beta' AND version = 1", "beta", 1, "redaction"),
])
async def test_a_row_edited_by_hand_breaks_its_stream_there(
        store: EventStore, tamper: psycopg.AsyncConnection[Any], edit: str, stream: str,
        version: int, problem: str) -> None:
    await history(store)
    await tamper.execute(edit)
    report = await check(store)
    assert not report.ok
    assert [(b.stream_id, b.version, b.problem) for b in report.streams_broken] == [
        (stream, version, problem)]


async def test_the_first_broken_link_is_found_across_pages(
        store: EventStore, tamper: psycopg.AsyncConnection[Any]) -> None:
    await store.append("long", [NewEvent(Noted(1, n)) for n in range(1, 41)])
    await tamper.execute("UPDATE events SET type = 'Renamed'"
                         " WHERE stream_id = 'long' AND version IN (21, 30)")
    async with store.pool.connection() as conn:
        from event_store.integrity import verify_chains

        for page in (7, 20, 21, 100):  # the break on a page's first or last row, or inside
            report = await verify_chains(conn, page=page)
            assert report.events == 40
            assert [(b.version, b.problem) for b in report.streams_broken] == [(21, "link")]


async def test_a_cut_tail_or_a_forged_chain_is_caught_by_the_checkpoint(
        store: EventStore, tamper: psycopg.AsyncConnection[Any]) -> None:
    await history(store)
    async with store.pool.connection() as conn:
        await write_checkpoint(conn, store.epoch, seal)
    # The tail of a stream cut off: every remaining link still holds.
    await tamper.execute("DELETE FROM events WHERE stream_id = 'beta' AND version = 5")
    report = await check(store)
    assert report.streams_broken == []
    assert report.checkpoint_problem == "checkpoint 1: 12 events where 13 were sealed"


async def test_a_rewritten_history_with_its_checkpoint_recomputed_fails_the_seal(
        store: EventStore, tamper: psycopg.AsyncConnection[Any]) -> None:
    await history(store)
    async with store.pool.connection() as conn:
        await write_checkpoint(conn, store.epoch, seal)
    # Someone who knows the formulas rewrites an event, its stream's links after it, and the
    # checkpoint's combined hash; only the key outside the database is out of reach.
    await tamper.execute("""
        UPDATE events SET data = '{"writer": 2, "n": 5, "text": "forged"}',
                          data_hash = event_data_hash('{"writer": 2, "n": 5, "text": "forged"}')
         WHERE stream_id = 'beta' AND version = 5;
        UPDATE events e SET hash = event_link(p.hash, e.event_id, e.stream_id, e.version,
                                              e.type, e.metadata, e.recorded_at, e.data_hash)
          FROM events p WHERE p.stream_id = 'beta' AND p.version = 4
           AND e.stream_id = 'beta' AND e.version = 5;
        UPDATE event_checkpoints SET combined = (
            SELECT sha256(string_agg(hash, ''::bytea
                          ORDER BY epoch, transaction_id, position)) FROM events);
    """)
    async with store.pool.connection() as conn:
        assert (await verify(conn)).ok  # without the key the forgery holds
    report = await check(store)
    assert report.streams_broken == []
    assert report.checkpoint_problem == "checkpoint 1: the seal does not verify"


async def test_checkpoints_are_immutable(store: EventStore) -> None:
    await history(store)
    async with store.pool.connection() as conn:
        await write_checkpoint(conn, store.epoch, seal)
        for statement in ("UPDATE event_checkpoints SET events = 1",
                          "DELETE FROM event_checkpoints"):
            with pytest.raises(psycopg.Error) as err:
                await conn.execute(statement)
            assert err.value.sqlstate == "ES423"


async def test_checkpoints_never_seal_what_an_open_transaction_may_still_add(
        store: EventStore) -> None:
    await store.append("before", [NewEvent(Noted(1, 1))])
    async with store.pool.connection() as holder, holder.transaction():
        await store.append("held", [NewEvent(Noted(2, 1))], conn=holder)
        await store.append("after", [NewEvent(Noted(3, 1))])  # commits while held
        async with store.pool.connection() as conn:
            point = await write_checkpoint(conn, store.epoch, seal)
        assert point is not None and point.total == 1
    async with store.pool.connection() as conn:
        point = await write_checkpoint(conn, store.epoch, seal)
    assert point is not None and (point.seq, point.events, point.total) == (2, 2, 3)
    assert (await check(store)).ok
