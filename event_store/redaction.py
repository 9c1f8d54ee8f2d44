"""The record left in the log when an event's content is redacted in place."""

from __future__ import annotations

import uuid

import msgspec


class EventRedacted(msgspec.Struct, frozen=True):
    """Who and when are in the event's metadata and recorded_at; why is `reason`."""

    event_id: uuid.UUID
    stream_id: str
    event_type: str
    reason: str


def redaction_stream(event_id: uuid.UUID) -> str:
    return f"redaction-{event_id}"
