"""Which database a command talks to: DATABASE_URL, else the embedded one."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from chatalot.config import Settings
from chatalot.db import embedded_postgres, ensure_database, with_database

log = logging.getLogger(__name__)


@contextlib.contextmanager
def resolve_database(settings: Settings) -> Iterator[str]:
    if settings.database_url:
        yield settings.database_url
        return
    log.info("no DATABASE_URL: starting embedded PostgreSQL in %s", settings.data_dir / "pg")
    with embedded_postgres(settings.data_dir.resolve()) as admin_url:
        url = with_database(admin_url, "chatalot")
        ensure_database(url)
        yield url
