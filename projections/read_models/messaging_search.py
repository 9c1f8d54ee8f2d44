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
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

import msgspec
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


class SearchRow(msgspec.Struct, omit_defaults=True):
    """One indexed row as a JSON object (a batch is one json parameter: see SentRow)."""

    m: uuid.UUID
    c: uuid.UUID
    mt: str
    f: bool
    b: str
    at: datetime
    ep: int
    tx: int
    sq: int
    s: uuid.UUID | None = None


_encode = msgspec.json.Encoder().encode


class MessageSearch(Projector):
    name = "message_search"
    version = 1
    settle = 0.1  # a send is searchable within 0.1 s; under load, ten writes a second
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
        async with ctx.pipeline():
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
                p = e.position
                rows.append(SearchRow(
                    m=d.message_id, c=d.channel_id, s=d.sender_id, mt=d.message_type,
                    f=d.message_type == "file", b=text, at=e.recorded_at, ep=p.epoch,
                    tx=p.transaction_id, sq=p.sequence))
        if not rows:
            return
        await ctx.conn.execute(sql.SQL(
            "INSERT INTO {} (message_id, channel_id, sender_id, message_type, has_file, body,"
            " created_at, epoch, transaction_id, sequence)"
            " SELECT m, c, s, mt, f, b, at, ep, tx, sq FROM json_to_recordset(%s::json)"
            " AS u(m uuid, c uuid, s uuid, mt text, f boolean, b text, at timestamptz,"
            " ep int, tx bigint, sq bigint) ON CONFLICT DO NOTHING").format(
                ctx.table("message_search")), (_encode(rows).decode(),))

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
