"""Accounts tests: the real app (create_app) on a fresh PostgreSQL database per test, with
cheap Argon2 parameters and a clock the test controls."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
from litestar.testing import AsyncTestClient
from psycopg import sql

from chatalot.auth.ratelimit import MemoryRateLimiter
from chatalot.bootstrap import build_registry, create_app
from chatalot.bootstrap import services as open_services
from chatalot.config import Limits, Security, Settings
from chatalot.db import make_pool
from chatalot.domain.accounts.registration_mode import RegistrationMode
from chatalot.services import Services
from chatalot_crypto.keys import IdentityKeyPair, OneTimePrekey, SignedPrekey
from event_store import EventStore

TOTP_KEY = base64.b64encode(bytes(range(32))).decode()
PASSWORD = "correct horse battery staple"


class FrozenClock:
    """Seconds since the epoch; moves only when the test says so."""

    def __init__(self, start: float | None = None) -> None:
        self.now = start if start is not None else float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    security = overrides.pop("security", Security(
        argon2_memory_kib=64, argon2_time_cost=1, argon2_parallelism=1, hash_concurrency=4,
        totp_encryption_key=TOTP_KEY))
    # a read waits up to 10 s for the read models (2 s in production): with every context's
    # projectors in one process on a busy 2-core machine, 2 s is sometimes not enough, and
    # no test here measures the wait (those that test projection_lag set their own)
    limits = overrides.pop("limits", Limits(
        rate_limit_general_per_sec=10_000, rate_limit_general_burst=10_000,
        rate_limit_auth_per_sec=10_000, rate_limit_auth_burst=10_000,
        read_your_writes_wait_ms=10_000))
    public_url = overrides.pop("public_url", "https://chat.example")
    # rebuilds requested through the app start at once (no hand-off to a dedicated process)
    overrides.setdefault("rebuild_hand_off_secs", 0.0)
    return Settings(data_directory=str(tmp_path / "data"), public_url=public_url,
                    registration_mode=overrides.pop("registration_mode", RegistrationMode.OPEN),
                    security=security, limits=limits, **overrides)


@dataclass
class KeyBundle:
    body: dict[str, Any]


_identity = IdentityKeyPair.generate()
_signed = SignedPrekey.generate(_identity, 1)
_one_time = [OneTimePrekey.generate(i) for i in range(1, 6)]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def key_fields() -> dict[str, Any]:
    """A valid key bundle (shared by every test user: the server does not require
    identity keys to be unique)."""
    return {
        "identity_key": b64(_identity.public),
        "signed_prekey": {"key_id": _signed.key_id, "public_key": b64(_signed.public),
                          "signature": b64(_signed.signature)},
        "one_time_prekeys": [{"key_id": k.key_id, "public_key": b64(k.public)}
                             for k in _one_time],
    }


_names = itertools.count(1)


@dataclass
class User:
    username: str
    password: str
    id: str
    access: str
    refresh: str
    recovery_code: str
    position: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


class TestDb:
    """The test's own view of the database, in the test's event loop. (The app runs in
    the test client's event loop thread: its pool and store must not be used from here.)"""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._pool: Any = None
        self._store: EventStore | None = None

    async def store(self) -> EventStore:
        if self._store is None:
            self._pool = make_pool(self.database_url, min_size=1, max_size=2)
            await self._pool.open(wait=True)
            self._store = EventStore(self._pool, build_registry())
            await self._store.start()
        return self._store

    async def fetch(self, query: str, params: Any = ()) -> list[Any]:
        async with await psycopg.AsyncConnection.connect(self.database_url,
                                                         autocommit=True) as conn:
            cur = await conn.execute(query.encode(), params or None)
            return await cur.fetchall()

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()
            await self._pool.close()


class Api:
    """The HTTP client plus helpers for the flows every test needs."""

    def __init__(self, client: AsyncTestClient[Any], settings: Settings, clock: FrozenClock,
                 db: TestDb) -> None:
        self.client = client
        self.settings = settings
        self.clock = clock
        self.db = db

    async def concurrently(self, *requests: tuple[str, str, dict[str, Any]]
                           ) -> list[httpx.Response]:
        """(method, path, httpx keyword arguments) all sent at once. The test client runs
        each request to completion on its portal's event loop, so asyncio.gather over it is
        serial; these run together on that loop, as a server's would."""
        app = self.client.app

        async def send_all() -> list[httpx.Response]:
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://testserver.local") as client:
                return await asyncio.gather(*(
                    client.request(method, path, **kwargs) for method, path, kwargs in requests))

        return self.client.blocking_portal.call(send_all)

    async def register(self, username: str | None = None, password: str = PASSWORD,
                       **extra: Any) -> User:
        username = username or f"user{next(_names)}"
        body = {"username": username, "password": password, **key_fields(), **extra}
        r = await self.client.post("/api/auth/register", json=body)
        assert r.status_code == 201, r.text
        data = r.json()
        return User(username, password, data["user"]["id"], data["access_token"],
                    data["refresh_token"], data["recovery_code"], data["position"])

    async def login(self, user: User, **extra: Any) -> Any:
        return await self.client.post("/api/auth/login", json={
            "username": user.username, "password": user.password, **extra})

    async def relogin(self, user: User) -> User:
        r = await self.login(user)
        assert r.status_code == 200, r.text
        data = r.json()
        user.access, user.refresh = data["access_token"], data["refresh_token"]
        return user

    async def wait(self, position: str) -> dict[str, str]:
        """Headers for a query that must see the effects of `position`."""
        return {"Chatalot-Min-Position": position}

    async def head(self) -> str:
        """The log's head including every command committed so far: a reader's head can
        lag while other transactions (projection batches) are in flight, so wait until
        nothing committed is held back behind them."""
        store = await self.db.store()
        for _ in range(500):
            async with store.pool.connection() as conn:
                if not await store.held_back(conn):
                    return (await store.head()).encode()
            await asyncio.sleep(0.01)
        raise AssertionError("committed events stayed held back behind open transactions"
                             " for 5 s: the head would not include them")

    async def events(self, stream: str) -> list[Any]:
        return await (await self.db.store()).read_stream(stream)


@contextlib.asynccontextmanager
async def running_app(settings: Settings, database_url: str, clock: FrozenClock, *,
                      client_address: str | None = None,
                      wrap: Callable[[Any], Any] | None = None,
                      frozen_buckets: bool = False) -> AsyncIterator[Api]:
    """The app in a test client; `client_address` replaces the test client's peer address
    (what rate limits are keyed by); `wrap` puts middleware around the app (inside that
    replacement), e.g. what uvicorn puts around it in `chatalot serve`; `frozen_buckets`
    refills the in-process rate-limit buckets by `clock` instead of real time (a slow
    machine's requests would otherwise refill them between two calls)."""
    holder: dict[str, Services] = {}

    @contextlib.asynccontextmanager
    async def factory() -> AsyncIterator[Services]:
        async with open_services(settings, database_url, clock=clock) as services:
            if frozen_buckets:
                services.rate_limiter = MemoryRateLimiter(clock=clock)
            holder["services"] = services
            yield services

    app: Any = create_app(settings, database_url, services_factory=factory)
    if wrap is not None:
        app = wrap(app)
    if client_address is not None:
        inner = app

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] in ("http", "websocket"):
                scope = {**scope, "client": (client_address, 50000)}
            await inner(scope, receive, send)

    db = TestDb(database_url)
    try:
        async with AsyncTestClient(app=app) as client:
            yield Api(client, settings, clock, db)
    finally:
        await db.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def fast_database_url(database_url: str) -> str:
    """This test's database without waiting for fsync at each commit (durability is not
    what these tests measure; it makes the many small command transactions cheaper)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        name = conn.info.dbname
        conn.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(
            sql.Identifier(name)))
    return database_url


@pytest.fixture
async def api(settings: Settings, fast_database_url: str, clock: FrozenClock
              ) -> AsyncIterator[Api]:
    async with running_app(settings, fast_database_url, clock) as api:
        yield api


def decode(body: bytes, kind: Any) -> Any:
    return msgspec.json.decode(body, type=kind)
