"""The SQL of the event store, in one place.

An append is one INSERT (one round trip in autocommit) of a batch that arrives as one JSON
array. The unique index on (stream_id, version) is the optimistic-concurrency guard and the
one on event_id the idempotency guard: when an append writes nothing, or violates either,
`RESOLVE` tells a re-append (answer as before) from a conflict.
"""

from __future__ import annotations

_APPEND = """
INSERT INTO events (epoch, stream_id, version, event_id, type, schema_version, data, metadata)
SELECT m.epoch, %(stream)s, {base} + b.ord, b.id, b.type, b.schema, b.data, b.meta
  FROM ROWS FROM (jsonb_to_recordset(%(batch)s::jsonb)
        AS (id uuid, type text, schema smallint, data jsonb, meta jsonb))
       WITH ORDINALITY AS b(id, type, schema, data, meta, ord),
       event_store_meta m
 {guard}
 ORDER BY b.ord
{conflict}
RETURNING position, epoch, transaction_id, version
"""
_CURRENT = "(SELECT coalesce(max(v.version), 0) FROM events v WHERE v.stream_id = %(stream)s)"


def append_statement(mode: str, *, partial_ok: bool) -> str:
    """mode: "any", "no_stream" or "exact". `partial_ok`: skip conflicting rows instead of
    failing the statement (only inside a caller's transaction, which is then rolled back)."""
    base, guard = {
        "any": (_CURRENT, ""),
        "no_stream": ("0", ""),
        "exact": ("%(expected)s", f"WHERE {_CURRENT} = %(expected)s"),
    }[mode]
    conflict = "ON CONFLICT DO NOTHING" if partial_ok else ""
    return _APPEND.format(base=base, guard=guard, conflict=conflict)


RESOLVE = """
SELECT e.stream_id = %(stream)s AND e.type = b.type AND e.data = b.data AND e.metadata = b.meta,
       e.position, e.epoch, e.transaction_id, e.version, b.ord
  FROM ROWS FROM (jsonb_to_recordset(%(batch)s::jsonb)
        AS (id uuid, type text, schema smallint, data jsonb, meta jsonb))
       WITH ORDINALITY AS b(id, type, schema, data, meta, ord)
  JOIN events e ON e.event_id = b.id
 ORDER BY b.ord
"""

# The oldest transaction still running, once per statement.
_XMIN = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"

# Taken by ANY writers retrying after a lost race, so they take turns on a hot stream.
STREAM_LOCK = "SELECT pg_advisory_xact_lock(1702261620, hashtext(%s))"  # 1702261620: "evst"

STREAM_VERSION = "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = %s"

COLUMNS = (
    "e.position, e.epoch, e.transaction_id, e.stream_id, e.version,"
    " e.event_id, e.type, e.schema_version, e.data::text, e.metadata::text, e.recorded_at,"
    " e.redacted"
)

# Only rows of transactions older than every transaction still running: a row that commits
# late has a smaller transaction id than the horizon until it commits, so nothing is skipped.
VISIBLE = (
    "(e.epoch, e.transaction_id, e.position) > (%s, %s, %s)"
    f" AND (e.epoch, e.transaction_id) < (%s, {_XMIN})"
)
# Qualified names: a bare `transaction_id` would sort by the output column and lose the index.
ORDER = " ORDER BY e.epoch, e.transaction_id, e.position LIMIT %s"

CATEGORY = "e.stream_id LIKE %s"  # the category is the stream id's prefix before "-"

HELD_BACK = (
    "SELECT EXISTS (SELECT 1 FROM events e WHERE e.epoch = %s"
    f" AND e.transaction_id >= {_XMIN})"
)

HEAD = (
    "SELECT e.position, e.epoch, e.transaction_id FROM events e"
    f" WHERE (e.epoch, e.transaction_id) < (%s, {_XMIN})"
    " ORDER BY e.epoch DESC, e.transaction_id DESC, e.position DESC LIMIT 1"
)


def category_pattern(category: str) -> str:
    escaped = category.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "-%"
