"""Following the log: catch up from a position, then live, without gap or duplicate.

A reader never passes the oldest transaction still running anywhere in the PostgreSQL
cluster (that is what makes the log gap-free), so a subscription can be held back: events
are committed but not yet readable. Then it looks again as soon as a wake-up says a commit
happened or the process's horizon watch (event_store/horizon.py) sees the oldest
transaction end, and says in the log who holds it back when that lasts over a second.

Once live, a subscription reads from the process's log window (event_store/window.py),
which reads the log once per commit for every live reader; only a reader outside the
window (behind it, catching up) reads the database itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import psycopg

from event_store.horizon import HeldBackNews, held_or_ready
from event_store.positions import Position
from event_store.records import RecordedEvent

if TYPE_CHECKING:
    from event_store.store import EventStore

log = logging.getLogger(__name__)

Conn = psycopg.AsyncConnection[Any]

_HELD_FIRST_DELAY = 0.001
_HELD_MAX_DELAY = 0.05  # the horizon watch wakes held readers; this is the fallback


class Subscription:
    """Catch up from a position, then follow live; reconnects without gap or duplicate.

    `position` is the last event handed out, so a consumer that stores it can resume.
    """

    def __init__(
        self,
        store: EventStore,
        after: Position,
        *,
        batch_size: int,
        category: str | None,
        poll_interval: float,
        name: str,
        prompt: bool = False,
    ) -> None:
        self._store = store
        self._prompt = prompt
        self.position = after
        self._batch_size = batch_size
        self._category = category
        self._poll_interval = poll_interval
        self._name = name
        self._conn: Conn | None = None
        self.reconnects = 0
        self._held = HeldBackNews(log, f"subscription {name}")
        self._cursor = after
        """Where reading goes on from: past `position` when a category reader skipped
        other events."""
        self._in_window = False

    @property
    def held_back_secs(self) -> float:
        """How long committed events have been out of this reader's reach (0: not held)."""
        if self._in_window:
            return self._store.window.held_back_secs
        return self._held.secs

    async def _connection(self) -> Conn:
        if self._conn is None or self._conn.closed:
            kwargs = {
                **self._store.connect_kwargs,
                "autocommit": True,
                "application_name": f"event_store-{self._name}"[:63],
            }
            self._conn = await psycopg.AsyncConnection.connect(self._store.conninfo, **kwargs)
        return self._conn

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def batches(self) -> AsyncIterator[list[RecordedEvent]]:
        """Yield non-empty batches forever; the position advances past each batch."""
        try:
            while True:
                batch = await self.next_batch()
                if batch:
                    yield batch
        finally:
            await self.close()

    async def next_batch(self, idle: float | None = None) -> list[RecordedEvent]:
        """The next non-empty batch, or [] once nothing came for `idle` seconds (None:
        wait as long as it takes). The process's log window (event_store/window.py)
        serves it while this reader's position is inside the window; else the database."""
        store = self._store
        window = store.window
        window.ensure_started()
        deadline = None if idle is None else time.monotonic() + idle
        backoff = 0.05
        held_delay = _HELD_FIRST_DELAY
        while True:
            # before looking: no wake-up is lost
            window_ticket = (window.prompt if self._prompt else window.changed).ticket()
            served = window.serve(self._cursor, self._batch_size, self._category)
            if served is not None:
                self._in_window = True
                self._held.clear()
                if self._conn is not None:
                    await self.close()  # the window serves this reader from now on
                batch, self._cursor = served
                if batch:
                    self.position = batch[-1].position
                    return batch
                if not await self._wait_in_window(window_ticket, deadline):
                    return []
                continue
            self._in_window = False
            ticket = store.signal.ticket()
            try:
                conn = await self._connection()
                rows = await store._read_rows(
                    conn, self._cursor, self._batch_size, self._category, None
                )
                again = not rows and await held_or_ready(
                    conn, store.epoch, self._cursor, self._category
                )
                if again:
                    await self._held.note(conn, self._store.held_back)
            except psycopg.OperationalError as exc:
                log.warning("subscription %s lost its connection: %s", self._name, exc)
                await self.close()
                self.reconnects += 1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.05
            if rows:
                self._held.clear()
                held_delay = _HELD_FIRST_DELAY
                batch = store._decode(rows)
                self.position = self._cursor = batch[-1].position
                return batch
            if again:
                # held back (or a commit became readable since the read): look again
                # when a wake-up comes or the process's horizon watch sees the oldest
                # transaction end, else soon
                with store.horizon.waiting():
                    waited = await self._wait(ticket, held_delay, deadline)
                held_delay = min(held_delay * 2, _HELD_MAX_DELAY)
            else:
                self._held.clear()
                held_delay = _HELD_FIRST_DELAY
                waited = await self._wait(ticket, self._poll_interval, deadline)
            if not waited:
                return []

    @staticmethod
    async def _wait(ticket: asyncio.Event, delay: float, deadline: float | None) -> bool:
        """Wait for the ticket (or the timeout); False once the deadline has passed."""
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            delay = min(delay, left)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await ticket.wait()
        return deadline is None or ticket.is_set() or time.monotonic() < deadline

    @staticmethod
    async def _wait_in_window(ticket: asyncio.Event, deadline: float | None) -> bool:
        """`_wait` without a timer: the window wakes its readers whenever it moves and at
        least once a second (its heartbeat), so a deadline is noticed at most that late.
        Some twenty projection readers wait here after every commit: a timer each
        (`asyncio.timeout`) was about 3 % of a serving process's CPU under 16 senders."""
        if deadline is not None and time.monotonic() >= deadline:
            return False
        await ticket.wait()
        return True

    async def __aiter__(self) -> AsyncIterator[RecordedEvent]:
        async for batch in self.batches():
            for event in batch:
                yield event
