"""Decision state shared by the file commands: usage (quota and rate), blob references
and pins, the blocked hashes. Everything that takes a `tx` runs inside a command's
transaction; `pin_blobs` is its own short transaction, before the command (see
migrations/0010_files.sql for why pins exist)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool

from chatalot.command_tx import CommandTx as Tx
from chatalot.domain.files.rules import Usage

PIN_LIFETIME = timedelta(hours=1)


async def lock_usage(tx: Tx, user_id: uuid.UUID) -> Usage:
    """The uploader's usage row, locked until commit: their uploads decide one at a time."""
    await tx.execute("INSERT INTO file_usage (user_id) VALUES (%s) ON CONFLICT DO NOTHING",
                     (user_id,))
    row = await tx.fetchone(
        "SELECT bytes_used, recent FROM file_usage WHERE user_id = %s FOR UPDATE", (user_id,))
    assert row is not None
    return Usage(int(row["bytes_used"]), list(row["recent"]))


async def save_usage(tx: Tx, user_id: uuid.UUID, usage: Usage) -> None:
    await tx.execute("UPDATE file_usage SET bytes_used = %s, recent = %s WHERE user_id = %s",
                     (usage.bytes_used, list(usage.recent), user_id))


async def read_usage(pool: AsyncConnectionPool[Any], user_id: uuid.UUID) -> Usage:
    """Without a lock: the early check before an upload's bytes are read."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT bytes_used, recent FROM file_usage WHERE user_id = %s", (user_id,))
        row = await cur.fetchone()
    return Usage(int(row[0]), list(row[1])) if row else Usage(0, [])


async def blocked(conn: Any, hashes: Iterable[str]) -> tuple[uuid.UUID, str] | None:
    """The block-list entry matching any of `hashes`, if one does."""
    cur = await conn.execute(
        "SELECT hash_id, sha256 FROM file_blocked_hashes WHERE sha256 = ANY(%s)"
        " ORDER BY sha256 LIMIT 1", (list(set(hashes)),))
    row = await cur.fetchone()
    return (row[0], row[1]) if row else None


async def pin_blobs(pool: AsyncConnectionPool[Any], blobs: Sequence[tuple[str, int]]
                    ) -> list[uuid.UUID]:
    """Make sure each blob has a row and pin it, in one committed transaction, BEFORE its
    bytes are placed: the upsert waits for a collector holding the row, and a collector
    that comes later sees the pin and leaves the bytes alone."""
    pins = []
    async with pool.connection() as conn, conn.transaction():
        for sha256, size in sorted(set(blobs)):
            await conn.execute(
                "INSERT INTO file_blobs (sha256, size_bytes) VALUES (%s, %s)"
                " ON CONFLICT (sha256) DO UPDATE SET size_bytes = excluded.size_bytes",
                (sha256, size))
            pin = uuid.uuid4()
            await conn.execute(
                "INSERT INTO file_blob_pins (pin_id, sha256, expires_at)"
                " VALUES (%s, %s, now() + %s)", (pin, sha256, PIN_LIFETIME))
            pins.append(pin)
    return pins


async def unpin(pool: AsyncConnectionPool[Any], pins: Sequence[uuid.UUID]) -> None:
    """After a refused or failed upload (a successful one unpins in its transaction)."""
    if pins:
        async with pool.connection() as conn:
            await conn.execute("DELETE FROM file_blob_pins WHERE pin_id = ANY(%s)", (list(pins),))


async def reference(tx: Tx, hashes: Sequence[str], pins: Sequence[uuid.UUID]) -> None:
    """One more reference to each blob (the pins made sure the rows and bytes exist)."""
    for sha256 in sorted(hashes):
        await tx.execute("UPDATE file_blobs SET refs = refs + 1 WHERE sha256 = %s", (sha256,))
    if pins:
        await tx.execute("DELETE FROM file_blob_pins WHERE pin_id = ANY(%s)", (list(pins),))


async def release(tx: Tx, hashes: Sequence[str]) -> None:
    """One reference fewer to each blob; the collector removes those left at zero."""
    for sha256 in sorted(hashes):
        await tx.execute("UPDATE file_blobs SET refs = refs - 1 WHERE sha256 = %s", (sha256,))
