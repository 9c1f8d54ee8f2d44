"""Stopping background tasks without swallowing our own cancellation.

`task.cancel(); with suppress(CancelledError): await task` also swallows a cancel aimed at
the task that waits, which then runs on as if nothing happened (a supervisor that keeps
supervising after shutdown). `stop` waits with asyncio.wait, which never raises the
stopped tasks' errors but lets the waiter's own cancellation through. It also cancels
again now and then: on Python 3.11, asyncio.wait_for (used inside psycopg_pool) can
swallow a cancellation that arrives just as what it waits for completes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

RECANCEL_AFTER = 1.0


async def stop(*tasks: asyncio.Task[Any] | None) -> None:
    running = {t for t in tasks if t is not None}
    while running:
        for task in running:
            task.cancel()
        _, pending = await asyncio.wait(running, timeout=RECANCEL_AFTER)
        for task in running - pending:
            if not task.cancelled() and task.exception() is not None:
                log.debug("%s ended with %r", task.get_name(), task.exception())
        running = pending
