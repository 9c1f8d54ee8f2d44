"""Immutability, redaction, type registry and upcasting, epochs, migrations."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import msgspec
import psycopg
import pytest

from chatalot.db import MIGRATIONS_DIR, drop_database, ensure_database, with_database
from event_store import (
    EventNotFound,
    EventRedacted,
    EventRegistry,
    EventStore,
    InvalidAppend,
    Metadata,
    MigrationError,
    NewEvent,
    UnknownEventType,
)
from event_store.migrations import migrate
from tests.event_store.conftest import Noted, Renamed


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE events SET stream_id = 'x'",
        "UPDATE events SET data = '{}'",
        "DELETE FROM events",
        "TRUNCATE events",
    ],
)
async def test_events_are_immutable(store, sql):
    await store.append("imm-1", [NewEvent(Noted(1, 1))])
    async with store.pool.connection() as conn:
        with pytest.raises(psycopg.Error) as err:
            await conn.execute(sql)
        assert err.value.sqlstate == "ES423"
    assert len(await store.read_all()) == 1


async def test_redaction_replaces_content_and_records_why(store):
    kept = await store.append("msg-1", [NewEvent(Noted(1, 1, "secret words"))])
    (original,) = await store.read_stream("msg-1")
    admin = Metadata(actor_id="admin-1", ip="10.0.0.1", command="PurgeMessage")
    result = await store.redact(
        original.event_id, Noted(1, 1, ""), reason="abuse report 7", metadata=admin
    )
    (redacted,) = await store.read_stream("msg-1")
    assert redacted.data == Noted(1, 1, "")
    assert redacted.redacted
    assert (redacted.position, redacted.event_id, redacted.type, redacted.metadata) == (
        original.position, original.event_id, original.type, original.metadata,
    )
    assert redacted.position == kept.position
    log = await store.read_all()
    assert [e.type for e in log] == ["Noted", "EventRedacted"]
    record = log[-1]
    assert record.data == EventRedacted(original.event_id, "msg-1", "Noted", "abuse report 7")
    assert record.metadata == admin
    assert record.position == result.position
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM events WHERE data::text LIKE '%secret%'")
        assert (await cur.fetchone())[0] == 0


async def test_redaction_refuses_wrong_type_and_unknown_event(store):
    await store.append("msg-2", [NewEvent(Noted(1, 1, "x"))])
    (event,) = await store.read_stream("msg-2")
    with pytest.raises(InvalidAppend):
        await store.redact(event.event_id, Renamed(""), reason="r")
    with pytest.raises(EventNotFound):
        await store.redact(uuid.uuid4(), Noted(0, 0), reason="r")
    assert not (await store.read_stream("msg-2"))[0].redacted
    assert len(await store.read_all()) == 1


class NotedV1(msgspec.Struct):
    writer: int
    count: int  # renamed to `n` in version 2


async def test_unknown_types_and_upcasting(pool):
    old = EventRegistry()
    old.register(NotedV1, name="Noted", version=1)
    old_store = EventStore(pool, old)
    await old_store.start()
    await old_store.append("up-1", [NewEvent(NotedV1(1, 41))])

    new = EventRegistry()
    new.register(Noted, version=2)
    new_store = EventStore(pool, new)
    await new_store.start()
    with pytest.raises(UnknownEventType):  # no upcaster yet: explicit, not a silent drop
        await new_store.read_all()

    @new.upcaster("Noted", from_version=1)
    def rename_count(payload):
        payload["n"] = payload.pop("count")
        return payload

    (event,) = await new_store.read_all()
    assert event.data == Noted(1, 41)

    await new_store.append("up-2", [NewEvent(Noted(1, 1))])
    with pytest.raises(UnknownEventType):  # v2 rows are newer than the old code knows
        await old_store.read_stream("up-2")
    with pytest.raises(UnknownEventType):
        await EventStore(pool, EventRegistry()).read_all()
    with pytest.raises(UnknownEventType):
        await new_store.read_all(types=["NoSuchType"])


async def test_restore_into_another_cluster_starts_a_new_epoch(store, pool, registry):
    before = await store.append("ep-1", [NewEvent(Noted(1, 1))])
    async with pool.connection() as conn:
        # what a logical restore into a fresh cluster looks like from the inside
        await conn.execute("UPDATE event_store_meta SET system_identifier = 'other-cluster'")
    restored = EventStore(pool, registry)
    await restored.start()
    assert restored.epoch == store.epoch + 1
    after = await restored.append("ep-1", [NewEvent(Noted(1, 2))])
    assert after.position > before.position
    assert after.position.epoch == before.position.epoch + 1
    events = await restored.read_all(before.position)
    assert [e.data.n for e in events] == [2]
    again = EventStore(pool, registry)
    await again.start()
    assert again.epoch == restored.epoch  # same cluster: no further increment


async def test_migrations_apply_once_under_concurrency(pg_admin_url, tmp_path: Path):
    url = with_database(pg_admin_url, f"chatalot_mig_{uuid.uuid4().hex[:10]}")
    ensure_database(url)
    try:
        results = await asyncio.gather(*(migrate(url, MIGRATIONS_DIR) for _ in range(4)))
        applied = [name for names in results for name in names]
        assert sorted(applied) == sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
        assert await migrate(url, MIGRATIONS_DIR) == []

        edited = tmp_path / "migrations"
        edited.mkdir()
        for path in MIGRATIONS_DIR.glob("*.sql"):
            (edited / path.name).write_text(path.read_text() + "\n-- edited\n")
        with pytest.raises(MigrationError, match="was edited after it was applied"):
            await migrate(url, edited)

        broken = tmp_path / "broken"
        broken.mkdir()
        for path in MIGRATIONS_DIR.glob("*.sql"):
            (broken / path.name).write_text(path.read_text())
        (broken / "9999_broken.sql").write_text("CREATE TABLE ok_then (x int); SELECT nonsense;")
        with pytest.raises(MigrationError, match="9999_broken.sql failed"):
            await migrate(url, broken)
        async with await psycopg.AsyncConnection.connect(url) as conn:
            cur = await conn.execute("SELECT to_regclass('ok_then')")
            assert (await cur.fetchone())[0] is None  # the failed file left nothing
    finally:
        drop_database(url)
