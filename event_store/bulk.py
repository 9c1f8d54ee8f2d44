"""Many new streams of one event each, in one statement: loading a large log (benchmarks,
imports) at the speed of one INSERT, with the rows a loop of `append(..., NO_STREAM)`
would write: version 1, the chain's first link (migration 0011) computed by the same SQL
functions, the store's validation. All or nothing: if any stream or event id is already
in the log, nothing is written (no re-append answers: a loader makes new ids)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import psycopg

from event_store.errors import ConcurrencyError, IdempotencyConflict, InvalidAppend
from event_store.positions import Position
from event_store.records import AppendResult, NewEvent
from event_store.store import EventStore

Conn = psycopg.AsyncConnection[Any]

MAX_STREAMS = 10_000  # per call: one JSON parameter, a few MB at most

# The row `sql._ONE` writes for a NO_STREAM append (version 1, no previous link), per item
# of the array; its order is the order of the positions (and, in one transaction, of
# commit order). The fence keeps the data's hash computed once per row.
_NEW_STREAMS = """
INSERT INTO events (epoch, stream_id, version, event_id, type, schema_version, data,
                    metadata, recorded_at, data_hash, hash)
SELECT m.epoch, b.stream, 1, b.id, b.type, b.schema, b.data, b.meta, now(), b.dh,
       event_link(NULL::bytea, b.id, b.stream, 1, b.type, b.meta, now(), b.dh)
  FROM (SELECT b.*, event_data_hash(b.data) AS dh
          FROM ROWS FROM (jsonb_to_recordset(%(batch)s::jsonb)
               AS (stream text, id uuid, type text, schema smallint, data jsonb, meta jsonb))
               WITH ORDINALITY AS b(stream, id, type, schema, data, meta, ord)
        OFFSET 0) b, event_store_meta m
 ORDER BY b.ord
RETURNING position, epoch, transaction_id, stream_id
"""


def _encode(store: EventStore, items: Sequence[tuple[str, NewEvent]]) -> str:
    """The store's own checks and encoding (`EventStore._prepare`), one stream at a time."""
    if not items:
        raise InvalidAppend("append_new_streams needs at least one stream")
    if len(items) > MAX_STREAMS:
        raise InvalidAppend(f"at most {MAX_STREAMS} streams per call")
    rows: list[str] = []
    streams: set[str] = set()
    ids: set[str] = set()
    encode = msgspec.json.encode
    for stream_id, event in items:
        one = store._prepare(stream_id, [event])  # '[{"id":...}]', exactly as append sends
        rows.append('{"stream":' + encode(stream_id).decode() + "," + one[2:-1])
        streams.add(stream_id)
        ids.add(str(event.event_id))
    if len(streams) != len(rows):
        raise InvalidAppend("a stream appears twice: each item is a new stream")
    if len(ids) != len(rows):
        raise InvalidAppend("duplicate event ids in one append")
    return "[" + ",".join(rows) + "]"


async def append_new_streams(
    store: EventStore, items: Sequence[tuple[str, NewEvent]], *, conn: Conn | None = None
) -> list[AppendResult]:
    """Append each (stream, event) as a new stream (expected NO_STREAM), in one statement.

    With `conn`, joins the caller's transaction (a conflict then aborts it). Raises
    ConcurrencyError when a stream exists, IdempotencyConflict when an event id is used."""
    params = {"batch": _encode(store, items)}
    try:
        if conn is not None:
            rows = await (await conn.execute(_NEW_STREAMS, params)).fetchall()
        else:
            async with store.pool.connection() as own:
                rows = await (await own.execute(_NEW_STREAMS, params)).fetchall()
            store.committed()
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == "events_stream_id_version_key":
            detail = exc.diag.message_detail or ""  # Key (stream_id, version)=(s, 1) ...
            stream = detail.partition(")=(")[2].rpartition(", 1)")[0] or "?"
            raise ConcurrencyError(stream, 0, 1) from None
        raise IdempotencyConflict("an event id of the bulk append is already used") from None
    rows.sort(key=lambda r: r[0])
    return [AppendResult(r[3], 1, [Position(r[1], r[2], r[0])]) for r in rows]
