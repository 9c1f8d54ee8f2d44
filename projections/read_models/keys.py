"""Read model of the key server (issue 5): the stored sender-key copies.

One row per (channel, recipient, sender, chain): the latest `SenderKeyUpdated` envelope
for it, and at most the 5 newest chains per (channel, recipient, sender) (receivers keep
5 chains for late messages; an older copy could only rewind a chain, which receivers
refuse). Queries read it through `read_models.sender_keys`
(chatalot/keys/queries.py: GET /api/channels/{id}/sender-keys).

Events are chatalot's, handled by name: this module imports nothing from chatalot. The
batch is folded in memory and written with set-based statements, so a distribution to a
hundred members, or a rebuild, costs a few statements.

When a member leaves or is removed from a channel (spaces' `SenderKeyRotationRequired`),
their copies in it go, as recipient and as sender: they are of no use to anyone now (every
remaining member starts a new chain). A deleted channel (`ChannelDeleted`, or the channels
of a deleted group or community) takes all its copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from psycopg import sql

from event_store import RecordedEvent
from projections.projector import ProjectionContext, Projector

CHAINS_KEPT = 5

_UPSERT = """
INSERT INTO {t} AS s (channel_id, recipient_id, sender_id, chain_id, envelope, created_at,
                      epoch, transaction_id, sequence)
SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::uuid[], %s::bigint[], %s::text[],
                     %s::timestamptz[], %s::int[], %s::bigint[], %s::bigint[])
ON CONFLICT (channel_id, recipient_id, sender_id, chain_id) DO UPDATE
   SET envelope = excluded.envelope, created_at = excluded.created_at,
       epoch = excluded.epoch, transaction_id = excluded.transaction_id,
       sequence = excluded.sequence
"""

_PRUNE = """
DELETE FROM {t} AS s USING (
    SELECT channel_id, recipient_id, sender_id, chain_id FROM (
        SELECT channel_id, recipient_id, sender_id, chain_id,
               row_number() OVER (PARTITION BY channel_id, recipient_id, sender_id
                                  ORDER BY epoch DESC, transaction_id DESC, sequence DESC) AS n
          FROM {t}
         WHERE (channel_id, recipient_id, sender_id) IN (
               SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::uuid[]))
    ) ranked WHERE n > %s
) old
WHERE s.channel_id = old.channel_id AND s.recipient_id = old.recipient_id
  AND s.sender_id = old.sender_id AND s.chain_id = old.chain_id
"""

_FORGET_USER = "DELETE FROM {t} WHERE recipient_id = %s OR sender_id = %s"
_FORGET_MEMBER = ("DELETE FROM {t} WHERE channel_id = %s AND (recipient_id = %s"
                  " OR sender_id = %s)")
_FORGET_CHANNELS = "DELETE FROM {t} WHERE channel_id = ANY(%s)"
_CHANNELS_GONE = {"ChannelDeleted", "GroupDeleted", "CommunityDeleted"}


class SenderKeys(Projector):
    name = "sender_keys"
    version = 2
    tables: ClassVar = {"sender_keys": (
        "channel_id uuid NOT NULL, recipient_id uuid NOT NULL, sender_id uuid NOT NULL,"
        " chain_id bigint NOT NULL, envelope text NOT NULL, created_at timestamptz NOT NULL,"
        " epoch integer NOT NULL, transaction_id bigint NOT NULL, sequence bigint NOT NULL,"
        " PRIMARY KEY (channel_id, recipient_id, sender_id, chain_id)")}
    indexes: ClassVar = [
        "CREATE INDEX ON {sender_keys} (recipient_id)",
        "CREATE INDEX ON {sender_keys} (sender_id)",
    ]
    event_types = frozenset({"SenderKeyUpdated", "UserDeleted", "SenderKeyRotationRequired",
                             *_CHANNELS_GONE})

    async def apply(self, events: Sequence[RecordedEvent], ctx: ProjectionContext) -> None:
        pending: dict[tuple[Any, Any, Any, int], RecordedEvent] = {}
        for event in events:
            if event.type == "SenderKeyUpdated":
                d = event.data
                pending[(d.channel_id, d.recipient_id, d.sender_id, d.chain_id)] = event
            else:
                await self._flush(pending, ctx)
                pending = {}
                await self._forget(event, ctx)
        await self._flush(pending, ctx)

    @staticmethod
    async def _forget(event: RecordedEvent, ctx: ProjectionContext) -> None:
        d, table = event.data, ctx.table("sender_keys")
        if event.type == "UserDeleted":
            await ctx.conn.execute(sql.SQL(_FORGET_USER).format(t=table),
                                   (d.user_id, d.user_id))
        elif event.type == "SenderKeyRotationRequired":
            await ctx.conn.execute(sql.SQL(_FORGET_MEMBER).format(t=table),
                                   (d.channel_id, d.user_id, d.user_id))
        else:
            channels = [d.channel_id] if event.type == "ChannelDeleted" else d.channel_ids
            await ctx.conn.execute(sql.SQL(_FORGET_CHANNELS).format(t=table), (channels,))

    @staticmethod
    async def _flush(pending: dict[tuple[Any, Any, Any, int], RecordedEvent],
                     ctx: ProjectionContext) -> None:
        if not pending:
            return
        table = ctx.table("sender_keys")
        rows = list(pending.values())
        await ctx.conn.execute(sql.SQL(_UPSERT).format(t=table), (
            [e.data.channel_id for e in rows], [e.data.recipient_id for e in rows],
            [e.data.sender_id for e in rows], [e.data.chain_id for e in rows],
            [e.data.envelope for e in rows], [e.recorded_at for e in rows],
            [e.position.epoch for e in rows], [e.position.transaction_id for e in rows],
            [e.position.sequence for e in rows],
        ))
        triples = list({key[:3] for key in pending})
        await ctx.conn.execute(sql.SQL(_PRUNE).format(t=table), (
            [t[0] for t in triples], [t[1] for t in triples], [t[2] for t in triples],
            CHAINS_KEPT,
        ))


PROJECTORS: list[type[Projector]] = [SenderKeys]
