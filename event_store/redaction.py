"""Redaction: an event's content replaced in place, and the record left in the log."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import psycopg

from event_store.errors import EventNotFound, InvalidAppend
from event_store.registry import EventRegistry


class EventRedacted(msgspec.Struct, frozen=True):
    """Who and when are in the event's metadata and recorded_at; why is `reason`."""

    event_id: uuid.UUID
    stream_id: str
    event_type: str
    reason: str


def redaction_stream(event_id: uuid.UUID) -> str:
    return f"redaction-{event_id}"


async def redact_in(conn: psycopg.AsyncConnection[Any], registry: EventRegistry,
                    event_id: uuid.UUID, replacement: msgspec.Struct, reason: str
                    ) -> EventRedacted:
    """Replace the event's data in the caller's transaction (the only UPDATE the guard
    trigger lets through: ids, positions, type and metadata stay) and return the record
    to append."""
    name, version = registry.type_of(replacement)
    raw = registry.encode(replacement).decode()
    await conn.execute("SELECT set_config('event_store.redaction', 'on', true)")
    cur = await conn.execute(
        "UPDATE events SET data = %s::jsonb, schema_version = %s, redacted = true"
        " WHERE event_id = %s AND type = %s RETURNING stream_id",
        (raw, version, event_id, name),
    )
    row = await cur.fetchone()
    if row is None:
        cur = await conn.execute("SELECT type FROM events WHERE event_id = %s", (event_id,))
        found = await cur.fetchone()
        if found is None:
            raise EventNotFound(f"no event {event_id}")
        raise InvalidAppend(f"event {event_id} is a {found[0]}, not a {name}")
    return EventRedacted(event_id, row[0], name, reason)
