"""Read-your-writes on a route, the admin endpoints and health, through Litestar."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any

import msgspec
from litestar import Controller, Litestar, Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.testing import AsyncTestClient
from psycopg import sql

from chatalot.api.admin_projections import AdminProjectionsController
from chatalot.api.errors import exception_handlers
from chatalot.api.health import HealthController
from chatalot.api.read_your_writes import HEADER, read_your_writes, wait_for_position
from chatalot.bootstrap import create_app
from chatalot.config import load_settings
from chatalot.services import Services
from event_store import EventStore, NewEvent, Position
from projections import ProjectionHost, RunnerOptions, read_model
from tests.accounts import conftest as accounts
from tests.projections.conftest import FAST, Added, Ledger, Tally, settled

# the accounts' fixtures: a running app with registration, for the end-to-end admin check
api, clock, fast_database_url, settings = (
    accounts.api, accounts.clock, accounts.fast_database_url, accounts.settings)


class Totals(msgspec.Struct):
    total: int
    position: str | None


class LedgerQueries(Controller):
    """What a query route looks like: wait for the projectors it reads, then read."""

    path = "/ledger"

    @get("/{stream:str}", dependencies={"consistent": read_your_writes("ledger")})
    async def total(self, services: NamedDependency[Services], stream: FromPath[str],
                    consistent: NamedDependency[Position | None]) -> Totals:
        async with services.pool.connection() as conn:
            cur = await conn.execute(
                sql.SQL("SELECT total FROM {} WHERE stream_id = %s").format(
                    read_model("ledger_totals")), (stream,))
            row = await cur.fetchone()
        return Totals(row[0] if row else 0, consistent.encode() if consistent else None)

    @get("/helper/{stream:str}")
    async def with_helper(self, services: NamedDependency[Services],
                          request: Request[Any, Any, Any], stream: FromPath[str]) -> Totals:
        position = await wait_for_position(request, ["ledger"])
        return Totals(0, position.encode() if position else None)


class OpenAdmin(AdminProjectionsController):
    """The admin routes without the guard, to test what they answer (the guard is tested
    through the real app below)."""

    guards = []


def _app(services_factory, *, wait_ms: int = 2000) -> Litestar:
    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar):
        async with services_factory() as services:
            app.state.services = services
            yield

    def provide(state: State) -> Services:
        return state.services

    return Litestar(
        route_handlers=[LedgerQueries, OpenAdmin, HealthController],
        dependencies={"services": Provide(provide, sync_to_thread=False)},
        exception_handlers=exception_handlers,
        lifespan=[lifespan],
    )


def _services(store: EventStore, database_url: str, *, run: bool, wait_ms: int = 2000,
              projectors=None):
    app_settings = load_settings({"CHATALOT_READ_YOUR_WRITES_WAIT_MS": str(wait_ms)})

    @contextlib.asynccontextmanager
    async def factory():
        host = ProjectionHost(store, projectors or [Ledger(), Tally()], run=run, options=FAST)
        await host.start()
        try:
            yield Services(app_settings, database_url, store.pool, store, projections=host)
        finally:
            await host.close()

    return factory


async def test_read_your_writes_waits_then_answers(store, database_url):
    app = _app(_services(store, database_url, run=True))
    async with AsyncTestClient(app=app) as client:
        for i in range(20):
            result = await store.append("ryw-1", [NewEvent(Added(i + 1))])
            response = await client.get("/ledger/ryw-1",
                                        headers={HEADER: result.position.encode()})
            assert response.status_code == 200, response.text
            # it answers from a read model that already has this very write
            assert response.json() == {"total": sum(range(1, i + 2)),
                                       "position": result.position.encode()}
        plain = await client.get("/ledger/ryw-1")
        assert plain.json()["position"] is None
        helper = await client.get("/ledger/helper/x", headers={HEADER: "1.1.1"})
        assert helper.status_code == 200


async def test_malformed_position_is_400_and_lag_is_503(store, database_url):
    app = _app(_services(store, database_url, run=False, wait_ms=300))
    async with AsyncTestClient(app=app) as client:
        for bad in ["", "abc", "1.2", "1.2.3.4", "-1.0.0", "1.99999999999999999999.1"]:
            response = await client.get("/ledger/x", headers={HEADER: bad})
            assert response.status_code == 400, bad
            assert response.json()["code"] == "bad_request"
        result = await store.append("lag-1", [NewEvent(Added(1))])
        started = time.monotonic()
        response = await client.get("/ledger/lag-1", headers={HEADER: result.position.encode()})
        assert response.status_code == 503
        assert response.json() == {"error": "the read models have not reached that position"
                                            " yet", "code": "projection_lag"}
        assert 0.25 <= time.monotonic() - started < 2.0
        schema = (await client.get("/schema/openapi.json")).json()
        parameters = schema["paths"]["/ledger/{stream}"]["get"]["parameters"]
        assert HEADER.lower() in {p["name"].lower() for p in parameters}


async def test_admin_list_rebuild_and_health(store, database_url):
    for i in range(30):
        await store.append(f"adm-{i % 3}", [NewEvent(Added(i))])
    app = _app(_services(store, database_url, run=True))
    async with AsyncTestClient(app=app) as client:
        await settled(store, ["ledger", "tally"])
        listing = await client.get("/api/admin/projections")
        assert listing.status_code == 200
        items = {item["name"]: item for item in listing.json()}
        assert set(items) == {"ledger", "tally"}
        head = await store.head()
        assert items["ledger"] == {"name": "ledger", "version": 1, "state": "live",
                                   "position": head.encode(), "lag_events": 0,
                                   "lag_seconds": 0.0, "error": None, "rebuild": None}
        first = await client.post("/api/admin/projections/ledger/rebuild")
        assert first.status_code == 202
        assert first.json()["requested"] is True
        again = await client.post("/api/admin/projections/ledger/rebuild")
        assert again.status_code == 200
        assert again.json()["requested"] is False
        missing = await client.post("/api/admin/projections/nope/rebuild")
        assert missing.status_code == 404
        assert missing.json()["code"] == "not_found"
        health = (await client.get("/api/health")).json()
        assert set(health["projections"]) == {"ledger", "tally"}
        assert set(health["projections"]["tally"]) == {"state", "lag_events", "lag_seconds"}
        await settled(store, ["ledger"])


async def test_the_real_app_guards_admin_routes(database_url, monkeypatch):
    monkeypatch.delenv("CHATALOT_ADMIN_TOKEN", raising=False)
    app = create_app(load_settings({}), database_url)
    async with AsyncTestClient(app=app) as client:
        for method, path in [("get", "/api/admin/projections"),
                             ("post", "/api/admin/projections/event_stats/rebuild")]:
            for headers in [{}, {"Authorization": "Bearer nope"}]:
                response = await getattr(client, method)(path, headers=headers)
                assert response.status_code == 401, (path, response.text)
                assert response.json()["code"] == "unauthorized"
        health = (await client.get("/api/health")).json()
        assert "event_stats" in health["projections"]


async def test_admin_routes_with_the_accounts_guard(api):
    """Through the whole app: the instance owner sees every projector of the app (accounts'
    included) and may rebuild; a member is refused."""
    owner = await api.register("Owner", email="owner@example.org")
    member = await api.register("member1")
    listing = await api.client.get("/api/admin/projections", headers=owner.auth)
    assert listing.status_code == 200, listing.text
    names = {item["name"] for item in listing.json()}
    assert {"event_stats", "users"} <= names
    refused = await api.client.get("/api/admin/projections", headers=member.auth)
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    for _ in range(600):  # the first build of a fresh database may still be under way
        states = {i["name"]: i["state"] for i in (await api.client.get(
            "/api/admin/projections", headers=owner.auth)).json()}
        if states["event_stats"] == "live":
            break
        await asyncio.sleep(0.05)
    assert states["event_stats"] == "live", states
    rebuild = await api.client.post("/api/admin/projections/event_stats/rebuild",
                                    headers=owner.auth)
    reply = rebuild.json()
    assert (rebuild.status_code, reply["name"], reply["requested"]) == (
        202, "event_stats", True), rebuild.text  # 200 would mean no rebuild was started
    # the state at that instant: the live build, or the new one already under way
    assert re.fullmatch(r"live|rebuilding \d{1,3}%", reply["state"]), reply


async def test_waiters_in_another_process_are_woken_by_notify(store, database_url):
    """A watcher that hears of checkpoints only through the database (as an app node does
    when `chatalot projections run` runs elsewhere) wakes promptly, without polling."""
    from projections import ProjectionRunner, ProjectionWatcher

    watcher = ProjectionWatcher(store.pool, refresh_interval=60.0)
    await watcher.start()
    runner = ProjectionRunner(store, [Ledger()], options=RunnerOptions(
        lease_interval=0.05, node="elsewhere"))  # no on_advance: not linked to the watcher
    await runner.start()
    try:
        await settled(store, ["ledger"])
        delays = []
        for i in range(10):
            result = await store.append("far-1", [NewEvent(Added(i))])
            started = time.monotonic()
            assert await watcher.wait_for(["ledger"], result.position, 5.0)
            delays.append(time.monotonic() - started)
        assert max(delays) < 1.0  # far below the 60 s re-read: the NOTIFY woke it
    finally:
        await runner.close()
        await watcher.close()


async def test_one_notification_carries_every_projector_a_commit_moved(store, database_url):
    """Two projectors advance together: the other process hears both from one payload
    (one notification read per listener, not one per projector) and moves both."""
    from projections import ProjectionWatcher
    from projections.notifications import Notifier

    watcher = ProjectionWatcher(store.pool, refresh_interval=60.0)
    heard: list[str] = []
    on_message = watcher._on_message
    watcher._listener._on_message = lambda p: (heard.append(p), on_message(p))
    await watcher.start()
    await watcher._listener.connected.wait()
    notifier = Notifier(store.conninfo, {})
    notifier.start()
    try:
        at = Position(store.epoch, 10**9, 1)
        notifier.advance("ledger", at)
        notifier.advance("tally", at)
        assert await watcher.wait_for(["ledger", "tally"], at, 5.0)
        assert heard == [f"advance ledger {at.encode()}\nadvance tally {at.encode()}"]
    finally:
        await notifier.close()
        await watcher.close()


def test_advances_are_split_under_the_notify_payload_limit():
    from projections.notifications import PAYLOAD_BYTES, advance_messages

    advances = {f"projector_{i:03}": Position(1, 10_000 + i, i) for i in range(300)}
    messages = advance_messages(advances)
    assert len(messages) > 1
    assert all(len(m.encode()) <= PAYLOAD_BYTES for m in messages)
    lines = [line for m in messages for line in m.split("\n")]
    assert lines == [f"advance {n} {p.encode()}" for n, p in advances.items()]
    assert advance_messages({}) == []
