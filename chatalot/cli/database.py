"""Which database a command talks to: DATABASE_URL, else the embedded one."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import psycopg

from chatalot.config import Settings
from chatalot.db import embedded_postgres, ensure_database, with_database

log = logging.getLogger(__name__)


class DatabaseUnreachable(Exception):
    """One line for the operator instead of a traceback at start-up."""


def check_reachable(database_url: str, timeout_secs: int = 10) -> None:
    try:
        psycopg.connect(database_url, connect_timeout=timeout_secs).close()
    except psycopg.OperationalError as exc:
        # libpq's first line names host, port and cause; it never carries the password
        reason = str(exc).strip().splitlines()[0].removeprefix("connection failed: ")
        raise DatabaseUnreachable(f"DATABASE_URL: cannot connect: {reason}") from None


@contextlib.contextmanager
def resolve_database(settings: Settings) -> Iterator[str]:
    if settings.database_url:
        check_reachable(settings.database_url)
        yield settings.database_url
        return
    log.info("no DATABASE_URL: starting embedded PostgreSQL in %s", settings.data_dir / "pg")
    with embedded_postgres(settings.data_dir.resolve()) as admin_url:
        url = with_database(admin_url, "chatalot")
        ensure_database(url)
        yield url
