"""A tiny migration runner: numbered SQL files, applied once, in order, under a lock.

Each file runs in its own transaction and is recorded with its SHA-256; a file edited
after it was applied stops start-up, since the database no longer matches the code.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from event_store.errors import MigrationError

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK_KEY = 0x63686174616C6F  # arbitrary, stable advisory lock id


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load(directory: Path) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.fullmatch(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        number = int(match.group(1))
        if number in found:
            raise MigrationError(f"two migrations numbered {number:04d}")
        found[number] = Migration(number, path.name, path.read_text(encoding="utf-8"))
    return [found[n] for n in sorted(found)]


async def migrate(conninfo: str, directory: Path, *, upto: int | None = None,
                  **connect_kwargs: Any) -> list[str]:
    """Apply what is missing (up to number `upto`, when given: a restore first rebuilds the
    schema its backup was taken on); return the names applied. Safe to run from many nodes."""
    migrations = [m for m in load(directory) if upto is None or m.number <= upto]
    async with await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, **connect_kwargs
    ) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " number integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT number, name, checksum FROM schema_migrations")
            applied = {row[0]: (row[1], row[2]) for row in await cur.fetchall()}
            done: list[str] = []
            for migration in migrations:
                if migration.number in applied:
                    name, checksum = applied[migration.number]
                    if checksum != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.name} was edited after it was applied "
                            f"(as {name}); restore the original file and add a new migration"
                        )
                    continue
                try:
                    async with conn.transaction():
                        await conn.execute(migration.sql.encode())
                        await conn.execute(
                            "INSERT INTO schema_migrations (number, name, checksum)"
                            " VALUES (%s, %s, %s)",
                            (migration.number, migration.name, migration.checksum),
                        )
                except psycopg.Error as exc:
                    raise MigrationError(f"{migration.name} failed: {exc}") from None
                done.append(migration.name)
            return done
        finally:
            if not conn.closed:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
