"""Wake-ups between processes on the `projections` NOTIFY channel.

Checkpoint advances are announced *after* their transaction commits, from a connection of
their own (a NOTIFY inside the batch's transaction would serialize commits), coalesced to
the newest position per projector. Flips, resets and rebuild requests are sent inside
their own (rare) transactions. Either way a lost message only delays: listeners re-read
the tables when they (re)connect and now and then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import psycopg

from event_store import Position
from projections.backoff import Backoff
from projections.catalog import CHANNEL
from projections.tasks import stop

log = logging.getLogger(__name__)

GATHER = 0.002
"""Seconds an advance waits for others to share its NOTIFY (cross-process read-your-writes
waits that long more)."""


PAYLOAD_BYTES = 7000
"""At most this much of `advance` lines per NOTIFY (PostgreSQL's limit is 8000 bytes)."""


def advance_messages(advances: dict[str, Position]) -> list[str]:
    """The advances as few NOTIFY payloads: one `advance <name> <position>` line each,
    lines joined by newlines. One commit moves some twenty projectors; one notification
    instead of twenty is what every listening process (two per node) then has to read."""
    messages: list[str] = []
    lines: list[str] = []
    size = 0
    for name, pos in advances.items():
        line = f"advance {name} {pos.encode()}"
        if lines and size + len(line) + 1 > PAYLOAD_BYTES:
            messages.append("\n".join(lines))
            lines, size = [], 0
        lines.append(line)
        size += len(line) + 1
    if lines:
        messages.append("\n".join(lines))
    return messages


class Notifier:
    """Announces checkpoint advances after commit, at most one round trip in flight."""

    def __init__(self, conninfo: str, connect_kwargs: dict[str, Any]) -> None:
        self._conninfo = conninfo
        self._kwargs = {**connect_kwargs, "autocommit": True,
                        "application_name": "projections-notify"}
        self._pending: dict[str, Position] = {}
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection[Any] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="projections.notifier")

    def advance(self, name: str, position: Position) -> None:
        self._pending[name] = position
        self._wanted.set()

    async def close(self) -> None:
        await stop(self._task)
        self._task = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _run(self) -> None:
        backoff = Backoff(0.05, 2.0)
        while True:
            await self._wanted.wait()
            # the projectors that one commit wakes advance within a few milliseconds of
            # each other: one NOTIFY for all of them, not one each
            await asyncio.sleep(GATHER)
            self._wanted.clear()
            pending, self._pending = self._pending, {}
            messages = advance_messages(pending)
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await psycopg.AsyncConnection.connect(
                        self._conninfo, **self._kwargs
                    )
                await self._conn.execute(  # JSON, not text[]: psycopg dumps lists slowly
                    "SELECT pg_notify(%s, m) FROM json_array_elements_text(%s::json) AS m",
                    (CHANNEL, msgspec.json.encode(messages).decode()),
                )
                backoff.reset()
            except (psycopg.Error, OSError) as exc:  # best effort: listeners also re-read
                log.warning("projection wake-up not sent: %s", type(exc).__name__)
                if self._conn is not None:
                    await self._conn.close()
                    self._conn = None
                await asyncio.sleep(backoff.next())


class Listener:
    """LISTEN on a dedicated connection, reconnecting; `on_connect` runs on every
    (re)connect, once LISTEN is in place, to catch up on anything missed meanwhile."""

    def __init__(
        self,
        conninfo: str,
        connect_kwargs: dict[str, Any],
        on_message: Callable[[str], None],
        on_connect: Callable[[], Awaitable[None]],
        *,
        application_name: str,
    ) -> None:
        self._conninfo = conninfo
        self._kwargs = {**connect_kwargs, "autocommit": True,
                        "application_name": application_name[:63]}
        self._on_message = on_message
        self._on_connect = on_connect
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="projections.listener")

    async def close(self) -> None:
        await stop(self._task)
        self._task = None

    async def _run(self) -> None:
        backoff = Backoff(0.05, 2.0)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, **self._kwargs
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    await self._on_connect()
                    self.connected.set()
                    backoff.reset()
                    async for notice in conn.notifies():
                        self._on_message(notice.payload)
            except (psycopg.Error, OSError) as exc:
                log.warning("projections listener lost: %s", type(exc).__name__)
            self.connected.clear()
            await asyncio.sleep(backoff.next())
