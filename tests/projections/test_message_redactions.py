"""Which message a redaction record names, as the messages and search projectors read it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from event_store import Metadata, Position, RecordedEvent
from event_store.redaction import EventRedacted
from projections.read_models.messaging import redacted_message


def redaction(stream_id: str, event_type: str = "MessageSent") -> RecordedEvent:
    return RecordedEvent(
        position=Position(1, 1, 1), stream_id=f"redaction-{uuid.uuid4()}", version=1,
        event_id=uuid.uuid4(), type="EventRedacted",
        data=EventRedacted(uuid.uuid4(), stream_id, event_type, "test"),
        metadata=Metadata(), recorded_at=datetime.now(UTC))


def test_a_redaction_names_a_message_only_by_its_stream_of_a_uuid() -> None:
    mid = uuid.uuid4()
    assert redacted_message(redaction(f"message-{mid}")) == str(mid)
    assert redacted_message(redaction(f"message-{mid}", "MessageEdited")) == str(mid)
    assert redacted_message(redaction(f"message-{mid}", "ReactionAdded")) is None
    assert redacted_message(redaction(f"channel-{mid}")) is None
    # a record no message flow writes: ignored, where its id failed the projectors' UPDATE
    # as an invalid uuid and stopped them (bench/_serving.py's seed did)
    assert redacted_message(redaction("message-7")) is None
