"""Typed errors of the projection runtime."""

from __future__ import annotations

import psycopg

from event_store import Position


class ProjectionError(Exception):
    """Base of the runtime's own errors."""


class InvalidProjector(ProjectionError):
    """A projector declaration the runtime cannot run (bad name, table clash, ...)."""


class UnknownProjection(ProjectionError):
    """A name (or logical table) that no registered projector declares."""


class Retired(ProjectionError):
    """The build this worker writes was replaced, reset or taken over: stop, write nothing."""


class EventFailed(ProjectionError):
    """A handler failed on one event; the build stops there until a retry succeeds."""

    def __init__(self, position: Position | None, after: Position, error: str) -> None:
        where = position.encode() if position is not None else f"after {after.encode()}"
        super().__init__(f"failed at position {where}: {error}")
        self.position = position
        self.after = after
        self.error = error
        self.where = where


def is_transient(exc: BaseException) -> bool:
    """Connection trouble, deadlocks, serialization failures, lock timeouts: retry as is.
    Anything else that a batch raises is the event's (or the handler's) fault."""
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError | OSError)
