"""Where every projector stands: position, lag in events and seconds, state, last error.

Read from the database alone, so any process (the app, the CLI) sees what the runner that
leads a projector is doing, wherever it runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import psycopg

from event_store import Position
from projections.catalog import Build, active_builds, load_builds
from projections.leadership import LOCK_CLASS, lock_name

Conn = psycopg.AsyncConnection[Any]

_AFTER = (
    "(e.epoch, e.transaction_id, e.position) > (%(epoch)s, %(xid)s::bigint, %(seq)s)"
    " AND (e.epoch, e.transaction_id) < ((SELECT epoch FROM event_store_meta),"
    " pg_snapshot_xmin(pg_current_snapshot())::text::bigint)"
)
_LAG = (
    f"SELECT (SELECT count(*) FROM events e WHERE {_AFTER}),"
    " (SELECT extract(epoch FROM clock_timestamp() - e.recorded_at)::float8"
    f" FROM events e WHERE {_AFTER}"
    " ORDER BY e.epoch, e.transaction_id, e.position LIMIT 1)"
)

_HELD = """
SELECT k FROM unnest(%s::text[]) AS k
 WHERE EXISTS (SELECT 1 FROM pg_locks l
                WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s::oid
                  AND l.objid::text::bigint = (hashtext(k)::bigint & 4294967295))
"""


STALLED_AFTER = 10.0
"""A build with no batch committed for this long has no current rate (and no ETA)."""


class RebuildProgress(msgspec.Struct, kw_only=True):
    """A build in progress beside the active one (or a first build)."""

    version: int
    events_done: int
    events_total: int
    """Events done plus the events a reader can see after its checkpoint now."""
    rate: float | None
    """Events/s over its last few seconds (None before two batches, or when stalled)."""
    eta_seconds: float | None

    def describe(self) -> str:
        text = f"{self.events_done:,} of {self.events_total:,} events"
        if self.rate:
            text += f", {self.rate:,.0f} events/s"
        if self.eta_seconds is not None:
            text += f", ETA {format_seconds(self.eta_seconds)}"
        return text


def format_seconds(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class ProjectionStatus(msgspec.Struct, kw_only=True):
    name: str
    version: int | None
    """The version that answers queries (None before a first build exists)."""
    state: str
    """live | rebuilding | failed | stopped (no runner holds it and it is behind)"""
    position: str | None
    lag_events: int
    lag_seconds: float
    error: str | None = None
    """`at position <p>: <error>` of the last failure, until a retry succeeds."""
    running: bool = False
    building_version: int | None = None
    events_done: int = 0
    events_total: int = 0

    @property
    def progress(self) -> float | None:
        """Share of the log a build in progress has loaded (None when none is)."""
        if self.state != "rebuilding" or self.building_version is None:
            return None
        return self.events_done / self.events_total if self.events_total else 1.0

    @property
    def label(self) -> str:
        """The state with a rebuild's progress: live / rebuilding 42% / failed / stopped."""
        progress = self.progress
        if progress is not None:
            return f"rebuilding {int(progress * 100)}%"
        return self.state

    rate: float | None = None
    """Events/s of the build in progress (see `rebuild`)."""

    @property
    def rebuild(self) -> RebuildProgress | None:
        if self.state != "rebuilding" or self.building_version is None:
            return None
        remaining = max(self.events_total - self.events_done, 0)
        rate = self.rate if self.rate and self.rate > 0 else None
        return RebuildProgress(
            version=self.building_version, events_done=self.events_done,
            events_total=self.events_total, rate=round(rate, 1) if rate else None,
            eta_seconds=round(remaining / rate, 1) if rate else None,
        )

    def describe(self) -> str:
        """The one-line state for people: live / rebuilding n% (done of total events,
        rate, ETA) / failed at position p: e."""
        if self.state == "failed":
            return f"failed {self.error}"
        rebuild = self.rebuild
        if rebuild is not None:
            return f"{self.label} ({rebuild.describe()})"
        return self.label


async def lag(conn: Conn, position: Position) -> tuple[int, float]:
    """Events committed after `position` that a reader can see, and the age of the oldest."""
    cur = await conn.execute(
        _LAG, {"epoch": position.epoch, "xid": position.transaction_id,
               "seq": position.sequence}
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), float(row[1] or 0.0)


async def held_locks(conn: Conn, keys: list[str]) -> set[str]:
    cur = await conn.execute(_HELD, (keys, LOCK_CLASS))
    return {row[0] for row in await cur.fetchall()}


async def read_status(conn: Conn, declared: Iterable[str] = (),
                      consumed: Mapping[str, Position] | None = None
                      ) -> list[ProjectionStatus]:
    """Every projector declared here or known to the database, sorted by name.

    `consumed`: positions active builds are known to have reached (the watcher's), which
    may be ahead of their checkpoints: a live worker saves its checkpoint late when the
    events it passed were none of its business (projections/live.py)."""
    builds = await load_builds(conn)
    active = await active_builds(conn)
    by_name: dict[str, list[Build]] = {name: [] for name in declared}
    for build in builds:
        by_name.setdefault(build.name, []).append(build)
    keys = [lock_name(b.name, b.version) for b in builds if b.state != "retired"]
    held = await held_locks(conn, keys) if keys else set()
    result = []
    for name in sorted(by_name):
        result.append(await _status(conn, name, by_name[name], active.get(name), held,
                                    (consumed or {}).get(name)))
    return result


async def _status(
    conn: Conn, name: str, builds: list[Build], active_id: int | None, held: set[str],
    consumed: Position | None = None,
) -> ProjectionStatus:
    active = next((b for b in builds if b.build == active_id), None)
    if active is None:
        return ProjectionStatus(
            name=name, version=None, state="stopped", position=None, lag_events=0,
            lag_seconds=0.0,
        )
    building = [b for b in builds if b.state == "bulk" or (
        b.state == "live" and b.build != active.build)]
    target = building[-1] if building else None
    position = active.position
    if consumed is not None and consumed > position:
        position = consumed
    lag_events, lag_seconds = await lag(conn, position)
    running = any(lock_name(b.name, b.version) in held for b in [active, *building])
    failed = next((b for b in [*building, active] if b.error is not None), None)
    status = ProjectionStatus(
        name=name,
        version=active.version,
        state="live",
        position=position.encode(),
        lag_events=lag_events,
        lag_seconds=round(lag_seconds, 3) if lag_events else 0.0,
        running=running,
    )
    if target is not None:
        remaining = lag_events if target is active else (await lag(conn, target.position))[0]
        status.building_version = target.version
        status.events_done = target.events_done
        status.events_total = target.events_done + remaining
        status.rate = target.rate if target.idle_for < STALLED_AFTER else None
        status.state = "rebuilding"
    if failed is not None:
        status.state = "failed"
        status.error = f"at position {failed.failed_position}: {failed.error}"
    elif not running and lag_events:
        status.state = "stopped"
    return status
