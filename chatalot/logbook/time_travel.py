"""GET /api/admin/channels/{id}/state and `chatalot events channel-state`: a channel as of
a position or a time, folded from the log by chatalot/domain/logbook/channel_state.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from chatalot.domain.errors import not_found
from chatalot.domain.logbook.channel_state import ChannelState
from chatalot.domain.logbook.rules import LogScope
from chatalot.logbook import log_queries
from chatalot.logbook.contracts import ChannelStateReply, MemberRole
from chatalot.logbook.log_queries import EventFilter
from event_store import EventStore, Position

_decode = msgspec.json.decode


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


async def _message_streams(store: EventStore, channel_id: uuid.UUID) -> list[str]:
    """The streams of every message ever sent in the channel, found through messaging's
    decision table (a row per message, kept when it is deleted or purged; indexed by
    channel, migration 0020) rather than by scanning the log's data."""
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT message_id FROM messaging_messages WHERE channel_id = %s", (channel_id,))
        return [f"message-{row[0]}" for row in await cur.fetchall()]


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
    streams += await _message_streams(store, channel_id)
    before = Position(at.epoch, at.transaction_id, at.sequence + 1) if at else None
    f = EventFilter(streams=tuple(streams), before=before, until=at_time)
    state = ChannelState(str(channel_id))
    last: Position | None = None
    created = False
    async for row in log_queries.iterate(store.pool, store, f):
        state.apply(row["type"], _decode(row["data"]))
        created = created or row["stream_id"] == streams[0]
        last = Position(row["epoch"], row["transaction_id"], row["position"])
    if not created or last is None:
        raise not_found("the channel did not exist then")
    return ChannelStateReply(
        channel=state.channel,
        members=[MemberRole(user_id=u, role=r) for u, r in sorted(state.members.items())],
        bans=[state.bans[u] for u in sorted(state.bans)], pins=list(state.pins),
        message_count=state.message_count, as_of_position=last.encode())
