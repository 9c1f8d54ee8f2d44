"""Projector runtime: checkpoints in the same transaction as the writes, catch-up then
live, zero-downtime rebuilds into versioned schemas, leadership across nodes, and
read-your-writes waits. Imports event_store, never the application."""

from projections.catalog import Build
from projections.errors import (
    EventFailed,
    InvalidProjector,
    ProjectionError,
    Retired,
    UnknownProjection,
)
from projections.host import ProjectionHost
from projections.options import RunnerOptions
from projections.projector import (
    EVERY_EVENT,
    VIEWS_SCHEMA,
    ProjectionContext,
    Projector,
    on,
    read_model,
    schema_name,
)
from projections.runner import ProjectionRunner
from projections.status import ProjectionStatus, RebuildProgress, read_status
from projections.watcher import ProjectionWatcher

__all__ = [
    "EVERY_EVENT",
    "VIEWS_SCHEMA",
    "Build",
    "EventFailed",
    "InvalidProjector",
    "ProjectionContext",
    "ProjectionError",
    "ProjectionHost",
    "ProjectionRunner",
    "ProjectionStatus",
    "ProjectionWatcher",
    "Projector",
    "RebuildProgress",
    "Retired",
    "RunnerOptions",
    "UnknownProjection",
    "on",
    "read_model",
    "read_status",
    "schema_name",
]
