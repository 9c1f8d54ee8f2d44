"""The catalog of builds: which builds exist, which one answers queries, and the SQL that
creates, activates, retires and drops them.

Every function here runs on a connection the caller holds inside a transaction; the row of
`projection_versions` is the lock that orders concurrent planners, flips and resets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from event_store import Position
from projections.projector import VIEWS_SCHEMA, Projector, schema_name

Conn = psycopg.AsyncConnection[Any]

CHANNEL = "projections"
"""NOTIFY channel: `advance <name> <position>` (several such lines to a payload, one per
projector), `flip <name>`, `reset <name>`, `rebuild <name>`. Wake-ups only; the tables are
the truth."""

_BUILD_COLUMNS = (
    "build, name, version, state, epoch, transaction_id, sequence, events_done, created_at,"
    " extract(epoch FROM clock_timestamp() - retired_at)::float8, error, failed_position,"
    " rate, extract(epoch FROM clock_timestamp() - updated_at)::float8"
)


@dataclass(frozen=True)
class Build:
    build: int
    name: str
    version: int
    state: str
    position: Position
    events_done: int
    created_at: datetime
    retired_for: float | None
    error: str | None
    failed_position: str | None
    rate: float | None = None
    """Events/s over its last few seconds of batches, as its worker measured them."""
    idle_for: float = 0.0
    """Seconds since its last batch committed."""

    @property
    def schema(self) -> str:
        return schema_name(self.name, self.version, self.build)


def _build(row: Sequence[Any]) -> Build:
    return Build(
        build=row[0],
        name=row[1],
        version=row[2],
        state=row[3],
        position=Position(row[4], row[5], row[6]),
        events_done=row[7],
        created_at=row[8],
        retired_for=row[9],
        error=row[10],
        failed_position=row[11],
        rate=row[12],
        idle_for=row[13] or 0.0,
    )


async def load_builds(conn: Conn, name: str | None = None) -> list[Build]:
    where = "WHERE name = %s" if name is not None else ""
    cur = await conn.execute(
        f"SELECT {_BUILD_COLUMNS} FROM projection_builds {where} ORDER BY name, build",
        (name,) if name is not None else (),
    )
    return [_build(row) for row in await cur.fetchall()]


async def load_build(conn: Conn, build: int) -> Build | None:
    cur = await conn.execute(
        f"SELECT {_BUILD_COLUMNS} FROM projection_builds WHERE build = %s", (build,)
    )
    row = await cur.fetchone()
    return _build(row) if row else None


async def active_builds(conn: Conn) -> dict[str, int]:
    cur = await conn.execute(
        "SELECT name, active_build FROM projection_versions WHERE active_build IS NOT NULL"
    )
    return {row[0]: row[1] for row in await cur.fetchall()}


async def notify(conn: Conn, message: str) -> None:
    """Inside a transaction: delivered on commit, dropped on rollback."""
    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, message))


@dataclass
class Plan:
    """What the leader of one projector should run now."""

    active: Build | None
    run: list[Build] = field(default_factory=list)
    drop: list[Build] = field(default_factory=list)
    next_drop_in: float | None = None
    superseded: bool = False


async def plan(conn: Conn, projector: Projector, *, drop_delay: float) -> Plan:
    """Decide (and record) which builds the leader runs; creates the build it needs.

    - nothing active yet: a first build, active at once (it answers while it loads);
    - the active build is this version: run it; a requested rebuild adds a new build;
    - the active build is older: build this version beside it (automatic rebuild);
    - the active build is newer: another node runs newer code; run nothing here unless an
      operator asked for a rebuild from this node's code.
    """
    name = projector.name
    active_id, requested_at = await _lock_version_row(conn, name)
    builds = await load_builds(conn, name)
    active = next((b for b in builds if b.build == active_id), None)
    if active is None:
        build = await create_build(conn, projector)
        await activate(conn, projector, build, previous=None)
        return Plan(active=build, run=[build])
    current = [b for b in builds if b.state != "retired" and b.build != active.build]
    newest = max(b.created_at for b in builds)
    requested = requested_at is not None and requested_at > newest
    pending = [b for b in current if b.version == projector.version]
    stale = [b for b in current if b.version < projector.version]
    superseded = active.version > projector.version and not requested
    if superseded:
        stale += pending
        pending = []
    elif not pending and (active.version != projector.version or requested):
        pending.append(await create_build(conn, projector))
    for build in pending[:-1] + stale:
        await retire(conn, build.build)
    result = Plan(active=active, superseded=superseded)
    if active.version == projector.version:
        result.run.append(active)
    result.run += pending[-1:]
    for build in await load_builds(conn, name):
        if build.state != "retired":
            continue
        waited = build.retired_for or 0.0
        if waited >= drop_delay:
            result.drop.append(build)
        else:
            wait = drop_delay - waited
            result.next_drop_in = min(result.next_drop_in or wait, wait)
    return result


async def create_build(conn: Conn, projector: Projector) -> Build:
    cur = await conn.execute(
        f"INSERT INTO projection_builds (name, version) VALUES (%s, %s) RETURNING {_BUILD_COLUMNS}",
        (projector.name, projector.version),
    )
    row = await cur.fetchone()
    assert row is not None
    build = _build(row)
    await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(build.schema)))
    for statement in projector.table_statements(build.schema):
        await conn.execute(statement)
    return build


async def activate(
    conn: Conn, projector: Projector, build: Build, *, previous: Build | None
) -> None:
    """Point queries at `build`: the versions row and the views, in the caller's
    transaction. The previous build is only retired here; its schema is dropped later."""
    await conn.execute(
        "UPDATE projection_versions SET active_build = %s, flipped_at = clock_timestamp()"
        " WHERE name = %s",
        (build.build, projector.name),
    )
    if previous is not None:
        await retire(conn, previous.build)
    # Last, so the views' exclusive locks are held only for the commit.
    for table in projector.tables:
        view = sql.Identifier(VIEWS_SCHEMA, table)
        await conn.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(view))
        await conn.execute(
            sql.SQL("CREATE VIEW {} AS SELECT * FROM {}").format(
                view, sql.Identifier(build.schema, table)
            )
        )
    await notify(conn, f"flip {projector.name}")


async def retire(conn: Conn, build: int) -> None:
    await conn.execute(
        "UPDATE projection_builds SET state = 'retired', retired_at = clock_timestamp()"
        " WHERE build = %s AND state <> 'retired'",
        (build,),
    )


async def drop_build(conn: Conn, build: Build) -> None:
    """Drop a retired build's schema (waits for queries still reading it, up to a limit)."""
    await conn.execute("SET LOCAL lock_timeout = '5s'")
    await conn.execute(
        sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(build.schema))
    )
    await conn.execute(
        "DELETE FROM projection_builds WHERE build = %s AND state = 'retired'", (build.build,)
    )


async def _lock_version_row(conn: Conn, name: str) -> tuple[Any, Any]:
    """The projection's row, created if new and locked for this transaction:
    (active build id, rebuild requested at)."""
    await conn.execute(
        "INSERT INTO projection_versions (name) VALUES (%s) ON CONFLICT DO NOTHING", (name,)
    )
    cur = await conn.execute(
        "SELECT active_build, rebuild_requested_at FROM projection_versions"
        " WHERE name = %s FOR UPDATE",
        (name,),
    )
    row = await cur.fetchone()
    assert row is not None
    return row[0], row[1]


async def request_rebuild(conn: Conn, name: str) -> bool:
    """Ask the leader for a fresh build; False when one is already being built."""
    active, requested_at = await _lock_version_row(conn, name)
    builds = await load_builds(conn, name)
    building = [b for b in builds if b.state == "bulk" or (
        b.state == "live" and b.build != active)]
    pending = requested_at is not None and all(requested_at > b.created_at for b in builds)
    if building or pending or active is None:
        return False
    await conn.execute(
        "UPDATE projection_versions SET rebuild_requested_at = clock_timestamp()"
        " WHERE name = %s",
        (name,),
    )
    await notify(conn, f"rebuild {name}")
    return True


async def reset(conn: Conn, names: Iterable[str]) -> list[str]:
    """Development: forget every build of these projectors and drop their tables."""
    dropped: list[str] = []
    for name in names:
        await conn.execute(
            "SELECT 1 FROM projection_versions WHERE name = %s FOR UPDATE", (name,)
        )
        await conn.execute("DELETE FROM projection_versions WHERE name = %s", (name,))
        for build in await load_builds(conn, name):
            await conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(build.schema))
            )
            dropped.append(build.schema)
        await conn.execute("DELETE FROM projection_builds WHERE name = %s", (name,))
        await notify(conn, f"reset {name}")
    return dropped
