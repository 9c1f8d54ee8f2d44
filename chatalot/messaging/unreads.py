"""Unread counts and read cursors (issue 13 item 4), from the `messages` read model: a
channel's unread messages for a user are those after the user's cursor in log order, sent
by someone else and not deleted; mentions are those among them that mention the user.
No cursor yet: every such message of the channel is unread.

Counted without reading the unread rows (projections/read_models/messaging.py numbers each
channel's messages 1, 2, ... in log order, `ord`): the messages after the cursor are the
channel's count minus the cursor's ord, less the caller's own live ones and the deleted
ones after it (each an index range, usually empty); mentions count only the live messages
with mentions after it. A user with 400,000 unread messages in a channel costs what one
with 20 does."""

from __future__ import annotations

import uuid

import psycopg
from psycopg import sql

from chatalot.domain.errors import DomainError, bad_request
from chatalot.messaging import contracts as c
from chatalot.messaging.queries import Pool, readable
from chatalot.read_rows import read_rows
from chatalot.spaces.access import READABLE_CHANNELS
from event_store import Position
from projections.projector import read_model

_UNREAD = """
SELECT ch.channel_id, r.message_id AS last_read,
       coalesce(h.n, 0) - coalesce(r.m_ord, 0)
       - (SELECT count(*) FROM {messages} m
           WHERE m.channel_id = ch.channel_id AND m.sender_id = %(user)s
             AND m.deleted_at IS NULL AND m.ord > coalesce(r.m_ord, 0))
       - (SELECT count(*) FROM {messages} m
           WHERE m.channel_id = ch.channel_id AND m.deleted_at IS NOT NULL
             AND m.ord > coalesce(r.m_ord, 0)) AS n,
       (SELECT count(*) FROM {messages} m
         WHERE m.channel_id = ch.channel_id AND m.deleted_at IS NULL
           AND cardinality(m.mentions) > 0 AND m.ord > coalesce(r.m_ord, 0)
           AND %(user)s = ANY(m.mentions) AND m.sender_id IS DISTINCT FROM %(user)s) AS mentions
  FROM {channels} AS ch(channel_id)
  LEFT JOIN {cursors} r ON r.channel_id = ch.channel_id AND r.user_id = %(user)s
  LEFT JOIN {heads} h ON h.channel_id = ch.channel_id
 ORDER BY ch.channel_id
"""


# The same counts from positions alone: linear in the unread rows (each an index-only
# entry), for the while after an upgrade when the active `messages` build predates `ord`
# (version 2) and the numbered one is still being built beside it.
_UNREAD_BY_POSITION = """
SELECT ch.channel_id, r.message_id AS last_read, u.n, u.mentions
  FROM {channels} AS ch(channel_id)
  LEFT JOIN {cursors} r ON r.channel_id = ch.channel_id AND r.user_id = %(user)s
  CROSS JOIN LATERAL (
      SELECT count(*) AS n, count(*) FILTER (WHERE %(user)s = ANY(m.mentions)) AS mentions
        FROM {messages} m
       WHERE m.channel_id = ch.channel_id
         AND (m.epoch, m.transaction_id, m.sequence) > (coalesce(r.m_epoch, -1),
              coalesce(r.m_transaction_id, -1), coalesce(r.m_sequence, -1))
         AND m.sender_id IS DISTINCT FROM %(user)s AND m.deleted_at IS NULL) u
 ORDER BY ch.channel_id
"""


# The channels of a count: in the server, those the caller may read, as a subquery (the
# check and the counts are one statement, one round trip, one snapshot); `{channels}` of
# the statements above.
CALLERS_CHANNELS = sql.SQL("({})").format(sql.SQL(READABLE_CHANNELS))


async def unread(pool: Pool, user_id: uuid.UUID) -> list[c.Unread]:
    """Every channel the caller may read right now, with its counts."""
    async with pool.connection() as conn:  # autocommit: a failed statement spoils nothing
        params = {"user": user_id}
        names = {"cursors": read_model("read_cursors"), "messages": read_model("messages"),
                 "channels": CALLERS_CHANNELS}
        try:
            found = await read_rows(conn, sql.SQL(_UNREAD).format(
                heads=read_model("channel_heads"), **names), params)
        except (DomainError, psycopg.errors.UndefinedColumn):  # a build without `ord`
            found = await read_rows(conn, sql.SQL(_UNREAD_BY_POSITION).format(**names), params)
    return [c.Unread(channel_id=r["channel_id"], unread_count=int(r["n"]),
                     mention_count=int(r["mentions"]), last_read_message_id=r["last_read"])
            for r in found]


async def read_cursors(pool: Pool, user_id: uuid.UUID, channel_id: uuid.UUID, *,
                       limit: int, cursor: str | None) -> c.ReadCursorPage:
    """The channel's members' cursors, by user id; users with read receipts off (at
    their last mark-read) are left out."""
    after = None
    if cursor is not None:
        try:
            after = uuid.UUID(cursor)
        except ValueError:
            raise bad_request("malformed cursor") from None
    async with pool.connection() as conn:
        await readable(conn, channel_id, user_id)
        found = await read_rows(conn, sql.SQL(
            "SELECT r.user_id, r.message_id, r.epoch, r.transaction_id, r.sequence"
            " FROM {} r JOIN channel_members cm ON cm.channel_id = r.channel_id"
            " AND cm.user_id = r.user_id"
            " WHERE r.channel_id = %s AND r.receipt AND (%s::uuid IS NULL OR r.user_id > %s)"
            " ORDER BY r.user_id LIMIT %s").format(read_model("read_cursors")),
            (channel_id, after, after, limit + 1))
    items = [c.ReadCursor(user_id=r["user_id"], last_read_message_id=r["message_id"],
                          position=Position(r["epoch"], r["transaction_id"],
                                            r["sequence"]).encode()) for r in found[:limit]]
    return c.ReadCursorPage(items=items, next_cursor=str(items[-1].user_id)
                            if len(found) > limit else None)
