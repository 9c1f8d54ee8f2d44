"""Backup and restore rates (issue 12): `chatalot backup` and `chatalot restore` against the
raw COPY they are built on, measured in the same run on the same log.

Baselines: the backup against a bare `COPY ... TO STDOUT` of the same tables into memory
(no gzip, no file); the restore against a bare `COPY ... FROM STDIN` of those bytes into a
freshly migrated database (no gzip, no checks, no epoch step). Also the file's size
against the raw COPY bytes. BENCH_GZIP_LEVEL sets the backup's gzip level (default 6,
as `chatalot backup`).
"""

from __future__ import annotations

import base64
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import psycopg
from psycopg import sql

from _common import Timer, progress, ratio_result, run_database_bench  # isort: skip
from chatalot.backup import backup, restore
from chatalot.db import MIGRATIONS_DIR, drop_database, ensure_database, make_pool, with_database
from event_store import EventRegistry, EventStore, NewEvent
from event_store.migrations import migrate

LEVEL = int(os.environ.get("BENCH_GZIP_LEVEL", "6"))


class MessageSent(msgspec.Struct, frozen=True):
    channel_id: str
    sender_id: str
    ciphertext: str
    n: int


async def fill(url: str, events: int) -> None:
    pool = make_pool(url, min_size=1, max_size=4)
    await pool.open(wait=True)
    store = EventStore(pool, EventRegistry([MessageSent]))
    await store.start()
    try:
        for start in range(0, events, 1000):
            # end-to-end encrypted bodies: random bytes, which gzip cannot shrink
            batch = [NewEvent(MessageSent(f"c-{start % 97}", f"u-{n % 13}",
                                          base64.b64encode(os.urandom(120)).decode(), n))
                     for n in range(start, min(start + 1000, events))]
            await store.append(f"channel-{start // 1000}", batch)
    finally:
        await store.close()
        await pool.close()


def tables(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as conn:
        return [(t, conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(t))).fetchone()[0])  # type: ignore[index]
            for t in ("event_store_meta", "events")]


def raw_copy_out(url: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with psycopg.connect(url) as conn:
        for name, _ in tables(url):
            chunks: list[bytes] = []
            with conn.cursor().copy(sql.SQL("COPY {} TO STDOUT").format(
                    sql.Identifier(name))) as copy:
                chunks.extend(bytes(data) for data in copy)
            out[name] = b"".join(chunks)
    return out


def raw_copy_in(url: str, data: dict[str, bytes]) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM event_store_meta")
        for name, payload in data.items():
            with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(
                    sql.Identifier(name))) as copy:
                copy.write(payload)


async def run(quick: bool, url: str) -> list[dict[str, Any]]:
    events = 50_000 if quick else 400_000
    await migrate(url, MIGRATIONS_DIR)
    progress(f"appending {events:,} events")
    await fill(url, events)
    rows = sum(count for _, count in tables(url))
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="chatalot-bench-backup-") as tmp:
        file = Path(tmp) / "b.gz"
        with Timer() as raw_out:
            data = raw_copy_out(url)
        with Timer() as ours_out:
            backup(url, file, on_start=lambda total: None, compresslevel=LEVEL)
        results.append(ratio_result("backup rate", rows / ours_out.elapsed, "rows/s",
                                    "raw COPY TO memory", rows / raw_out.elapsed, 0.2))
        raw_bytes = sum(len(v) for v in data.values())
        results.append({"metric": "backup file size", "value": file.stat().st_size,
                        "unit": "bytes", "baseline": "raw COPY bytes",
                        "baseline_value": raw_bytes,
                        "ratio": round(file.stat().st_size / raw_bytes, 3)})
        targets = [with_database(url, f"{psycopg.conninfo.conninfo_to_dict(url)['dbname']}_{s}")
                   for s in ("raw", "ours")]
        try:
            for target in targets:
                ensure_database(target)
            await migrate(targets[0], MIGRATIONS_DIR)
            with Timer() as raw_in:
                raw_copy_in(targets[0], data)
            started = time.perf_counter()
            await restore(targets[1], file, on_start=lambda total: None)
            ours_in = time.perf_counter() - started
        finally:
            for target in targets:
                drop_database(target)
        results.append(ratio_result("restore rate", rows / ours_in, "rows/s",
                                    "raw COPY FROM into a migrated database",
                                    rows / raw_in.elapsed, 0.2))
    return results


if __name__ == "__main__":
    run_database_bench("backup", __doc__ or "", run)
