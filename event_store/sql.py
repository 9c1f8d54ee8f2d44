"""The SQL of the event store, in one place.

An append is one INSERT (one round trip in autocommit) of a batch that arrives as one JSON
array. The unique index on (stream_id, version) is the optimistic-concurrency guard and the
one on event_id the idempotency guard: when an append writes nothing, or violates either,
`RESOLVE` tells a re-append (answer as before) from a conflict.
"""

from __future__ import annotations

import functools

# Every row carries `hash`, the link of its stream's chain (migration 0011: event_link over
# the previous link, its ids, type, metadata, time and event_data_hash(data)), computed in
# the append statement from the head it reads: inline for one event, by event_links
# (migration 0043) for a batch, or by event_batch_hashes where installed (0044, `native`).
# A new stream (NO_STREAM) starts from no link and reads no head: if the stream exists,
# version 1 is taken and the append conflicts anyway.
_IN = (
    "INSERT INTO events (epoch, stream_id, version, event_id, type, schema_version, data,"
    " metadata, recorded_at, data_hash, hash)"
)
_RETURNING = "RETURNING position, epoch, transaction_id, version"
_RECORDSET = """jsonb_to_recordset(%(batch)s::jsonb)
            AS (id uuid, type text, schema smallint, data jsonb, meta jsonb)"""
_HEAD = """head AS MATERIALIZED (
    SELECT h.version, h.hash FROM events h WHERE h.stream_id = %(stream)s
     ORDER BY h.version DESC LIMIT 1
)"""
# Inside a caller's transaction, whose id may be older than the stream's head: the log is
# ordered by transaction id, so appending there would let readers see the new event before
# the one it follows. The head's writer is checked in the same statement (this CTE), and
# conflicting rows are skipped (not raised, which would abort the caller's transaction)
# and then judged.
_HEAD_IN_TX = """head AS MATERIALIZED (
    SELECT h.version, h.hash,
           (h.epoch, h.transaction_id) > (m.epoch, pg_current_xact_id()::text::bigint) AS younger
      FROM events h, event_store_meta m
     WHERE h.stream_id = %(stream)s
     ORDER BY h.version DESC LIMIT 1
)"""
_HEAD_VERSION = "coalesce((SELECT version FROM head), 0)"
_NOT_YOUNGER = "NOT EXISTS (SELECT 1 FROM head WHERE head.younger)"
_START = {  # mode: (the version before the first event, the link before it)
    "any": (_HEAD_VERSION, "(SELECT hash FROM head)"),
    "no_stream": ("0", "NULL::bytea"),
    "exact": ("%(expected)s", "(SELECT hash FROM head)"),
}

_ONE = """SELECT m.epoch, %(stream)s, v.version, b.id, b.type, b.schema, b.data, b.meta, now(),
       b.dh, event_link({prev}, b.id, %(stream)s, v.version, b.type, b.meta, now(), b.dh)
  FROM (SELECT b.*, event_data_hash(b.data) AS dh
          FROM jsonb_to_recordset(%(batch)s::jsonb)
            AS b(id uuid, type text, schema smallint, data jsonb, meta jsonb)
        OFFSET 0) b,  -- a fence: the data's hash is computed once, not once per use
       (SELECT ({base})::bigint + 1 AS version) v, event_store_meta m"""

# A batch reads its JSON array once: `batch` holds each row with its data hash and its link
# input (the versions follow the head's; the time's text once: all share now()); `links`
# chains the inputs in one call, event_links (migration 0043: sha256(previous link || input),
# as event_link does, the links end to end, 32 bytes each), and each row takes its own link
# with substring. Before, the links came back as an array and the JSON array was read a
# second time, zipped with them (ROWS FROM ..., unnest); before that, a recursive CTE was
# merge-joined back to the rows (docs/log.md, figures).
_BATCH = """batch AS MATERIALIZED (
    SELECT r.id, r.type, r.schema, r.data, r.meta, r.ord, d.dh,
           event_link_fields(r.id, %(stream)s, ({base})::bigint + r.ord, r.type, r.meta,
                             (SELECT event_recorded_us(now())), d.dh) AS input
      FROM ROWS FROM ({recordset}) WITH ORDINALITY AS r(id, type, schema, data, meta, ord),
           LATERAL (SELECT event_data_hash(r.data) AS dh OFFSET 0) d  -- once per row
),
links AS MATERIALIZED (
    {links}
)"""
_LINKS = "SELECT event_links({prev}, array_agg(input ORDER BY ord)) AS hashes FROM batch"
UNROLLED = 4
"""Batches up to this size chain their links in the statement itself, one LATERAL each,
without the event_links call: its PL/pgSQL set-up is per call, most of a small batch's
chain cost."""


def _links(size: int) -> str:
    """The `links` CTE's query for a batch of `size` events (0: of any size)."""
    if not 2 <= size <= UNROLLED:
        return _LINKS
    first = "coalesce({prev}, '\\x'::bytea)"
    steps = [f"LATERAL (SELECT sha256({first if i == 1 else f'l{i - 1}.h'} || x.a[{i}]) AS h"
             f" OFFSET 0) l{i}" for i in range(1, size + 1)]
    return (f"SELECT {' || '.join(f'l{i}.h' for i in range(1, size + 1))} AS hashes"
            " FROM (SELECT array_agg(input ORDER BY ord) AS a FROM batch) x, "
            + ", ".join(steps))


_MANY = """SELECT m.epoch, %(stream)s, ({base})::bigint + b.ord, b.id, b.type, b.schema, b.data,
       b.meta, now(), b.dh, {link}
  FROM batch b, event_store_meta m"""
_LINK = "substring((SELECT hashes FROM links) FROM b.ord::int * 32 - 31 FOR 32)"

# With the native chain (event_store/chain_ext, migration 0044), one call of
# event_batch_hashes gives every data hash and link of the batch, 64 bytes an event. The
# batch's JSON is parsed once, in `batch_json`, for both that call and the rows: parsed
# twice (once where each reads %(batch)s::jsonb) it cost a batch of 100 about 3 us an event.
_NATIVE = """batch_json AS MATERIALIZED (SELECT %(batch)s::jsonb AS j),
hashes AS MATERIALIZED (
    SELECT event_batch_hashes({prev}, %(stream)s, ({base})::bigint,
                              (SELECT event_recorded_us(now())), (SELECT j FROM batch_json)) AS h
)"""
_NATIVE_ROWS = """ROWS FROM (jsonb_to_recordset((SELECT j FROM batch_json))
            AS (id uuid, type text, schema smallint, data jsonb, meta jsonb))
            WITH ORDINALITY AS {r}(id, type, schema, data, meta, ord)"""
_NATIVE_DH = "substring((SELECT h FROM hashes) FROM {r}.ord::int * 64 - 63 FOR 32)"
_NATIVE_LINK = "substring((SELECT h FROM hashes) FROM {r}.ord::int * 64 - 31 FOR 32)"
# in a transaction the rows are read twice (`first`, `rest`): kept, with their hashes
_NATIVE_BATCH = f"""{_NATIVE},
batch AS MATERIALIZED (
    SELECT r.id, r.type, r.schema, r.data, r.meta, r.ord, {_NATIVE_DH} AS dh,
           {_NATIVE_LINK} AS link
      FROM {_NATIVE_ROWS}
)""".replace("{r}", "r")
# in autocommit they stream into the INSERT, as before the chain
_NATIVE_MANY = f"""SELECT m.epoch, %(stream)s, ({{base}})::bigint + b.ord, b.id, b.type, b.schema,
       b.data, b.meta, now(), {_NATIVE_DH}, {_NATIVE_LINK}
  FROM {_NATIVE_ROWS}, event_store_meta m""".replace("{r}", "b")
# A call that works: the function exists and its library loads (EventStore.start).
NATIVE_PROBE = "SELECT event_batch_hashes(NULL, 's', 0, '0', '[]'::jsonb)"


def _with(*ctes: str) -> str:
    return "WITH " + ",\n".join(ctes) if ctes else ""


def append_statement(mode: str, *, batch: bool = False, size: int = 0,
                     native: bool = False) -> str:
    """An append in its own transaction (autocommit). mode: "any", "no_stream" or "exact";
    `size`: the batch's events (small batches chain their links in the statement);
    `native`: batches chain with event_batch_hashes (the database has it).

    Its transaction takes its id during the statement, after every transaction whose events
    the statement can see: nothing it appends can sort before its stream's head. The INSERT
    comes first (its query holds the CTEs): tests/event_store/pg_proxy.py knows an
    autocommit append by its first words."""
    return _append_statement(mode, batch, 0 if native else min(size, UNROLLED + 1), native)


@functools.cache  # formatting the text took 4-7 us of an append's client CPU
def _append_statement(mode: str, batch: bool, size: int, native: bool) -> str:
    base, prev = _START[mode]
    ctes = [] if mode == "no_stream" else [_HEAD]
    guard = f"WHERE {_HEAD_VERSION} = %(expected)s" if mode == "exact" else ""
    if batch:
        ctes.append(_NATIVE if native else _BATCH)
        rows, order = _NATIVE_MANY if native else _MANY, "ORDER BY b.ord"
    else:
        rows, order = _ONE, ""
    text = f"{_IN}\n{_with(*ctes)}\n{rows}\n{guard}\n{order}\n{_RETURNING}"
    return text.format(base=base, prev=prev, recordset=_RECORDSET, link=_LINK,
                       links=_links(size).format(prev=prev))


_APPEND_IN_TX = f"""{_with(_HEAD_IN_TX)}
{_IN}
{_ONE}
 WHERE {_NOT_YOUNGER}{{guard}}
ON CONFLICT DO NOTHING
{_RETURNING}
"""

# A batch of several events inside a transaction, whole or not at all, in one statement:
# only its first row may meet a concurrent append (versions are dense, so another writer
# reaches the batch's later versions only through its first), and the rest go in only if
# the first did. Ids already in the log stop the whole batch (a re-append, judged after).
_APPEND_BATCH_IN_TX = f"""{_with(_HEAD_IN_TX, "{batch}")},
first AS (
    {_IN}
    {_MANY}
     WHERE b.ord = 1 AND {_NOT_YOUNGER}{{guard}}
       AND NOT EXISTS (SELECT 1 FROM events e JOIN batch used ON e.event_id = used.id)
    ON CONFLICT DO NOTHING
    {_RETURNING}
),
rest AS (
    {_IN}
    {_MANY}
     WHERE b.ord > 1 AND EXISTS (SELECT 1 FROM first)
     ORDER BY b.ord
    ON CONFLICT DO NOTHING
    {_RETURNING}
)
SELECT * FROM first UNION ALL SELECT * FROM rest
"""


def append_in_transaction(mode: str, *, batch: bool, size: int = 0,
                          native: bool = False) -> str:
    """An append inside the caller's transaction; the arguments as append_statement's."""
    return _append_in_transaction(mode, batch, 0 if native else min(size, UNROLLED + 1),
                                  native)


@functools.cache
def _append_in_transaction(mode: str, batch: bool, size: int, native: bool) -> str:
    base, prev = _START[mode]
    guard = f" AND {_HEAD_VERSION} = %(expected)s" if mode == "exact" else ""
    text = _APPEND_BATCH_IN_TX if batch else _APPEND_IN_TX
    return text.replace("{batch}", _NATIVE_BATCH if native else _BATCH).format(
        base=base, prev=prev, guard=guard, recordset=_RECORDSET,
        link="b.link" if native else _LINK, links=_links(size).format(prev=prev))


# The stream's head, and whether a transaction younger than the caller's wrote it (never,
# when the caller's transaction has no id yet: it will be younger than every other).
HEAD_WRITER = """
SELECT h.version, coalesce(
       (h.epoch, h.transaction_id) > (m.epoch, pg_current_xact_id_if_assigned()::text::bigint),
       false)
  FROM events h, event_store_meta m
 WHERE h.stream_id = %s
 ORDER BY h.version DESC LIMIT 1
"""


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
XMIN = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"

# Taken by ANY writers retrying after a lost race, so they take turns on a hot stream.
STREAM_LOCK = "SELECT pg_advisory_xact_lock(1702261620, hashtext(%s))"  # 1702261620: "evst"
# The same locks for several streams, in one canonical order (by key): transactions that
# lock overlapping sets of streams this way queue, never deadlock.
STREAM_LOCKS = (
    "SELECT count(pg_advisory_xact_lock(1702261620, k)) FROM"
    " (SELECT DISTINCT hashtext(s) AS k FROM unnest(%s::text[]) s ORDER BY k) q"
)

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
    f" AND (e.epoch, e.transaction_id) < (%s, {XMIN})"
)
# Qualified names: a bare `transaction_id` would sort by the output column and lose the index.
ORDER = " ORDER BY e.epoch, e.transaction_id, e.position LIMIT %s"

CATEGORY = "e.stream_id LIKE %s"  # the category is the stream id's prefix before "-"

# Committed events that readers cannot reach yet (their transaction is not older than
# every transaction still running).
ANY_HELD = (
    "EXISTS (SELECT 1 FROM events e WHERE e.epoch = %s"
    f" AND e.transaction_id >= {XMIN})"
)

# Since when readers are held back, and by which backend: the one with the oldest
# transaction id (pg_stat_activity spans the cluster; without pg_read_all_stats another
# user's backend shows no details).
HELD_BACK = f"""
WITH hidden AS (
    SELECT min(e.recorded_at) AS since FROM events e
     WHERE e.epoch = %s AND e.transaction_id >= {XMIN}
)
SELECT extract(epoch FROM clock_timestamp() - hidden.since)::float8,
       a.pid, a.datname::text, a.application_name,
       extract(epoch FROM clock_timestamp() - a.xact_start)::float8, a.state
  FROM hidden
  LEFT JOIN LATERAL (
      SELECT pid, datname, application_name, xact_start, state FROM pg_stat_activity
       WHERE backend_xid IS NOT NULL ORDER BY age(backend_xid) DESC LIMIT 1
  ) a ON true
 WHERE hidden.since IS NOT NULL
"""

HEAD = (
    "SELECT e.position, e.epoch, e.transaction_id FROM events e"
    f" WHERE (e.epoch, e.transaction_id) < (%s, {XMIN})"
    " ORDER BY e.epoch DESC, e.transaction_id DESC, e.position DESC LIMIT 1"
)


def category_pattern(category: str) -> str:
    escaped = category.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "-%"
