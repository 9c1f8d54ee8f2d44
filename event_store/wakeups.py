"""Wake-ups for subscribers, sent after commit.

The log is the truth: a wake-up only says "read again". Nothing here is inside an append
transaction (a NOTIFY there would serialize concurrent commits), and a lost wake-up only
delays a reader until its next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Protocol

import psycopg

log = logging.getLogger(__name__)

CHANNEL = "event_store_appended"


class LocalSignal:
    """A broadcast within one process.

    A reader takes a ticket *before* it reads; if an append lands after the read, the
    ticket is already set, so no wake-up falls between reading and waiting.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ticket(self) -> asyncio.Event:
        return self._event

    def fire(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()


class WakeupBus(Protocol):
    """Carries wake-ups between processes (app nodes, projection runners)."""

    async def start(self, on_wakeup: Callable[[], None]) -> None: ...

    def publish(self) -> None: ...

    async def close(self) -> None: ...


class InProcessBus:
    """One process: the local signal is all there is."""

    async def start(self, on_wakeup: Callable[[], None]) -> None:
        return None

    def publish(self) -> None:
        return None

    async def close(self) -> None:
        return None


_FIRST_BACKOFF = 0.05


class _CoalescingBus:
    """Sends at most one message per flush, however many appends asked for one."""

    healthy_after = 1.0
    """A listening connection that lasted this long (seconds) was healthy: after it drops,
    reconnecting starts again from the shortest pause."""

    def __init__(self) -> None:
        self._wanted = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._on_wakeup: Callable[[], None] = lambda: None
        self.origin = uuid.uuid4().hex
        """What this bus publishes: its listener hears its own wake-ups too, and ignores
        them (the commits that asked for them fired the process's local signal already;
        a second wake-up would only cost every reader in the process another read)."""

    def publish(self) -> None:
        self._wanted.set()

    async def start(self, on_wakeup: Callable[[], None]) -> None:
        self._on_wakeup = on_wakeup
        self._tasks = [
            asyncio.create_task(self._publisher(), name=f"{type(self).__name__}.publish"),
            asyncio.create_task(self._listener(), name=f"{type(self).__name__}.listen"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    async def _publisher(self) -> None:
        backoff = 0.05
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                await self._send()
                backoff = 0.05
            except Exception as exc:  # the bus is best effort; readers also poll
                log.warning("wake-up publish failed: %s", type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _listener(self) -> None:
        """Listen, and reconnect when the connection drops: at once after a connection that
        was healthy for a while, with a doubling pause while connections keep failing."""
        backoff = _FIRST_BACKOFF
        while True:
            started = asyncio.get_running_loop().time()
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("wake-up listener lost: %s", type(exc).__name__)
            self._on_wakeup()  # we may have missed some while disconnected
            if asyncio.get_running_loop().time() - started >= self.healthy_after:
                backoff = _FIRST_BACKOFF
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _send(self) -> None:
        raise NotImplementedError

    async def _listen(self) -> None:
        raise NotImplementedError


class PostgresNotifyBus(_CoalescingBus):
    """LISTEN/NOTIFY on the database itself, NOTIFY sent outside any append transaction."""

    def __init__(self, conninfo: str) -> None:
        super().__init__()
        self._conninfo = conninfo
        self._sender: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    async def _send(self) -> None:
        if self._sender is None or self._sender.closed:
            self._sender = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, application_name="event_store-notify"
            )
        try:
            await self._sender.execute("SELECT pg_notify(%s, %s)", (CHANNEL, self.origin))
        except psycopg.OperationalError:
            await self._sender.close()
            self._sender = None
            raise

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, application_name="event_store-listen"
        ) as conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            self._on_wakeup()
            async for notice in conn.notifies():
                if notice.payload != self.origin:
                    self._on_wakeup()

    async def close(self) -> None:
        await super().close()
        if self._sender is not None:
            await self._sender.close()


class RedisBus(_CoalescingBus):
    """Redis pub/sub, for nodes that already share a Redis."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        super().__init__()
        import redis.asyncio as redis

        self._client = redis.Redis.from_url(url)
        self._channel = channel

    async def _send(self) -> None:
        await self._client.publish(self._channel, self.origin.encode())

    async def _listen(self) -> None:
        pubsub = self._client.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            self._on_wakeup()
            mine = self.origin.encode()
            async for message in pubsub.listen():
                if message.get("type") == "message" and message.get("data") != mine:
                    self._on_wakeup()
        finally:
            await pubsub.aclose()

    async def close(self) -> None:
        await super().close()
        await self._client.aclose()
