"""Which node runs a projector: a PostgreSQL advisory lock per (projector, version), held
on one dedicated session per runner.

The lock dies with its session, so a node that crashes or loses its connection lets
another node take over on that node's next attempt. Holding it is an optimisation, not
the safety net: every batch also compares-and-sets its build's checkpoint, so a node that
has not yet noticed it lost the lock cannot apply anything twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import psycopg

if TYPE_CHECKING:
    from projections.catalog import Build

LOCK_CLASS: Final = 0x70726A73  # "prjs": the first key of every projection lock


def lock_name(name: str, version: int) -> str:
    return f"{name}:{version}"


class Leadership:
    """One session's advisory locks."""

    def __init__(self, conninfo: str, connect_kwargs: dict[str, Any], application_name: str):
        self._conninfo = conninfo
        self._kwargs = {
            **connect_kwargs,
            "autocommit": True,
            "application_name": application_name[:63],
            # notice a dead peer within ~30 s even without traffic
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        }
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def __aenter__(self) -> Leadership:
        self._conn = await psycopg.AsyncConnection.connect(self._conninfo, **self._kwargs)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            await self._conn.close()  # releases every lock of the session
            self._conn = None

    def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            raise psycopg.OperationalError("the leadership connection is closed")
        return self._conn

    async def try_acquire(self, key: str) -> bool:
        cur = await self._connection().execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (LOCK_CLASS, key)
        )
        row = await cur.fetchone()
        return bool(row and row[0])

    async def release(self, key: str) -> None:
        await self._connection().execute(
            "SELECT pg_advisory_unlock(%s, hashtext(%s))", (LOCK_CLASS, key)
        )

    async def check(self) -> None:
        """Raise if the session (and with it every lock) is gone."""
        await self._connection().execute("SELECT 1")

    async def backend_pid(self) -> int:
        return self._connection().info.backend_pid


def build_lock_name(build: Build) -> str:
    """The lock of one build that does not answer queries yet: whoever holds it loads it
    (the leader, or a dedicated process the leader handed it off to)."""
    return f"{build.name}:{build.version}:build:{build.build}"
