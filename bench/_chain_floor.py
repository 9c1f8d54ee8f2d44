"""The hash chain's floor (issue 11), measured beside bench/event_store.py's appends.

Each event's link is sha256 over its ids, type, metadata, time and the sha256 of its data's
canonical text (migrations 0011 and 0040): two digests an event, and the texts they hash.
Here PostgreSQL computes just those, over events the benchmark appended, in one SELECT that
stores nothing. An append statement that chains cannot do less work than this, so
`before / (before + digests)` bounds the chained append's ratio to the unchained one.
"""

from __future__ import annotations

import time
from typing import Any

ROWS = 20_000

_COPY = """CREATE TEMP TABLE chain_floor AS
SELECT event_id, stream_id, version, type, metadata, data FROM events
 WHERE type = 'MessageSent' LIMIT %s"""
# the same columns read, with and without the digests
_BARE = """SELECT count(*) FROM chain_floor
 WHERE event_id IS NOT NULL AND stream_id <> '' AND version > 0 AND type <> ''
   AND metadata IS NOT NULL AND data IS NOT NULL"""
_DIGESTS = """SELECT count(sha256(event_link_fields(event_id, stream_id, version, type, metadata,
                                    '1765000000000000', event_data_hash(data))))
  FROM chain_floor"""


async def digests_us_per_event(conn: Any, rounds: int = 5) -> float:
    """Microseconds an event of the two digests alone (best of `rounds` each)."""
    await conn.execute("DROP TABLE IF EXISTS chain_floor")
    await conn.execute(_COPY, (ROWS,))
    await conn.execute("ANALYZE chain_floor")
    rows = (await (await conn.execute("SELECT count(*) FROM chain_floor")).fetchone())[0]
    if not rows:
        raise RuntimeError("no MessageSent events to hash")

    async def best(statement: str) -> float:
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            await (await conn.execute(statement)).fetchall()
            times.append(time.perf_counter() - start)
        return min(times)

    bare, digests = await best(_BARE), await best(_DIGESTS)
    await conn.execute("DROP TABLE chain_floor")
    return float(max(digests - bare, 0.0) / rows * 1e6)
