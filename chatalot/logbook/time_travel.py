"""GET /api/admin/channels/{id}/state and `chatalot events channel-state`: a channel as of
a position or a time, folded from the log by chatalot/domain/logbook/channel_state.py.

One statement reads everything the fold needs, in commit order, streamed in chunks (one
snapshot, memory bounded by the chunk size): the events of the channel's,
group's and community's streams, and those of its messages' streams. A message stream's
events only ever tell the fold a message id and its channel (MESSAGE_FIELDS), so for those
the statement sends these two fields, not the body: a 100,000-message channel is folded in
well under a second.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from chatalot.domain.errors import not_found
from chatalot.domain.logbook.channel_state import MESSAGE_FIELDS, ChannelState
from chatalot.domain.logbook.rules import LogScope
from chatalot.logbook.contracts import ChannelStateReply, MemberRole
from event_store import EventStore, Position
from event_store.sql import XMIN

_decode = msgspec.json.decode
FETCH = 5000

# The channel's own streams (full data), then its messages' streams (found through
# messaging's decision table: a row per message ever sent, kept when it is deleted or
# purged, indexed by channel, migration 0020; only the fields the fold reads), merged in
# commit order. {bounds}: the readers' horizon, and the point asked for. Each message's
# stream is read through the stream index (OFFSET 0 keeps the planner from turning this
# into a scan of the whole log to join: a message has a handful of events, the log
# millions).
_FOLDED = """
SELECT e.epoch, e.transaction_id, e.position, e.stream_id = %(own)s, e.type,
       e.data::text, NULL, NULL
  FROM events e
 WHERE e.stream_id = ANY(%(streams)s::text[]) AND {bounds}
UNION ALL
SELECT e.*
  FROM messaging_messages m CROSS JOIN LATERAL (
    SELECT e.epoch, e.transaction_id, e.position, false, e.type, NULL::text,
           e.data->>%(f0)s, e.data->>%(f1)s
      FROM events e
     WHERE e.stream_id = 'message-' || m.message_id::text AND {bounds}
    OFFSET 0) e
 WHERE m.channel_id = %(channel)s
 ORDER BY 1, 2, 3
"""


def fold_statement(epoch: int, channel_id: uuid.UUID, streams: list[str],
                   at: Position | None, at_time: datetime | None
                   ) -> tuple[str, dict[str, Any]]:
    """The statement that reads the fold's events, and its parameters."""
    # `<=` row comparisons: the planner estimates a row comparison by its first column
    # alone, and `epoch < current epoch` would read as "no rows".
    bounds = [f"(e.epoch, e.transaction_id) <= (%(epoch)s, {XMIN} - 1)"]
    if at is not None:  # inclusive of `at`
        bounds.append("(e.epoch, e.transaction_id, e.position) <= (%(be)s, %(bt)s, %(bp)s)")
    if at_time is not None:  # inclusive of its whole millisecond
        bounds.append("e.recorded_at < %(until)s::timestamptz + interval '1 millisecond'")
    params = {"epoch": epoch, "own": streams[0], "streams": streams, "channel": channel_id,
              "f0": MESSAGE_FIELDS[0], "f1": MESSAGE_FIELDS[1], "until": at_time,
              "be": at.epoch if at else None, "bt": at.transaction_id if at else None,
              "bp": at.sequence if at else None}
    return _FOLDED.format(bounds=" AND ".join(bounds)), params


async def _origin(store: EventStore, channel_id: uuid.UUID) -> dict[str, Any]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT type, data::text FROM events WHERE stream_id = %s AND version = 1",
            (f"channel-{channel_id}",))
        row = await cur.fetchone()
    if row is None or row[0] not in ("ChannelCreated", "DmChannelCreated"):
        raise not_found("no such channel")
    data: dict[str, Any] = _decode(row[1])
    return data


async def channel_state(store: EventStore, channel_id: uuid.UUID, scope: LogScope, *,
                        at: Position | None = None, at_time: datetime | None = None
                        ) -> ChannelStateReply:
    """As of the event at `at` (inclusive) or the last event recorded at or before
    `at_time`; now when neither is given. 404 for a channel unknown then, or outside the
    caller's part of the log."""
    origin = await _origin(store, channel_id)
    community = origin.get("community_id")
    if scope.communities is not None and (
            community is None or uuid.UUID(community) not in scope.communities):
        raise not_found("no such channel")
    streams = [f"channel-{channel_id}"]
    if community is not None:
        streams += [f"group-{origin['group_id']}", f"community-{community}"]
    query, params = fold_statement(store.epoch, channel_id, streams, at, at_time)
    state = ChannelState(str(channel_id))
    apply = state.apply
    last: tuple[int, int, int] | None = None
    created = False
    async with store.pool.connection() as conn, conn.transaction():
        # One probe of the stream index per message (a bitmap per probe costs twice as
        # much), and a sort of every message's events in memory. Rows come in chunks
        # (not a DECLAREd cursor, which would keep the planner from parallel workers).
        # No JIT: the plan's cost (a probe per message) makes PostgreSQL compile it, which
        # took 140 ms of a 0.7 s fold at 100,000 messages and saves nothing at run time.
        await conn.execute("SET LOCAL enable_bitmapscan = off; SET LOCAL work_mem = '64MB';"
                           " SET LOCAL jit = off")
        async with conn.cursor() as cur:
            async for epoch, txid, pos, is_own, kind, data, message, channel in cur.stream(
                    query, params, size=FETCH):
                if data is not None:
                    apply(kind, _decode(data))
                else:
                    apply(kind, {MESSAGE_FIELDS[0]: message, MESSAGE_FIELDS[1]: channel})
                created = created or is_own
                last = (epoch, txid, pos)
    if not created or last is None:
        raise not_found("the channel did not exist then")
    return ChannelStateReply(
        channel=state.channel,
        members=[MemberRole(user_id=u, role=r) for u, r in sorted(state.members.items())],
        bans=[state.bans[u] for u in sorted(state.bans)], pins=list(state.pins),
        message_count=state.message_count, as_of_position=Position(*last).encode())
