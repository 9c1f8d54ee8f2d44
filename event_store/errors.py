"""Typed errors: callers branch on the class, never on a message."""

from __future__ import annotations


class EventStoreError(Exception):
    """Base of every error raised by the event store."""


class InvalidAppend(EventStoreError):
    """Bad input to append (stream id, payload, metadata); raised before any write."""


class InvalidStreamId(InvalidAppend):
    pass


class PayloadTooLarge(InvalidAppend):
    pass


class NotEncodable(InvalidAppend):
    pass


class UnknownEventType(EventStoreError):
    """A type name or class that the registry does not know: never silently dropped."""


class ConcurrencyError(EventStoreError):
    """The stream was not at the expected version (`expected` None: an ANY append that lost
    the race for the next version every time it tried)."""

    def __init__(self, stream_id: str, expected: int | None, actual: int) -> None:
        wanted = "the next version, lost to other writers" if expected is None else expected
        super().__init__(f"stream {stream_id!r} is at version {actual}, expected {wanted}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class StreamOrderConflict(ConcurrencyError):
    """Inside a transaction: the stream's newest event was written by a transaction younger
    than the caller's, which committed meanwhile. The log is ordered by transaction, so an
    append now would reach readers before the event it follows; nothing was written. Run the
    whole transaction again from its first read (its decisions rest on what it read), never
    this statement alone."""

    def __init__(self, stream_id: str, actual: int) -> None:
        EventStoreError.__init__(
            self, f"stream {stream_id!r} (version {actual}) was appended by a younger"
            " transaction; run the transaction again")
        self.stream_id = stream_id
        self.expected = None
        self.actual = actual


class IdempotencyConflict(EventStoreError):
    """Event ids already in the log with other content (or only some of a batch)."""


class InvalidPosition(EventStoreError):
    """A position string that this store did not produce."""


class MigrationError(EventStoreError):
    """A migration could not be applied, or an applied one was edited."""


class EventNotFound(EventStoreError):
    pass
