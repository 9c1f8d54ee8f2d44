"""What happens around failures: a crash between an account's deletion and its redactions,
a pool with no free connection, and writers that must never lock whole tables."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from psycopg import sql
from psycopg_pool import PoolTimeout

from chatalot.accounts.commands import deletion
from chatalot.domain.accounts.events import UserBlocked
from event_store import NewEvent
from tests.accounts.conftest import (
    PASSWORD,
    FrozenClock,
    key_fields,
    make_settings,
    running_app,
)


class Crash(Exception):
    """The process dying right after the deletion committed."""


async def test_a_crash_between_deletion_and_redaction_is_finished_at_the_next_start(
        tmp_path: Path, fast_database_url: str, clock: FrozenClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    async with running_app(settings, fast_database_url, clock) as api:
        await api.register("owner")
        alice = await api.register("alice", email="alice@example.org",
                                   display_name="Alice Liddell")
        r = await api.client.patch("/api/account/profile", headers=alice.auth,
                                   json={"bio": "I live at 1 Rabbit Hole"})
        assert r.status_code == 200, r.text
        assert (await api.login(alice, password="wrong password!")).status_code == 401

        async def crash(*_: Any, **__: Any) -> int:
            raise Crash

        # the deletion's transaction commits; the process dies before any redaction
        monkeypatch.setattr(deletion, "redact_deleted", crash)
        r = await api.client.request("DELETE", "/api/account/delete", headers=alice.auth,
                                     json={"password": PASSWORD})
        assert r.status_code == 500, r.text
        monkeypatch.undo()
        assert await api.db.fetch("SELECT status, redaction_pending FROM account_users"
                                  " WHERE username_key IS NULL") == [("deleted", True)]
        everything = " ".join(row[0] for row in await api.db.fetch(
            "SELECT data::text FROM events"))
        assert "Rabbit Hole" in everything and "alice@example.org" in everything

    async with running_app(settings, fast_database_url, clock) as api:  # the restart
        assert await api.db.fetch("SELECT redaction_pending FROM account_users"
                                  " WHERE status = 'deleted'") == [(False,)]
        everything = " ".join(row[0] for row in await api.db.fetch(
            "SELECT data::text FROM events"))
        for personal in ("Rabbit Hole", "alice@example.org", "Alice Liddell"):
            assert personal not in everything
        redactions = await api.db.fetch(
            "SELECT data->>'reason', metadata->>'command' FROM events"
            " WHERE type = 'EventRedacted'")
        # UserRegistered, ProfileUpdated, the failed login's LoginFailed: once each
        assert redactions == [("account deleted", "finish_redaction")] * 3
        events = await api.events(f"user-{alice.id}")
        assert events[0].redacted and events[0].data.username.startswith("deleted-")

    async with running_app(settings, fast_database_url, clock) as api:  # nothing left to do
        [(count,)] = await api.db.fetch(
            "SELECT count(*) FROM events WHERE type = 'EventRedacted'")
        assert count == 3


async def test_a_pool_with_no_free_connection_answers_503_within_the_wait(
        tmp_path: Path, fast_database_url: str, clock: FrozenClock) -> None:
    """Not an outage: the database is up but every pooled connection is busy. A request
    waits `database_wait_ms` for one, then gets 503 with Retry-After (never a 500, never
    an endless wait), and is served once connections are free again."""
    limits = msgspec.structs.replace(make_settings(tmp_path).limits, database_wait_ms=300)
    async with running_app(make_settings(tmp_path, limits=limits), fast_database_url,
                           clock) as api:
        alice = await api.register("alice")  # the owner: she may read the projections
        # Projectors at rest first: a batch in flight could hand its connection to the
        # request while everything else is held. Until then a request may itself wait past
        # this test's short 300 ms for a connection the pool is still opening (a 503 once
        # in a full CI run, with the machine busy): that is not rest yet either.
        for _ in range(200):
            r = await api.client.get("/api/admin/projections", headers=alice.auth)
            if r.status_code == 503:
                await asyncio.sleep(0.05)
                continue
            assert r.status_code == 200, r.text
            if all(p["state"] == "live" and p["lag_events"] == 0 for p in r.json()):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"the projectors did not catch up: {r.json()}")
        pool = api.client.app.state.services.pool
        held: list[Any] = []

        async def take_every_connection() -> None:
            while True:
                try:
                    held.append(await pool.getconn(timeout=0.2))
                except PoolTimeout:
                    return

        async def give_them_back() -> None:
            for conn in held:
                await pool.putconn(conn)

        api.client.blocking_portal.call(take_every_connection)
        try:
            # held until getconn timed out: every connection is now taken (the ones not
            # in `held` belong to the projectors, which hold theirs for a batch at most)
            assert held
            started = time.monotonic()
            read = await api.client.get("/api/account/sessions", headers=alice.auth)
            waited = time.monotonic() - started
            command = await api.client.patch("/api/account/profile", headers=alice.auth,
                                             json={"bio": "busy"})
        finally:
            api.client.blocking_portal.call(give_them_back)
        for reply in (read, command):
            assert reply.status_code == 503, reply.text
            assert reply.json() == {"error": "the database is unavailable; retry shortly",
                                    "code": "internal", "retry_after_secs": 1}
            assert reply.headers["Retry-After"] == "1"
        assert 0.3 <= waited < 5.0, waited  # the wait setting, not the 10 s default
        r = await api.client.patch("/api/account/profile", headers=alice.auth,
                                   json={"bio": "free again"})
        assert r.status_code == 200, r.text


async def test_writers_never_take_a_table_lock(
        tmp_path: Path, fast_database_url: str, clock: FrozenClock) -> None:
    """A transaction holds SHARE UPDATE EXCLUSIVE on the log and every decision table: it
    lets row writes (ROW EXCLUSIVE) through but conflicts with every table lock of SHARE
    mode or stronger (LOCK TABLE events included). Commands of every kind, some at once,
    must all go through while it is held; a writer that locked a table would run into the
    lock_timeout set here instead of hanging."""
    name = sql.Identifier(psycopg.conninfo.conninfo_to_dict(fast_database_url)["dbname"])
    with psycopg.connect(fast_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET lock_timeout = '3s'").format(name))
    async with running_app(make_settings(tmp_path), fast_database_url, clock) as api:
        owner = await api.register("owner")
        async with await psycopg.AsyncConnection.connect(fast_database_url) as holder:
            cur = await holder.execute(
                "SELECT string_agg(format('%I', tablename), ', ') FROM pg_tables"
                " WHERE schemaname = 'public' AND tablename NOT LIKE 'projection%'")
            (tables,) = await cur.fetchone()
            assert "events" in tables.split(", ") and "account_users" in tables.split(", ")
            await holder.execute(
                f"LOCK TABLE {tables} IN SHARE UPDATE EXCLUSIVE MODE".encode())
            replies = await api.concurrently(*(("POST", "/api/auth/register", {"json": {
                "username": f"busy{i}", "password": PASSWORD, **key_fields()}})
                for i in range(4)))
            assert [r.status_code for r in replies] == [201] * 4, [r.text for r in replies]
            alice = await api.register("alice")
            steps = [
                await api.client.patch("/api/account/profile", headers=alice.auth,
                                       json={"bio": "hi"}),
                await api.client.put("/api/account/preferences", headers=alice.auth,
                                     json={"preferences": {"theme": "dark"}}),
                await api.login(alice),
                await api.client.post("/api/auth/login", json={
                    "username": "alice", "password": "wrong password!"}),
                await api.client.post("/api/users/block", headers=alice.auth,
                                      json={"user_id": owner.id}),
                await api.client.post("/api/admin/invites", headers=owner.auth, json={}),
                await api.client.patch("/api/account/profile", headers={
                    **alice.auth, "Idempotency-Key": "k" * 16}, json={"bio": "once"}),
            ]
            assert [r.status_code for r in steps] == [200, 200, 200, 401, 200, 201, 200], [
                r.text for r in steps]
            store = await api.db.store()
            appended = await asyncio.gather(*(
                store.append(f"lock-{i}", [NewEvent(UserBlocked(user_id=uuid.UUID(int=i),
                                                                 blocked_user_id=uuid.UUID(int=99)))])
                for i in range(8)))
            assert len({a.position for a in appended}) == 8
            await holder.rollback()
