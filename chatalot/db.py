"""Where the database comes from: a given URL, or an embedded PostgreSQL (pgserver)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or reuse) a PostgreSQL in `data_dir/pg`; stop it on exit."""
    import pgserver  # imported late: it is only needed without DATABASE_URL

    pg_dir = data_dir / "pg"
    pg_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pg_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def with_database(conninfo: str, dbname: str) -> str:
    return make_conninfo(conninfo, dbname=dbname)


def database_name(conninfo: str) -> str:
    return str(conninfo_to_dict(conninfo).get("dbname") or "postgres")


def ensure_database(conninfo: str, template: str | None = None) -> None:
    """Create the database named in `conninfo` if it does not exist (via `postgres`)."""
    name = database_name(conninfo)
    with psycopg.connect(with_database(conninfo, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return
        sql = f'CREATE DATABASE "{name}"'
        if template:
            sql += f' TEMPLATE "{template}"'
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):
            conn.execute(sql.encode())


def drop_database(conninfo: str) -> None:
    name = database_name(conninfo)
    with psycopg.connect(with_database(conninfo, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def make_pool(conninfo: str, *, min_size: int = 2, max_size: int = 20,
              timeout: float = 10.0) -> AsyncConnectionPool[Any]:
    """Autocommit connections: a single-statement append is one round trip. A caller waits
    at most `timeout` seconds for a connection (then PoolTimeout, a 503 for a request)."""
    return AsyncConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        kwargs={"autocommit": True},
        open=False,
        name="chatalot",
    )
