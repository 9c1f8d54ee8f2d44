"""One reader of the log per process, shared by every live subscription.

Each live subscription used to read the log itself after every commit: a read that finds
the event, one that finds nothing more and a horizon check, times some twenty readers.
The window reads once for all of them. It holds the last `capacity` events it read as a
contiguous stretch (S, E] of the log: every committed event after S up to E, in log order.
A reader whose position P lies in S <= P <= E gets "the events after P" from memory, which
is exact because the stretch is contiguous and nothing can commit at or below E any more
(the window reads under the same read horizon as any reader: event_store/horizon.py). A
reader outside the window (behind S after a restart, or ahead of E for a moment because it
read the database itself) reads the database as before, until it is inside.

Held-back reporting lives here for readers in the window: the window is the one that
finds committed events out of reach and says who holds them back.

An event redacted after the window read it stays as it was read in the window (as it
stays in a reader that read it promptly); the EventRedacted that follows it tells readers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from bisect import bisect_right
from typing import TYPE_CHECKING, Any

import psycopg

from event_store import sql
from event_store.horizon import HeldBackNews
from event_store.positions import START, Position
from event_store.records import RecordedEvent
from event_store.wakeups import LocalSignal

if TYPE_CHECKING:
    from event_store.store import EventStore

log = logging.getLogger(__name__)

Conn = psycopg.AsyncConnection[Any]

CAPACITY = 4096
"""Events kept in memory (about a few seconds of a busy log)."""
READ_BATCH = 1000
_HELD_FIRST_DELAY = 0.001
_HELD_MAX_DELAY = 0.05  # the horizon watch wakes the window; this is the fallback
_POLL = 1.0
"""A lost wake-up only delays this long; and readers in the window, which set no timer of
their own, are woken at least this often (a heartbeat) to look at their deadlines."""

# The read and the held-back check of event_store/horizon.py in one statement: one round
# trip per commit for the whole process.
_READ = f"""
SELECT h.held, r.* FROM (SELECT {sql.ANY_HELD} AS held) h
  LEFT JOIN LATERAL (SELECT {sql.COLUMNS} FROM events e WHERE {sql.VISIBLE}{sql.ORDER}) r
    ON true
 ORDER BY r.epoch, r.transaction_id, r.position
"""


class LogWindow:
    """The last events of the log, read once per commit for the whole process."""

    def __init__(self, store: EventStore, *, capacity: int = CAPACITY,
                 read_batch: int = READ_BATCH) -> None:
        self._store = store
        self.capacity = max(capacity, 1)
        self._read_batch = read_batch
        self._events: list[RecordedEvent] = []
        self._positions: list[Position] = []
        self.start: Position | None = None
        """S: the position before the first event held; None while not following."""
        self.end: Position | None = None
        """E: the last position read (every event in (S, E] is held)."""
        self.prompt = LocalSignal()
        """Fired first when E moves: readers that wait on it (`subscribe(prompt=True)`, the
        gateway's fan-out) run before the others, which `changed` wakes one turn of the
        event loop later. Some twenty projection readers wake on every commit; woken with
        them, a reader that only puts frames on sockets would wait behind their work."""
        self.changed = LocalSignal()
        """Fired when E moves (after `prompt`) or the window stops: readers in the window
        look again."""
        self._task: asyncio.Task[None] | None = None
        self.closed = False
        """Set by `close`: a reader still running while the store shuts down must not start
        the window again (nobody would stop it); it reads the database until then."""
        self._held = HeldBackNews(log, "the log's live readers are")
        self._fired_at = 0.0
        self.reconnects = 0
        self.reads = 0
        """Reads of the log made by the window (for tests and benchmarks)."""

    # -- serving ---------------------------------------------------------------------------

    def covers(self, after: Position) -> bool:
        start, end = self.start, self.end
        return start is not None and end is not None and start <= after <= end

    def serve(self, after: Position, limit: int, category: str | None = None
              ) -> tuple[list[RecordedEvent], Position] | None:
        """The events after `after` (of `category` alone, if given), at most `limit`, and
        the position the answer covers up to; None when `after` is outside the window."""
        if not self.covers(after):
            return None
        end = self.end
        assert end is not None
        i = bisect_right(self._positions, after)
        if category is None:
            batch = self._events[i:i + limit]
            return batch, (batch[-1].position if len(batch) == limit else end)
        prefix = category + "-"
        out: list[RecordedEvent] = []
        for event in self._events[i:]:
            if event.stream_id.startswith(prefix):
                out.append(event)
                if len(out) == limit:
                    return out, event.position
        return out, end

    @property
    def held_back_secs(self) -> float:
        """How long committed events have been out of the window's reach (0: not held)."""
        return self._held.secs

    # -- following -------------------------------------------------------------------------

    def ensure_started(self) -> None:
        """Start following the log (at its head) if not already; idempotent."""
        if self.closed:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._follow(), name="event_store.window")

    async def close(self) -> None:
        self.closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        self._reset()

    def _reset(self) -> None:
        self.start = self.end = None
        self._events = []
        self._positions = []
        self._held.clear()
        self._fire_now()  # readers in the window read the database themselves now

    def _extend(self, batch: list[RecordedEvent]) -> None:
        self._events.extend(batch)
        self._positions.extend(e.position for e in batch)
        self.end = batch[-1].position
        excess = len(self._events) - self.capacity
        if excess > 0:
            # trim a quarter more than needed, so trimming is rare
            cut = min(len(self._events), excess + self.capacity // 4)
            self.start = self._positions[cut - 1]
            del self._events[:cut]
            del self._positions[:cut]

    async def _connect(self) -> Conn:
        store = self._store
        kwargs = {**store.connect_kwargs, "autocommit": True,
                  "application_name": "event_store-window"}
        return await psycopg.AsyncConnection.connect(store.conninfo, **kwargs)

    async def _follow(self) -> None:
        store = self._store
        conn: Conn | None = None
        backoff = 0.05
        held_delay = _HELD_FIRST_DELAY
        try:
            while True:
                if time.monotonic() - self._fired_at >= _POLL:
                    self._fire_now()  # the heartbeat (_POLL)
                ticket = store.signal.ticket()
                try:
                    if conn is None or conn.closed:
                        conn = await self._connect()
                    if self.end is None:
                        self._start_at(await self._head(conn))
                        continue
                    rows, held = await self._read(conn, self.end)
                    if held:
                        await self._held.note(conn, self._store.held_back)
                    batch = store._decode(rows) if rows else []
                except psycopg.OperationalError as exc:
                    log.warning("the log window lost its connection: %s", exc)
                    self.reconnects += 1
                    if conn is not None:
                        await conn.close()
                    conn = None
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                except Exception:
                    # an event it cannot decode, say: readers read the database themselves
                    # (and meet the error where it belongs); start again at the head later
                    log.exception("the log window failed; readers read the log themselves")
                    self._reset()
                    await asyncio.sleep(1.0)
                    continue
                backoff = 0.05
                if batch:
                    self._extend(batch)
                    self._moved()
                    if len(batch) == self._read_batch:
                        continue  # more may be readable at once
                if held:
                    with store.horizon.waiting(), contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(held_delay):
                            await ticket.wait()
                    held_delay = min(held_delay * 2, _HELD_MAX_DELAY)
                    continue
                self._held.clear()
                held_delay = _HELD_FIRST_DELAY
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_POLL):
                        await ticket.wait()
        finally:
            self._reset()
            if conn is not None:
                await conn.close()

    async def _read(self, conn: Conn, after: Position) -> tuple[list[tuple[Any, ...]], bool]:
        """The readable events after `after` and whether committed events are held back
        behind the horizon, in one statement (one snapshot). Fewer rows than asked for and
        nothing held: everything committed has been read, and any later commit fires the
        wake-up ticket taken before this read."""
        self.reads += 1
        store = self._store
        cur = conn.cursor(binary=True)
        await cur.execute(_READ, (store.epoch, after.epoch, after.transaction_id,
                                  after.sequence, store.epoch, self._read_batch))
        found = await cur.fetchall()
        held = bool(found and found[0][0])
        return [r[1:] for r in found if r[1] is not None], held

    def _start_at(self, head: Position) -> None:
        self.start = self.end = head
        self._events = []
        self._positions = []
        self._fire_now()

    def _fire_now(self) -> None:
        self._fired_at = time.monotonic()
        self.prompt.fire()
        self.changed.fire()

    def _moved(self) -> None:
        """E moved: prompt readers now, the rest on the next turn of the loop (after what
        the prompt readers did without waiting, such as queueing frames on sockets). A
        reader takes its ticket before it looks, so a deferred fire loses no wake-up."""
        self._fired_at = time.monotonic()
        self.prompt.fire()
        asyncio.get_running_loop().call_soon(self.changed.fire)

    async def _head(self, conn: Conn) -> Position:
        cur = await conn.execute(sql.HEAD, (self._store.epoch,))
        row = await cur.fetchone()
        return Position(row[1], row[2], row[0]) if row else START
