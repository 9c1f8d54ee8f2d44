"""The scheduled-message process manager: it reads the log (the `scheduled-` streams),
keeps the pending messages in memory, and delivers each at its due time through
commands.scheduled.deliver_scheduled.

Every node runs one. Exactly once comes from the delivery's transaction (it deletes the
pending row it appends for), not from electing a node; across a restart the catch-up from
the start of the `scheduled` category finds what is still pending, and an overdue message
is delivered at once. While the server is up a message goes out within DUE_SLACK of its
due time: the loop looks at the earliest due time at least that often. About once a
second it also closes the polls whose expiry passed (commands.polls.close_expired_polls).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from chatalot.domain.messaging import events as ev
from chatalot.messaging.commands.polls import close_expired_polls
from chatalot.messaging.commands.scheduled import deliver_scheduled
from chatalot.messaging.runtime import MessagingRuntime

log = logging.getLogger(__name__)

DUE_SLACK = 0.25
"""Seconds between looks at the earliest due time (the clock may be a test's)."""
POLL_EVERY = 4
"""Expired polls are closed every POLL_EVERY looks (about a second)."""


class ScheduledDelivery:
    def __init__(self, rt: MessagingRuntime) -> None:
        self.rt = rt
        self.pending: dict[uuid.UUID, ev.MessageScheduled] = {}
        self._wake = asyncio.Event()

    def apply(self, event: Any) -> None:
        data = event.data
        if isinstance(data, ev.MessageScheduled):
            self.pending[data.scheduled_id] = data
        elif isinstance(data, ev.ScheduledMessageCancelled | ev.ScheduledMessageDelivered):
            self.pending.pop(data.scheduled_id, None)
        self._wake.set()

    async def follow(self) -> None:
        """Follow the `scheduled` category from the start of the log; on an error (the
        database gone a while), start over: apply is idempotent."""
        while True:
            sub = self.rt.store.subscribe(category="scheduled", name="scheduled-delivery",
                                          poll_interval=1.0)
            try:
                async for batch in sub.batches():
                    for event in batch:
                        self.apply(event)
            except Exception:
                log.exception("scheduled delivery: following the log failed; starting over")
                await asyncio.sleep(1.0)
            finally:
                await sub.close()

    async def deliver_due(self) -> None:
        ticks = 0
        while True:
            ticks += 1
            if ticks % POLL_EVERY == 0:
                try:
                    await close_expired_polls(self.rt)
                except Exception:
                    log.exception("closing expired polls failed; next look retries")
            now = self.rt.now()
            for item in sorted((p for p in self.pending.values() if p.due_at <= now),
                               key=lambda p: p.due_at):
                try:
                    await deliver_scheduled(self.rt, item)
                except Exception:  # a database hiccup: the row stays, the next look retries
                    log.exception("scheduled message %s: delivery failed", item.scheduled_id)
                    break
                self.pending.pop(item.scheduled_id, None)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DUE_SLACK):
                    await self._wake.wait()


@contextlib.asynccontextmanager
async def running(rt: MessagingRuntime) -> AsyncIterator[ScheduledDelivery]:
    """Run the process manager for as long as the context is open."""
    manager = ScheduledDelivery(rt)
    tasks = [asyncio.create_task(manager.follow(), name="scheduled-follow"),
             asyncio.create_task(manager.deliver_due(), name="scheduled-deliver")]
    try:
        yield manager
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
