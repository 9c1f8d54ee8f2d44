"""The values that cross the store's boundary."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Final

import msgspec

from event_store.positions import Position


class Metadata(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True,
               gc=False):
    """Who caused an event and through which request; stored beside every event."""

    actor_id: str | None = None
    causation_id: str | None = None
    correlation_id: str | None = None
    ip: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    user_agent: Annotated[str, msgspec.Meta(max_length=512)] | None = None
    command: Annotated[str, msgspec.Meta(max_length=100)] | None = None

    def caused_by(self, event_id: uuid.UUID) -> Metadata:
        """Metadata for an event caused by another: keeps the correlation chain."""
        return msgspec.structs.replace(
            self,
            causation_id=str(event_id),
            correlation_id=self.correlation_id or str(event_id),
        )


class _Any(Enum):
    ANY = "any"


ANY: Final = _Any.ANY
"""Expected version: append whatever the stream's version is."""

NO_STREAM: Final = 0
"""Expected version: the stream must not exist yet (streams start at version 1)."""

ExpectedVersion = int | _Any


class NewEvent(msgspec.Struct, frozen=True):
    """An event to append: a registered Struct plus its id (the idempotency key)."""

    data: msgspec.Struct
    event_id: uuid.UUID = msgspec.field(default_factory=uuid.uuid4)
    metadata: Metadata = Metadata()


class RecordedEvent(msgspec.Struct, frozen=True, gc=False):
    position: Position
    stream_id: str
    version: int
    event_id: uuid.UUID
    type: str
    data: Any
    metadata: Metadata
    recorded_at: datetime
    redacted: bool = False


class AppendResult(msgspec.Struct, frozen=True):
    stream_id: str
    version: int
    positions: list[Position]

    @property
    def position(self) -> Position:
        """The position of the last event: what a command reply hands back."""
        return self.positions[-1]



HELD_BACK_NEWS_AFTER = 1.0
"""Seconds: readers held back for less are ordinary commit traffic; for longer, operators
are told who holds them (the log, `projections status`, the health route)."""


class HeldBack(msgspec.Struct, frozen=True):
    """Why readers of the log wait: committed events hidden behind a running transaction."""

    age_secs: float
    """Age of the oldest committed event readers cannot see yet."""
    holder_pid: int | None
    holder_database: str | None
    holder_application: str | None
    holder_transaction_secs: float | None
    holder_state: str | None

    @property
    def is_news(self) -> bool:
        return self.age_secs > HELD_BACK_NEWS_AFTER

    def describe(self) -> str:
        if self.holder_pid is None:
            return f"events waiting {self.age_secs:.1f} s behind a transaction not visible here"
        age = ("?" if self.holder_transaction_secs is None
               else f"{self.holder_transaction_secs:.1f} s")
        return (f"events waiting {self.age_secs:.1f} s behind backend pid {self.holder_pid}"
                f" (database {self.holder_database!r}, application"
                f" {self.holder_application!r}, transaction {age} old,"
                f" state {self.holder_state!r})")
