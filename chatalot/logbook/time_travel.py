"""GET /api/admin/channels/{id}/state and `chatalot events channel-state`: a channel as of
a position or a time, folded from the log by chatalot/domain/logbook/channel_state.py.

One statement reads everything the fold needs, in commit order, through a server-side
cursor (one snapshot, memory bounded by the fetch size): the events of the channel's,
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
# commit order. {bounds}: the readers' horizon, and the point asked for.
_FOLDED = """
SELECT e.epoch, e.transaction_id, e.position, e.stream_id = %(own)s, e.type,
       e.data::text, NULL, NULL
  FROM events e
 WHERE e.stream_id = ANY(%(streams)s::text[]) AND {bounds}
UNION ALL
SELECT e.epoch, e.transaction_id, e.position, false, e.type, NULL,
       e.data->>%(f0)s, e.data->>%(f1)s
  FROM messaging_messages m
  JOIN events e ON e.stream_id = 'message-' || m.message_id::text
 WHERE m.channel_id = %(channel)s AND {bounds}
 ORDER BY 1, 2, 3
"""


def _bounds(at: Position | None, at_time: datetime | None) -> str:
    bounds = [f"(e.epoch, e.transaction_id) < (%(epoch)s, {XMIN})"]
    if at is not None:  # inclusive of `at`
        bounds.append("(e.epoch, e.transaction_id, e.position) <= (%(be)s, %(bt)s, %(bp)s)")
    if at_time is not None:  # inclusive of its whole millisecond
        bounds.append("e.recorded_at < %(until)s::timestamptz + interval '1 millisecond'")
    return " AND ".join(bounds)


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
    own = f"channel-{channel_id}"
    streams = [own]
    if community is not None:
        streams += [f"group-{origin['group_id']}", f"community-{community}"]
    params = {"epoch": store.epoch, "own": own, "streams": streams, "channel": channel_id,
              "f0": MESSAGE_FIELDS[0], "f1": MESSAGE_FIELDS[1], "until": at_time,
              "be": at.epoch if at else None, "bt": at.transaction_id if at else None,
              "bp": at.sequence if at else None}
    state = ChannelState(str(channel_id))
    apply = state.apply
    last: tuple[int, int, int] | None = None
    created = False
    query = _FOLDED.format(bounds=_bounds(at, at_time))
    async with store.pool.connection() as conn, conn.transaction():
        # A cursor is planned for its first rows by default: this one is read to its end.
        await conn.execute("SET LOCAL cursor_tuple_fraction = 1")
        async with conn.cursor(name="channel_state") as cur:
            cur.itersize = FETCH
            await cur.execute(query, params)
            async for epoch, txid, pos, is_own, kind, data, message, channel in cur:
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
