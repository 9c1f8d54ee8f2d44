"""The writers of the under-fire test, and the ledger of what the store told each of them.

Every batch a writer sends is recorded as a `Send` with the outcome as the caller saw it:
acked (append returned and, in a transaction, COMMIT returned), refused (ConcurrencyError or
IdempotencyConflict: the store said no), rolled_back (the transaction ended without COMMIT
being sent: an error in its body or a deliberate rollback) or unknown (the connection broke
while the append ran in autocommit, or while COMMIT was on its way). `fire_checks` then holds
the log to the ledger.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from event_store import (
    ANY,
    NO_STREAM,
    ConcurrencyError,
    EventStore,
    ExpectedVersion,
    IdempotencyConflict,
    NewEvent,
    PostgresNotifyBus,
)
from tests.event_store.conftest import Noted, make_registry

OP_TIMEOUT = 20.0  # one operation, lock waits and deadlock detection included
HOT = ("hot-0", "hot-1", "hot-2", "hot-3")
REFUSED = (ConcurrencyError, IdempotencyConflict)


@dataclass(frozen=True)
class Send:
    """One sending of one batch and what came of it."""

    ids: tuple[str, ...]
    stream: str
    expected: str
    outcome: str  # acked | refused | rolled_back | unknown
    how: str  # auto | tx | dup | reappend | retry
    positions: tuple[tuple[int, int, int], ...] = ()
    version: int = 0
    error: str = ""


@dataclass
class Ledger:
    sends: list[Send] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


class _DeliberateRollback(Exception):
    pass


def _expected_text(expected: ExpectedVersion) -> str:
    if expected is ANY:
        return "any"
    return "no_stream" if expected == NO_STREAM else f"exact:{expected}"


def writer_pool(conninfo: str, *, max_size: int, **kwargs: Any) -> AsyncConnectionPool[Any]:
    """Autocommit like the app's pool, but a connection killed while idle is noticed before
    use, so fewer appends end "unknown" for no reason."""
    return AsyncConnectionPool(
        conninfo, min_size=2, max_size=max_size, timeout=30.0,
        kwargs={"autocommit": True, **kwargs}, check=AsyncConnectionPool.check_connection,
        open=False, name="under-fire",
    )


class Writer:
    """One concurrent caller: a random mix of every kind of append, until `stop_at`."""

    def __init__(self, number: int, store: EventStore, direct: EventStore, ledger: Ledger,
                 rng: random.Random, *, carry_on: bool) -> None:
        self.number = number
        self.store = store  # maybe behind the dropping proxy
        self.direct = direct  # for retries after an unknown outcome
        self.ledger = ledger
        self.rng = rng
        self.carry_on = carry_on  # carries on after a refused append inside a transaction
        self.n = 0

    def _batch(self) -> list[NewEvent]:
        events = []
        for _ in range(self.rng.choice((1, 1, 2, 3, 5))):
            self.n += 1
            events.append(NewEvent(Noted(self.number, self.n)))
        return events

    def _stream(self) -> str:
        if self.rng.random() < 0.65:
            return self.rng.choice(HOT)
        return f"fresh-{self.number}-{self.n}-{self.rng.randrange(10**6)}"

    async def _expected(self, stream: str) -> ExpectedVersion:
        roll = self.rng.random()
        if roll < 0.45:
            return ANY
        if roll < 0.6:
            return NO_STREAM
        try:
            async with asyncio.timeout(OP_TIMEOUT):
                version = await self.direct.stream_version(stream)
        except Exception:  # killed: any guess will do, the append decides
            version = 0
        return version or NO_STREAM

    def _record(self, stream: str, events: Sequence[NewEvent], expected: ExpectedVersion,
                outcome: str, how: str, result: Any = None, error: BaseException | None = None
                ) -> Send:
        send = Send(
            ids=tuple(str(e.event_id) for e in events), stream=stream,
            expected=_expected_text(expected), outcome=outcome, how=how,
            positions=tuple((p.epoch, p.transaction_id, p.sequence) for p in result.positions)
            if result is not None else (),
            version=result.version if result is not None else 0,
            error=type(error).__name__ if error is not None else "",
        )
        self.ledger.sends.append(send)
        self.ledger.counts[f"{how}:{outcome}"] += 1
        return send

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, psycopg.errors.DeadlockDetected):
            self.ledger.counts["deadlocks"] += 1

    async def single(self, store: EventStore, stream: str, events: Sequence[NewEvent],
                     expected: ExpectedVersion, *, in_tx: bool, how: str) -> Send:
        body_done = False
        try:
            async with asyncio.timeout(OP_TIMEOUT):
                if in_tx:
                    async with store.transaction() as conn:
                        result = await store.append(stream, events, expected, conn=conn)
                        body_done = True
                else:
                    result = await store.append(stream, events, expected)
        except REFUSED as exc:
            return self._record(stream, events, expected, "refused", how, error=exc)
        except Exception as exc:
            self._failed(exc)
            outcome = "rolled_back" if in_tx and not body_done else "unknown"
            return self._record(stream, events, expected, outcome, how, error=exc)
        return self._record(stream, events, expected, "acked", how, result)

    async def _settle(self, send: Send, stream: str, events: Sequence[NewEvent],
                      expected: ExpectedVersion) -> None:
        """After an unknown outcome, send the same ids again until the store answers."""
        for _ in range(3):
            if send.outcome != "unknown":
                return
            send = await self.single(self.direct, stream, events, expected, in_tx=False,
                                     how="retry")

    async def op_single(self) -> None:
        stream, events = self._stream(), self._batch()
        expected = await self._expected(stream)
        in_tx = self.rng.random() < 0.3
        send = await self.single(self.store, stream, events, expected, in_tx=in_tx, how="auto")
        await self._settle(send, stream, events, expected)
        if send.outcome == "acked" and self.rng.random() < 0.3:  # a re-append: same answer
            again = await self.single(self.direct, stream, events, expected, in_tx=False,
                                      how="reappend")
            if again.outcome == "unknown":
                await self._settle(again, stream, events, expected)

    async def op_duplicate(self) -> None:
        """The same batch (same event ids) sent 2-4 times at once."""
        stream, events = self._stream(), self._batch()
        expected = await self._expected(stream)
        sends = await asyncio.gather(*(
            self.single(self.store, stream, events, expected, in_tx=self.rng.random() < 0.4,
                        how="dup")
            for _ in range(self.rng.randint(2, 4))
        ))
        if all(s.outcome == "unknown" for s in sends):
            await self._settle(sends[0], stream, events, expected)

    async def op_transaction(self) -> None:
        """1-5 appends held open 50-500 ms; some roll back on purpose, some carry on after a
        refused append and commit the rest."""
        appends = self.rng.randint(1, 5)
        pause = self.rng.uniform(0.05, 0.5) / appends
        rollback = self.rng.random() < 0.15
        done: list[tuple[str, list[NewEvent], ExpectedVersion, Any]] = []
        body_done = False
        outcome, error = "acked", None
        try:
            async with asyncio.timeout(OP_TIMEOUT), self.store.transaction() as conn:
                for _ in range(appends):
                    stream, events = self._stream(), self._batch()
                    expected = await self._expected(stream)
                    try:
                        result = await self.store.append(stream, events, expected, conn=conn)
                    except REFUSED as exc:
                        self._record(stream, events, expected, "refused", "tx", error=exc)
                        if not self.carry_on:
                            raise
                        self.ledger.counts["carried on"] += 1
                    else:
                        done.append((stream, events, expected, result))
                    await asyncio.sleep(pause)
                if rollback:
                    raise _DeliberateRollback
                body_done = True
        except _DeliberateRollback:
            outcome = "rolled_back"
            self.ledger.counts["deliberate rollback"] += 1
        except Exception as exc:
            self._failed(exc)
            outcome, error = ("unknown" if body_done else "rolled_back"), exc
        for stream, events, expected, result in done:
            self._record(stream, events, expected, outcome, "tx",
                         result if outcome == "acked" else None, error)

    async def run(self, stop_at: float) -> None:
        loop = asyncio.get_running_loop()
        ops = (self.op_single, self.op_single, self.op_transaction, self.op_transaction,
               self.op_duplicate)
        while loop.time() < stop_at:
            await self.rng.choice(ops)()


# -- the second process ------------------------------------------------------------------


def run_in_process(database_url: str, seconds: float, first: int, count: int, seed: int
                   ) -> tuple[list[Send], dict[str, int]]:
    """Entry point of the second OS process: its own event loop, pool and writers."""
    logging.getLogger().setLevel(logging.ERROR)  # killed connections are the point here
    return asyncio.run(_process_main(database_url, seconds, first, count, seed))


async def _process_main(database_url: str, seconds: float, first: int, count: int, seed: int
                        ) -> tuple[list[Send], dict[str, int]]:
    pool = writer_pool(database_url, max_size=3 * count + 2)
    await pool.open(wait=True)
    store = EventStore(pool, make_registry(), PostgresNotifyBus(database_url))
    await store.start()
    ledger = Ledger()
    rng = random.Random(seed)
    try:
        stop_at = asyncio.get_running_loop().time() + seconds
        writers = [
            Writer(first + i, store, store, ledger, random.Random(rng.random()),
                   carry_on=i % 2 == 0)
            for i in range(count)
        ]
        await asyncio.gather(*(w.run(stop_at) for w in writers))
    finally:
        await store.close()
        await pool.close()
    return ledger.sends, dict(ledger.counts)


def spawn_context() -> Any:
    return multiprocessing.get_context("spawn")
