"""Backup and restore (issue 12, item 5): backup -> restore into an empty database ->
rebuild -> every read model answers as before, and a reader resumed with a position taken
before the backup gets exactly the events it had not seen, in order, after the epoch step."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest

from chatalot.backup import MAGIC, BackupError, backup, dependency_order, read_header, restore
from chatalot.db import (
    drop_database,
    embedded_postgres,
    ensure_database,
    make_pool,
    with_database,
)
from event_store import START, EventRegistry, EventStore, NewEvent
from tests.accounts.conftest import FrozenClock, make_settings, running_app


class Counted(msgspec.Struct, frozen=True):
    n: int


@pytest.fixture
def empty_url(pg_admin_url: str) -> Iterator[str]:
    """A database with nothing in it, to restore into."""
    url = with_database(pg_admin_url, f"chatalot_restore_{uuid.uuid4().hex[:10]}")
    ensure_database(url)
    yield url
    with contextlib.suppress(Exception):
        drop_database(url)


@contextlib.asynccontextmanager
async def opened(url: str) -> Any:
    pool = make_pool(url, min_size=1, max_size=4)
    await pool.open(wait=True)
    store = EventStore(pool, EventRegistry([Counted]))
    await store.start()
    try:
        yield store
    finally:
        await store.close()
        await pool.close()


async def append(store: EventStore, numbers: range) -> None:
    for n in numbers:
        await store.append(f"counter-{n % 3}", [NewEvent(Counted(n))])


async def read_everything(store: EventStore, after: Any = START) -> list[Any]:
    found: list[Any] = []
    while batch := await store.read_all(after, limit=7):
        found.extend(batch)
        after = batch[-1].position
    return found


async def test_a_reader_resumed_with_a_pre_backup_position_gets_exactly_what_it_missed(
        database_url: str, empty_url: str, tmp_path: Path) -> None:
    async with opened(database_url) as store:
        await append(store, range(10))
        seen = (await store.read_all(START, limit=4))
        resume_at = seen[-1].position
        await append(store, range(10, 15))  # appended after the reader stopped
        before = await read_everything(store)
        old_epoch = store.epoch
    file = tmp_path / "log.chatalot.gz"
    await asyncio.to_thread(backup, database_url, file, on_start=lambda total: None)
    await restore(empty_url, file, on_start=lambda total: None)
    async with opened(empty_url) as store:
        assert store.epoch > old_epoch  # the epoch step
        await append(store, range(15, 18))  # appended after the restore
        after = await read_everything(store)
        resumed = await read_everything(store, resume_at)
    # the restored rows keep their positions; new ones sort after all of them
    assert [(e.position, e.event_id) for e in after[:15]] == [
        (e.position, e.event_id) for e in before]
    assert all(e.position.epoch > old_epoch for e in after[15:])
    assert [e.data.n for e in resumed] == [e.data.n for e in before[4:]] + [15, 16, 17]
    assert [e.version for e in after if e.stream_id == "counter-0"] == list(range(1, 7))


def view_contents(url: str) -> dict[str, list[str]]:
    """Every read model, as sorted rows (what queries can see)."""
    with psycopg.connect(url) as conn:
        views = [v for (v,) in conn.execute(
            "SELECT table_name FROM information_schema.views"
            " WHERE table_schema = 'read_models' ORDER BY 1").fetchall()]
        return {v: sorted(repr(row) for row in conn.execute(
            f'SELECT * FROM read_models."{v}"').fetchall()) for v in views}


async def caught_up(url: str, head: str) -> None:
    """Until every projector's active build has applied the log up to `head`."""
    epoch, xid, seq = (int(part) for part in head.split("."))
    for _ in range(500):
        with psycopg.connect(url) as conn:
            behind = conn.execute(
                "SELECT count(*) FROM projection_versions v JOIN projection_builds b"
                " ON b.build = v.active_build"
                " WHERE (b.epoch, b.transaction_id, b.sequence) < (%s, %s, %s)",
                (epoch, xid, seq)).fetchone()
        if behind == (0,):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the projectors did not reach the head within 10 s")


async def rebuilt(url: str, expected: dict[str, list[str]]) -> dict[str, list[str]]:
    """The read models once they answer as expected (the projectors rebuild them from the
    restored log after start-up), or as they are after 15 s."""
    for _ in range(300):
        found = await asyncio.to_thread(view_contents, url)
        if found == expected:
            break
        await asyncio.sleep(0.05)
    return found


async def test_backup_restore_rebuild_answers_as_before(
        database_url: str, empty_url: str, tmp_path: Path) -> None:
    settings, clock = make_settings(tmp_path), FrozenClock()
    async with running_app(settings, database_url, clock) as api:
        owner = await api.register()
        bob = await api.register()
        await api.relogin(bob)
        r = await api.client.patch("/api/account/profile", headers=bob.auth,
                                   json={"display_name": "Bob B", "bio": "restored"})
        assert r.status_code == 200, r.text
        r = await api.client.post("/api/users/blocks", headers=owner.auth,
                                  json={"user_id": bob.id})
        head = await api.head()
        me = {}
        for user in (owner, bob):
            r = await api.client.get("/api/account/me", headers={
                **user.auth, "Chatalot-Min-Position": head})
            assert r.status_code == 200, r.text
            me[user.id] = r.json()
        await caught_up(database_url, head)
        before = view_contents(database_url)
    file = tmp_path / "chatalot.backup.gz"
    header = await asyncio.to_thread(backup, database_url, file, on_start=lambda total: None)
    assert {t["name"] for t in header["tables"]} >= {
        "events", "event_store_meta", "account_users", "account_sessions", "channel_members"}
    assert not any(t["name"].startswith("projection_") for t in header["tables"])
    with gzip.open(file, "rb") as raw:
        assert raw.readline() == MAGIC  # compressed, and ours

    await restore(empty_url, file, on_start=lambda total: None)
    async with running_app(settings, empty_url, clock) as api:
        for user in (owner, bob):  # the same tokens still work: sessions were restored
            r = await api.client.get("/api/account/me", headers={
                **user.auth, "Chatalot-Min-Position": head})
            assert r.status_code == 200, r.text
            assert r.json() == me[user.id]
        assert await rebuilt(empty_url, before) == before


async def test_restore_refuses_a_database_that_is_not_empty(
        database_url: str, tmp_path: Path) -> None:
    file = tmp_path / "b.gz"
    await asyncio.to_thread(backup, database_url, file, on_start=lambda total: None)
    with pytest.raises(BackupError, match="empty database"):
        await restore(database_url, file, on_start=lambda total: None)


async def test_a_truncated_or_foreign_file_is_refused(
        database_url: str, empty_url: str, tmp_path: Path) -> None:
    file = tmp_path / "b.gz"
    async with opened(database_url) as store:
        await append(store, range(50))
    await asyncio.to_thread(backup, database_url, file, on_start=lambda total: None)
    data = gzip.decompress(file.read_bytes())
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(data[: len(data) - 300]))
    with pytest.raises(BackupError, match="truncated|damaged"):
        await restore(empty_url, cut, on_start=lambda total: None)
    with psycopg.connect(empty_url) as conn:  # nothing of it committed
        assert conn.execute("SELECT to_regclass('events') IS NULL OR"
                            " NOT EXISTS (SELECT 1 FROM events)").fetchone() == (True,)
    other = tmp_path / "other.gz"
    other.write_bytes(gzip.compress(b"hello\n"))
    with pytest.raises(BackupError, match="not a Chatalot backup"):
        read_header(other)


def test_tables_come_after_those_they_reference() -> None:
    order = dependency_order(["c", "b", "a", "d"], [("c", "b"), ("b", "a"), ("d", "d")])
    assert order.index("a") < order.index("b") < order.index("c")
    assert set(order) == {"a", "b", "c", "d"}


def chatalot(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "CHATALOT_LOG_FORMAT": "json"}
    return subprocess.run([sys.executable, "-m", "chatalot.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


async def test_the_commands_back_up_and_restore_with_progress(
        database_url: str, empty_url: str, tmp_path: Path) -> None:
    async with opened(database_url) as store:
        await append(store, range(30))
    file = tmp_path / "cli.backup.gz"
    done = await asyncio.to_thread(chatalot, "backup", str(file), database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert "backed up" in done.stderr and "rows" in done.stderr
    done = await asyncio.to_thread(chatalot, "restore", str(file), database_url=empty_url)
    assert done.returncode == 0, done.stderr
    assert "restored" in done.stderr and "epoch 1 -> 2" in done.stderr
    again = await asyncio.to_thread(chatalot, "restore", str(file), database_url=empty_url)
    assert again.returncode == 1
    assert "empty database" in again.stderr and "Traceback" not in again.stderr
    async with opened(empty_url) as store:
        assert [e.data.n for e in await read_everything(store)] == list(range(30))


async def test_a_restore_into_another_cluster_keeps_old_and_new_events_in_order(
        database_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Another cluster's transaction ids restart lower than the restored rows': without the
    epoch step the restored rows would sit above its read horizon (unreadable) and new
    events would sort before them."""
    # like tests/conftest.py: straight under /tmp (pytest's own directories are 0700, and
    # pgserver may run postgres as an unprivileged user)
    with tempfile.TemporaryDirectory(prefix="chatalot-test-pg2-") as home:
        os.chmod(home, 0o755)
        with embedded_postgres(Path(home)) as admin_url:
            url = with_database(admin_url, "restored")
            ensure_database(url)
            with psycopg.connect(url, autocommit=True) as conn:
                fresh = conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
            assert fresh is not None
            with psycopg.connect(database_url, autocommit=True) as conn:
                while True:  # the source's ids well above the fresh cluster's
                    row = conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
                    if row is not None and row[0] > fresh[0] + 200:
                        break
            async with opened(database_url) as store:
                await append(store, range(6))
                resume_at = (await store.read_all(START, limit=2))[-1].position
            file = tmp_path_factory.mktemp("backup") / "b.gz"
            await asyncio.to_thread(backup, database_url, file, on_start=lambda total: None)
            await restore(url, file, on_start=lambda total: None)
            async with opened(url) as store:
                await append(store, range(6, 9))
                everything = await read_everything(store)
                resumed = await read_everything(store, resume_at)
    assert [e.data.n for e in everything] == list(range(9))
    assert [e.data.n for e in resumed] == list(range(2, 9))
