"""`chatalot events tail`: the log as JSON lines, for operators and scripts."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import msgspec

from chatalot.bootstrap import build_registry
from chatalot.db import make_pool
from event_store import START, EventStore, Position, RecordedEvent

_encoder = msgspec.json.Encoder()


def event_json(event: RecordedEvent) -> dict[str, Any]:
    return {
        "position": event.position.encode(),
        "stream_id": event.stream_id,
        "version": event.version,
        "event_id": str(event.event_id),
        "type": event.type,
        "data": event.data,
        "metadata": event.metadata,
        "recorded_at": event.recorded_at,
        "redacted": event.redacted,
    }


async def tail(database_url: str, *, stream: str | None, follow: bool, after: str | None,
               limit: int) -> None:
    pool = make_pool(database_url, min_size=1, max_size=2)
    await pool.open(wait=True)
    store = EventStore(pool, build_registry())
    await store.start()
    out = sys.stdout
    try:
        position = Position.parse(after) if after else START
        if stream is not None and not follow:
            for event in await store.read_stream(stream, limit=limit):
                out.write(_encoder.encode(event_json(event)).decode() + "\n")
            return
        async for batch in store.subscribe(position, name="cli-tail").batches():
            for event in batch:
                if stream is None or event.stream_id == stream:
                    out.write(_encoder.encode(event_json(event)).decode() + "\n")
            out.flush()
            if not follow:
                tail_end = await store.head()
                if batch[-1].position >= tail_end:
                    return
    finally:
        await store.close()
        await pool.close()


def run_tail(database_url: str, **kwargs: Any) -> None:
    asyncio.run(_tail_until_empty(database_url, **kwargs))


async def _tail_until_empty(database_url: str, **kwargs: Any) -> None:
    if not kwargs["follow"]:
        # an empty log has no batch to end on
        pool = make_pool(database_url, min_size=1, max_size=1)
        await pool.open(wait=True)
        try:
            store = EventStore(pool, build_registry())
            await store.start()
            empty = await store.head() == START
        finally:
            await pool.close()
        if empty:
            return
    await tail(database_url, **kwargs)
