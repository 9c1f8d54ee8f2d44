"""A generic PostgreSQL event store (psycopg 3 + msgspec). Knows nothing about chat."""

from event_store.errors import (
    ConcurrencyError,
    EventNotFound,
    EventStoreError,
    IdempotencyConflict,
    InvalidAppend,
    InvalidPosition,
    InvalidStreamId,
    MigrationError,
    NotEncodable,
    PayloadTooLarge,
    StreamOrderConflict,
    UnknownEventType,
)
from event_store.positions import START, Position
from event_store.records import (
    ANY,
    NO_STREAM,
    AppendResult,
    ExpectedVersion,
    HeldBack,
    Metadata,
    NewEvent,
    RecordedEvent,
)
from event_store.redaction import EventRedacted
from event_store.registry import EventRegistry
from event_store.store import EventStore
from event_store.subscription import Subscription
from event_store.wakeups import InProcessBus, PostgresNotifyBus, RedisBus, WakeupBus

__all__ = [
    "ANY",
    "NO_STREAM",
    "START",
    "AppendResult",
    "ConcurrencyError",
    "EventNotFound",
    "EventRedacted",
    "EventRegistry",
    "EventStore",
    "EventStoreError",
    "ExpectedVersion",
    "HeldBack",
    "IdempotencyConflict",
    "InProcessBus",
    "InvalidAppend",
    "InvalidPosition",
    "InvalidStreamId",
    "Metadata",
    "MigrationError",
    "NewEvent",
    "NotEncodable",
    "PayloadTooLarge",
    "Position",
    "PostgresNotifyBus",
    "RecordedEvent",
    "RedisBus",
    "StreamOrderConflict",
    "Subscription",
    "UnknownEventType",
    "WakeupBus",
]
