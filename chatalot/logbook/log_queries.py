"""Raw log access: events filtered and paged in commit order, for operators (the CLI) and
instance staff (GET /api/admin/events, /api/admin/streams/{id}).

The log itself is the source here, not a read model: what an operator inspects is what was
recorded. Pages stop at the readers' horizon (as every reader of the log does), so a
transaction that commits late never lands behind a cursor already handed out.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import msgspec
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from chatalot.contracts import iso
from chatalot.domain.errors import bad_request
from chatalot.domain.logbook.rules import MODERATED_CATEGORIES
from chatalot.logbook.contracts import EventItem, EventPage
from event_store import EventStore, InvalidPosition, Position
from event_store.sql import XMIN, category_pattern

_MAX_BIGINT = 2**63 - 1
# The readers' horizon once per statement (an InitPlan): bare, the stable function is
# evaluated again for every row a filter looks at (a time window's 20,000).
_HORIZON = f"(SELECT {XMIN} - 1)"
# A time window of at most this many events is read by time (the recorded_at index) and
# then sorted; a wider one by walking commit order, where its events are dense.
SMALL_WINDOW = 20_000
MAX_LIMIT = 500
DEFAULT_LIMIT = 100
_COLUMNS = sql.SQL(
    "e.position, e.epoch, e.transaction_id, e.stream_id, e.version, e.event_id, e.type,"
    " e.data::text AS data, e.metadata::text AS metadata, e.recorded_at, e.redacted")
_decode = msgspec.json.decode


class EventFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Every filter of protocol.md's event log entry; None is no filter. `after`/`before`
    are positions, exclusive; `since`/`until` are times, inclusive."""

    stream: str | None = None
    streams: tuple[str, ...] = ()  # any of these
    category: str | None = None
    types: tuple[str, ...] = ()
    actor: str | None = None
    correlation_id: str | None = None
    after: Position | None = None
    before: Position | None = None
    since: datetime | None = None
    until: datetime | None = None
    newest_first: bool = False
    # A community moderator's scope (chatalot/domain/logbook/rules.py): only the streams of
    # these communities; None: the whole log.
    communities_in: tuple[uuid.UUID, ...] | None = None


def parse_position(value: str | None, name: str) -> Position | None:
    if value is None:
        return None
    try:
        return Position.parse(value)
    except (InvalidPosition, ValueError):
        raise bad_request(f"{name} is not a position") from None


def parse_time(value: str | None, name: str) -> datetime | None:
    """An RFC 3339 time with its zone (400 bad_request otherwise)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise bad_request(f"{name} must be an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise bad_request(f"{name} needs a time zone (Z or +hh:mm)")
    return moment


def time_range(column: str, since: datetime | None, until: datetime | None
               ) -> tuple[list[sql.Composable], list[Any]]:
    """`since` inclusive; `until` inclusive of its whole millisecond (the protocol writes
    times to the millisecond)."""
    where: list[sql.Composable] = []
    params: list[Any] = []
    if since is not None:
        where.append(sql.SQL("{} >= %s").format(sql.SQL(column)))
        params.append(since)
    if until is not None:
        where.append(sql.SQL("{} < %s + interval '1 millisecond'").format(sql.SQL(column)))
        params.append(until)
    return where, params


def _conditions(f: EventFilter, epoch: int, keyed: str | None = None
                ) -> tuple[list[sql.Composable], list[Any]]:
    # Row comparisons are written `<=`/`>=`: the planner estimates one by its first column
    # alone, and `epoch < the current epoch` reads as "no rows", which made it walk the
    # whole log in commit order rather than take a filter's index (actor, stream).
    where: list[sql.Composable] = [
        sql.SQL(f"(e.epoch, e.transaction_id) <= (%s, {_HORIZON})")]
    params: list[Any] = [epoch]
    if f.stream is not None and keyed != "stream":
        where.append(sql.SQL("e.stream_id = %s"))
        params.append(f.stream)
    if f.streams:
        where.append(sql.SQL("e.stream_id = ANY(%s::text[])"))
        params.append(list(f.streams))
    if f.category is not None:
        if "-" not in f.category and keyed != "category":
            # The category index's key (migration 0026); the LIKE keeps out a stream id
            # without a '-', whose split_part is the whole id.
            where.append(sql.SQL("split_part(e.stream_id, '-', 1) = %s"))
            params.append(f.category)
        where.append(sql.SQL("e.stream_id LIKE %s"))
        params.append(category_pattern(f.category))
    if len(f.types) == 1:
        if keyed != "type":  # else written as the bounds of the type index's range
            where.append(sql.SQL("e.type = %s"))
            params.append(f.types[0])
    elif f.types:
        where.append(sql.SQL("e.type = ANY(%s::text[])"))
        params.append(list(f.types))
    if f.actor is not None:
        where.append(sql.SQL("e.metadata->>'actor_id' = %s"))
        params.append(f.actor)
    if f.correlation_id is not None and keyed != "correlation":
        where.append(sql.SQL("e.metadata->>'correlation_id' = %s"))
        params.append(f.correlation_id)
    if f.after is not None:
        where.append(sql.SQL("(e.epoch, e.transaction_id, e.position) >= (%s, %s, %s)"))
        params += list(successor(f.after))
    if f.before is not None:
        where.append(sql.SQL("(e.epoch, e.transaction_id, e.position) <= (%s, %s, %s)"))
        params += [f.before.epoch, f.before.transaction_id, f.before.sequence - 1]
    times, values = time_range("e.recorded_at", f.since, f.until)
    where += times
    params += values
    if f.communities_in is not None:
        where.append(sql.SQL(
            "split_part(e.stream_id, '-', 1) = ANY(%s::text[])"
            " AND e.data->>'community_id' = ANY(%s::text[])"))
        params += [list(MODERATED_CATEGORIES), [str(c) for c in f.communities_in]]
    return where, params


def successor(p: Position) -> tuple[int, int, int]:
    """The least (epoch, transaction_id, position) after `p`, within bigint."""
    if p.sequence < _MAX_BIGINT:
        return p.epoch, p.transaction_id, p.sequence + 1
    if p.transaction_id < _MAX_BIGINT:
        return p.epoch, p.transaction_id + 1, 0
    return p.epoch + 1, 0, 0


def to_item(row: dict[str, Any]) -> EventItem:
    return EventItem(
        position=Position(row["epoch"], row["transaction_id"], row["position"]).encode(),
        stream_id=row["stream_id"], version=row["version"], event_id=row["event_id"],
        type=row["type"], data=_decode(row["data"]), metadata=_decode(row["metadata"]),
        recorded_at=iso(row["recorded_at"]), redacted=row["redacted"])


def page_statement(f: EventFilter, epoch: int, limit: int, *, by_time: bool = False
                   ) -> tuple[sql.Composed, list[Any]]:
    """One page's statement and parameters (bench/audit.py explains it). `by_time`: the
    rows are those of a small time window (`small_window`), read by time then sorted."""
    direction = sql.SQL("DESC" if f.newest_first else "ASC")
    if len(f.types) > 1:
        # Each type's page through the type index in commit order, then merged: an
        # `= ANY` would read every row of every type and sort them.
        parts, params = [], []
        for t in dict.fromkeys(f.types):
            part, values = page_statement(msgspec.structs.replace(f, types=(t,)), epoch, limit,
                                          by_time=by_time)
            parts.append(sql.SQL("({})").format(part))
            params += values
        query = sql.SQL(
            "SELECT * FROM ({parts}) e"
            " ORDER BY e.epoch {d}, e.transaction_id {d}, e.position {d} LIMIT %s"
        ).format(parts=sql.SQL(" UNION ALL ").join(parts), d=direction)
        return query, [*params, limit]
    key = None if by_time else _key(f)
    if key is not None:
        return _keyed_page(f, epoch, limit, key, direction)
    where, params = _conditions(f, epoch)
    if by_time:
        # A small window's positions (index-only when time is the only filter), the page's
        # positions sorted out of them, then only those rows read and decoded. OFFSET 0
        # fences the planner off walking the whole log in commit order, which it guesses
        # cheap when the window is old: recorded_at follows commit order only roughly, so a
        # window cannot be turned into a commit-order range with the same answer.
        query = sql.SQL(
            "SELECT {cols} FROM events e JOIN ("
            "SELECT k.epoch, k.transaction_id, k.position FROM ("
            "SELECT e.epoch, e.transaction_id, e.position FROM events e WHERE {where}"
            " OFFSET 0) k ORDER BY k.epoch {d}, k.transaction_id {d}, k.position {d}"
            " LIMIT %s) p ON (e.epoch, e.transaction_id, e.position)"
            " = (p.epoch, p.transaction_id, p.position)"
            " ORDER BY e.epoch {d}, e.transaction_id {d}, e.position {d}"
        ).format(cols=_COLUMNS, where=sql.SQL(" AND ").join(where), d=direction)
        return query, [*params, limit]
    # Several streams: their rows through the stream index, then sorted (OFFSET 0, as
    # above: the planner guesses a walk cheap when the rows are old).
    source = (sql.SQL("(SELECT * FROM events e WHERE {where} OFFSET 0) e")
              if f.streams else sql.SQL("events e WHERE {where}"))
    query = sql.SQL(
        "SELECT {cols} FROM {source}"
        " ORDER BY e.epoch {d}, e.transaction_id {d}, e.position {d} LIMIT %s"
    ).format(cols=_COLUMNS, source=source.format(where=sql.SQL(" AND ").join(where)),
             d=direction)
    return query, [*params, limit]


# The indexes whose first column is a filter's value and the rest commit order
# (events_stream_order, events_type, events_category): a page is a range of one of them.
_KEYS = {"stream": "e.stream_id", "type": "e.type",
         "category": "split_part(e.stream_id, '-', 1)",
         "correlation": "(e.metadata->>'correlation_id')"}
_LOWEST = (-(2**31), -(2**63), -(2**63))


def _key(f: EventFilter) -> tuple[str, str] | None:
    """The most selective filter with an index in commit order: (its name, its value)."""
    if f.correlation_id is not None:  # one command's few events
        return "correlation", f.correlation_id
    if f.stream is not None:
        return "stream", f.stream
    if len(f.types) == 1:
        return "type", f.types[0]
    if f.category is not None and "-" not in f.category:
        return "category", f.category
    return None


def _keyed_page(f: EventFilter, epoch: int, limit: int, key: tuple[str, str],
                direction: sql.SQL) -> tuple[sql.Composed, list[Any]]:
    """A page as one index range read in order: `(key, epoch, transaction_id, position)`
    between (value, lowest) and (value, highest), ordered by the same columns. No
    `key = value`: with it the planner drops the key from the order, and then may walk the
    commit-order index instead, filtering (it estimates correlated filters as
    independent: a category's events that are all old cost a walk of everything after
    them). The bounds imply the equality, so the answer is the same."""
    name, value = key
    where, params = _conditions(f, epoch, keyed=name)
    column = sql.SQL(_KEYS[name])
    low: list[Any] = [value, *(successor(f.after) if f.after is not None else _LOWEST)]
    if f.before is not None:
        high = sql.SQL("(%s, %s, %s, %s)")
        high_params: list[Any] = [value, f.before.epoch, f.before.transaction_id,
                                  f.before.sequence - 1]
    else:  # the horizon, also among the conditions
        high = sql.SQL(f"(%s, %s, {_HORIZON}, %s)")
        high_params = [value, epoch, _MAX_BIGINT]
    row = sql.SQL("({}, e.epoch, e.transaction_id, e.position)").format(column)
    where += [sql.SQL("{} >= (%s, %s, %s, %s)").format(row),
              sql.SQL("{} <= {}").format(row, high)]
    query = sql.SQL(
        "SELECT {cols} FROM events e WHERE {where}"
        " ORDER BY {k} {d}, e.epoch {d}, e.transaction_id {d}, e.position {d} LIMIT %s"
    ).format(cols=_COLUMNS, where=sql.SQL(" AND ").join(where), k=column, d=direction)
    return query, [*params, *low, *high_params, limit]


async def small_window(conn: Any, f: EventFilter) -> bool:
    """Whether `f` has a time window of at most SMALL_WINDOW events (an index-only count
    that stops there)."""
    if (f.since is None and f.until is None) or len(f.types) > 1:
        return False  # several types: a merge of each type's range, time a filter
    times, params = time_range("recorded_at", f.since, f.until)
    cur = await conn.execute(sql.SQL(
        "SELECT count(*) FROM (SELECT FROM events WHERE {} LIMIT %s) w").format(
            sql.SQL(" AND ").join(times)), [*params, SMALL_WINDOW + 1])
    row = await cur.fetchone()
    return bool(row and row[0] <= SMALL_WINDOW)


async def page_rows(pool: AsyncConnectionPool[Any], store: EventStore, f: EventFilter,
                    limit: int) -> list[dict[str, Any]]:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        by_time = await small_window(conn, f)
        query, params = page_statement(f, store.epoch, limit, by_time=by_time)
        await cur.execute(query, params)
        rows: list[dict[str, Any]] = await cur.fetchall()
        return rows


def limit_of(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_request(f"limit must be 1-{MAX_LIMIT}")
    return limit


async def events_page(pool: AsyncConnectionPool[Any], store: EventStore, f: EventFilter,
                      cursor: str | None, limit: int | None) -> EventPage:
    """One page; `next_cursor` is the last item's position (the next page starts after it,
    in the page's direction), null on the last page."""
    size = limit_of(limit)
    at = parse_position(cursor, "cursor")
    if at is not None:
        f = msgspec.structs.replace(
            f, **({"before": _min(f.before, at)} if f.newest_first
                  else {"after": _max(f.after, at)}))
    rows = await page_rows(pool, store, f, size + 1)
    items = [to_item(r) for r in rows[:size]]
    return EventPage(items=items, next_cursor=items[-1].position if len(rows) > size else None)


def _max(a: Position | None, b: Position) -> Position:
    return b if a is None or b > a else a


def _min(a: Position | None, b: Position) -> Position:
    return b if a is None or b < a else a


async def iterate(pool: AsyncConnectionPool[Any], store: EventStore, f: EventFilter,
                  page: int = 1000) -> AsyncIterator[dict[str, Any]]:
    """Every matching row, a page at a time (the CLI's tail, export and stats)."""
    while True:
        rows = await page_rows(pool, store, f, page)
        for row in rows:
            yield row
        if len(rows) < page:
            return
        last = Position(rows[-1]["epoch"], rows[-1]["transaction_id"], rows[-1]["position"])
        f = msgspec.structs.replace(f, **({"before": last} if f.newest_first else {"after": last}))


async def count(pool: AsyncConnectionPool[Any], store: EventStore, f: EventFilter) -> int:
    where, params = _conditions(f, store.epoch)
    query = sql.SQL("SELECT count(*) FROM events e WHERE {}").format(
        sql.SQL(" AND ").join(where))
    async with pool.connection() as conn:
        row = await (await conn.execute(query, params)).fetchone()
    return int(row[0]) if row else 0


async def find_event(pool: AsyncConnectionPool[Any], event_id: uuid.UUID
                     ) -> dict[str, Any] | None:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql.SQL("SELECT {} FROM events e WHERE e.event_id = %s").format(
            _COLUMNS), (event_id,))
        row: dict[str, Any] | None = await cur.fetchone()
        return row
