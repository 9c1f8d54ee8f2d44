"""Group commit: commands that arrive while one transaction commits share the next one.

Each member keeps what `run_command` gives a command alone: its own `work` (its decision
reads and writes on the shared transaction), its own answer or refusal, and its own reply
position. What the group shares is the transaction's BEGIN and COMMIT (one WAL flush for
the lot), the connection checkout, and one append statement for all the members' new
streams (event_store.bulk: the rows a loop of NO_STREAM appends writes).

Rules for a member's `work` (send_message's is the one user):
- it appends only events to new streams, one event each (expected NO_STREAM);
- a refusal (DomainError) must leave nothing of the member behind: `work` undoes its own
  writes before raising (the group's transaction commits the others);
- nothing it does may depend on another member having run first, except through the
  rows both lock (one transaction: the later member sees the earlier one's writes, which
  is how one user's two sends in one group are judged in turn, as when they queue).

Members run in arrival order, except that they are sorted (stably) by `order_key`: two
groups then take the members' row locks in one order and queue instead of deadlocking.
A lost race of the whole group (RETRYABLE) runs it again; anything else that fails the
group's transaction (one member's unexpected error aborts it for all) sends every member
through `run_command` alone, so that only the failing one fails.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import psycopg

from chatalot.command_tx import (
    ATTEMPTS,
    RETRYABLE,
    CommandTx,
    _log_command,
    run_command,
    write_rows,
)
from chatalot.domain.errors import DomainError
from chatalot.metrics import COMMAND_SECONDS, COMMANDS
from event_store import NO_STREAM, EventStore, Metadata, NewEvent
from event_store.bulk import append_new_streams

T = TypeVar("T")
Conn = psycopg.AsyncConnection[Any]

MAX_GROUP = 64
"""Members per transaction at most: a longer queue is served by the next group."""


@dataclass
class _Member(Generic[T]):
    meta: Metadata
    clock: Callable[[], datetime]
    work: Callable[[CommandTx], Awaitable[T]]
    order_key: bytes
    done: asyncio.Future[tuple[T, str | None]]
    prepare_key: Any = None
    started: float = field(default_factory=time.perf_counter)


class _Single(Exception):
    """The group's transaction failed for a reason other than a lost race."""


class CommandGroup(Generic[T]):
    """One queue of commands of one kind; `run` answers as `run_command(...,
    may_record_nothing=True)` would."""

    def __init__(self, store: EventStore,
                 prepare: Callable[[Conn, list[Any]], Awaitable[list[Any]]] | None = None
                 ) -> None:
        """`prepare(conn, [member's prepare_key...])`: one read for the whole group, in its
        transaction before any work runs; the i-th answer becomes member i's
        `CommandTx.prepared` (a member running alone gets None and reads for itself)."""
        self._store = store
        self._prepare = prepare
        self._queue: list[_Member[T]] = []
        self._running: asyncio.Task[None] | None = None
        self.groups = 0
        """Transactions committed for groups of two or more (tests read it)."""
        self.sizes: dict[int, int] = {}
        """How many groups of each size were formed (tests and benchmarks read it)."""

    async def run(self, meta: Metadata, clock: Callable[[], datetime],
                  work: Callable[[CommandTx], Awaitable[T]], order_key: bytes,
                  prepare_key: Any = None) -> tuple[T, str | None]:
        """`clock` as run_command's (a group reads the first member's once for all)."""
        loop = asyncio.get_running_loop()
        member: _Member[T] = _Member(meta, clock, work, order_key, loop.create_future(),
                                     prepare_key)
        self._queue.append(member)
        if self._running is None or self._running.done():
            self._running = loop.create_task(self._drain(), name="command-group")
        return await asyncio.shield(member.done)

    async def _drain(self) -> None:
        while self._queue:
            group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
            self.sizes[len(group)] = self.sizes.get(len(group), 0) + 1
            try:
                await self._run_group(group)
            except BaseException as exc:  # never leave a member waiting
                for m in group:
                    if not m.done.done():
                        m.done.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise

    async def _run_group(self, group: list[_Member[T]]) -> None:
        group = sorted(group, key=lambda m: m.order_key)  # stable: arrival order kept
        if len(group) == 1:
            await self._alone(group[0])
            return
        for attempt in range(ATTEMPTS):
            try:
                answers = await self._attempt(group)
            except RETRYABLE:
                if attempt == ATTEMPTS - 1:
                    break
                await asyncio.sleep(random.uniform(0, 0.004 * (attempt + 1)))  # noqa: S311
                continue
            except _Single:
                break
            self.groups += 1
            for m, answer in zip(group, answers, strict=True):
                _finish(m, answer)
            return
        await asyncio.gather(*(self._alone(m) for m in group))

    async def _alone(self, m: _Member[T]) -> None:
        try:
            m.done.set_result(await run_command(self._store, m.meta, m.clock, m.work,
                                                may_record_nothing=True))
        except Exception as exc:
            m.done.set_exception(exc)

    async def _attempt(self, group: list[_Member[T]]
                       ) -> list[tuple[T, str | None] | DomainError]:
        now = group[0].clock()
        outcomes: list[tuple[T, CommandTx] | DomainError] = []
        try:
            async with self._store.transaction() as conn:
                prepared = (await self._prepare(conn, [m.prepare_key for m in group])
                            if self._prepare is not None else [None] * len(group))
                peers: list[CommandTx] = []
                for m, ready in zip(group, prepared, strict=True):
                    tx = CommandTx(self._store, conn, m.meta, now, prepared=ready,
                                   peers=peers)
                    peers.append(tx)
                    try:
                        outcomes.append((await m.work(tx), tx))
                    except DomainError as refused:
                        tx.later.clear()  # a refused member leaves nothing behind
                        outcomes.append(refused)
                await write_rows(conn, peers)  # every member's rows in one statement each
                items = [_one_new_stream(o[1]) for o in outcomes
                         if not isinstance(o, DomainError) and o[1].pending]
                results = []
                if items:
                    started = time.perf_counter()
                    results = await append_new_streams(self._store, items, conn=conn)
                    if self._store.on_append is not None:  # the append metrics, as append's
                        self._store.on_append(len(items), time.perf_counter() - started)
        except RETRYABLE:
            raise
        except psycopg.OperationalError:
            # the connection failed: the COMMIT may have happened with its reply lost, so
            # running the members again could send a message twice; each fails as a
            # command alone would
            raise
        except Exception as exc:
            raise _Single() from exc
        positions = {r.stream_id: r.positions[-1].encode() for r in results}
        answers: list[tuple[T, str | None] | DomainError] = []
        for o in outcomes:
            if isinstance(o, DomainError):
                answers.append(o)
            else:
                result, tx = o
                answers.append((result, positions[tx.pending[0].stream] if tx.pending
                                else None))
        return answers


def _one_new_stream(tx: CommandTx) -> tuple[str, NewEvent]:
    """The member's one append, which must be one event to a new stream."""
    if len(tx.pending) != 1 or len(tx.pending[0].events) != 1 or (
            tx.pending[0].expected != NO_STREAM):
        raise _Single("a grouped command appends one event to one new stream")
    return tx.pending[0].stream, tx.pending[0].events[0]


def _finish(m: _Member[Any], answer: tuple[Any, str | None] | DomainError) -> None:
    """Resolve a member, with the metrics and log line `run_command` gives a command."""
    command = m.meta.command or "unknown"
    if isinstance(answer, DomainError):
        _log_command(m.meta, "refused", m.started, None, None)
        COMMANDS.labels(command, "refused").inc()
        m.done.set_exception(answer)
    else:
        _log_command(m.meta, "ok", m.started, 1, answer[1])
        COMMANDS.labels(command, "ok").inc()
        m.done.set_result(answer)
    COMMAND_SECONDS.labels(command).observe(time.perf_counter() - m.started)
