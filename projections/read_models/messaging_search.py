"""Full-text search over server-readable messages (issue 13 item 5): PostgreSQL's own
`tsvector` column with a GIN index, queried with websearch_to_tsquery, ranked with
ts_rank_cd, snippets from ts_headline (chatalot/messaging/search.py).

Only `encryption: none` bodies are indexed (text, file, system and webhook messages): the
server cannot read an E2E body, and an E2E-required channel refuses `none`. An edit
replaces the indexed text (the old text is no longer found), a deletion removes it, a
quarantined message is left out of every answer until it is released, and a redacted one
(event-store redaction of its MessageSent or MessageEdited) leaves the index. A
projection, off the send path: a send never waits for the index.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import ClassVar

from psycopg import sql

from event_store import RecordedEvent
from projections.projector import ProjectionContext, Projector, on
from projections.read_models.messaging import redacted_message

TS_CONFIG = "english"


def readable_text(ciphertext: str) -> str | None:
    """The text of a server-readable body; None for one that does not decode (a redacted
    or malformed one is then simply not indexed)."""
    try:
        text = base64.b64decode(ciphertext, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return text.replace("\x00", "")


class MessageSearch(Projector):
    name = "message_search"
    version = 1
    tables: ClassVar = {"message_search": (
        "message_id uuid PRIMARY KEY, channel_id uuid NOT NULL, sender_id uuid,"
        " message_type text NOT NULL, has_file boolean NOT NULL, body text NOT NULL,"
        " quarantined boolean NOT NULL DEFAULT false,"
        f" tsv tsvector GENERATED ALWAYS AS (to_tsvector('{TS_CONFIG}', body)) STORED,"
        " created_at timestamptz NOT NULL, epoch integer NOT NULL,"
        " transaction_id bigint NOT NULL, sequence bigint NOT NULL")}
    indexes: ClassVar = [
        "CREATE INDEX ON {message_search} USING GIN (tsv)",
        "CREATE INDEX ON {message_search} (channel_id)",
    ]

    async def apply(self, events: Sequence[RecordedEvent], ctx: ProjectionContext) -> None:
        """In commit order; a run of MessageSent is one INSERT."""
        sent: list[RecordedEvent] = []
        async with ctx.conn.pipeline():
            for event in events:
                if event.type == "MessageSent":
                    sent.append(event)
                    continue
                if sent:
                    await self._sent(sent, ctx)
                    sent = []
                attr = self._handlers.get(event.type)
                if attr is not None:
                    await getattr(self, attr)(event, ctx)
            if sent:
                await self._sent(sent, ctx)

    @staticmethod
    async def _sent(events: list[RecordedEvent], ctx: ProjectionContext) -> None:
        rows = []
        for e in events:
            d = e.data
            text = readable_text(d.ciphertext) if d.encryption == "none" else None
            if text:
                rows.append((d, text, e))
        if not rows:
            return
        await ctx.conn.execute(sql.SQL(
            "INSERT INTO {} (message_id, channel_id, sender_id, message_type, has_file, body,"
            " created_at, epoch, transaction_id, sequence)"
            " SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::uuid[], %s::text[],"
            " %s::boolean[], %s::text[], %s::timestamptz[], %s::int[], %s::bigint[],"
            " %s::bigint[]) ON CONFLICT DO NOTHING").format(ctx.table("message_search")), (
            [d.message_id for d, _, _ in rows], [d.channel_id for d, _, _ in rows],
            [d.sender_id for d, _, _ in rows], [d.message_type for d, _, _ in rows],
            [d.message_type == "file" for d, _, _ in rows], [t for _, t, _ in rows],
            [e.recorded_at for _, _, e in rows], [e.position.epoch for _, _, e in rows],
            [e.position.transaction_id for _, _, e in rows],
            [e.position.sequence for _, _, e in rows]))

    @on("MessageSent")
    async def sent(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await self._sent([event], ctx)

    @on("MessageEdited")
    async def edited(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        text = readable_text(d.ciphertext)
        table = ctx.table("message_search")
        if text:
            await ctx.conn.execute(sql.SQL("UPDATE {} SET body = %s WHERE message_id = %s")
                                   .format(table), (text, d.message_id))
        else:
            await ctx.conn.execute(sql.SQL("DELETE FROM {} WHERE message_id = %s")
                                   .format(table), (d.message_id,))

    @on("MessageDeleted", "MessagePurged")
    async def deleted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await ctx.conn.execute(sql.SQL("DELETE FROM {} WHERE message_id = %s").format(
            ctx.table("message_search")), (event.data.message_id,))


    @on("MessageQuarantined", "MessageUnquarantined")
    async def quarantined(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await ctx.conn.execute(sql.SQL("UPDATE {} SET quarantined = %s WHERE message_id = %s")
                               .format(ctx.table("message_search")),
                               (event.type == "MessageQuarantined", event.data.message_id))


    @on("EventRedacted")
    async def redacted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        mid = redacted_message(event)
        if mid is not None:
            await ctx.conn.execute(sql.SQL("DELETE FROM {} WHERE message_id = %s").format(
                ctx.table("message_search")), (mid,))


PROJECTORS: list[type[Projector]] = [MessageSearch]
