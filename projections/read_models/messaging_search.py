"""Full-text search over server-readable messages (issue 13 item 5): PostgreSQL's own
`tsvector` column with a GIN index, queried with websearch_to_tsquery, ranked with
ts_rank_cd, snippets from ts_headline (chatalot/messaging/search.py).

Only `encryption: none` bodies are indexed (text, file, system and webhook messages): the
server cannot read an E2E body, and an E2E-required channel refuses `none`. An edit
replaces the indexed text (the old text is no longer found), a deletion removes it. A
projection, off the send path: a send never waits for the index.
"""

from __future__ import annotations

import base64
import binascii
from typing import ClassVar

from psycopg import sql

from event_store import RecordedEvent
from projections.projector import ProjectionContext, Projector, on

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
        f" tsv tsvector GENERATED ALWAYS AS (to_tsvector('{TS_CONFIG}', body)) STORED,"
        " created_at timestamptz NOT NULL, epoch integer NOT NULL,"
        " transaction_id bigint NOT NULL, sequence bigint NOT NULL")}
    indexes: ClassVar = [
        "CREATE INDEX ON {message_search} USING GIN (tsv)",
        "CREATE INDEX ON {message_search} (channel_id)",
    ]

    @on("MessageSent")
    async def sent(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        if d.encryption != "none":
            return
        text = readable_text(d.ciphertext)
        if not text:
            return
        p = event.position
        await ctx.conn.execute(sql.SQL(
            "INSERT INTO {} (message_id, channel_id, sender_id, message_type, has_file, body,"
            " created_at, epoch, transaction_id, sequence)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING").format(
                ctx.table("message_search")),
            (d.message_id, d.channel_id, d.sender_id, d.message_type,
             d.message_type == "file", text, event.recorded_at, p.epoch, p.transaction_id,
             p.sequence))

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

    @on("MessageDeleted")
    async def deleted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await ctx.conn.execute(sql.SQL("DELETE FROM {} WHERE message_id = %s").format(
            ctx.table("message_search")), (event.data.message_id,))


PROJECTORS: list[type[Projector]] = [MessageSearch]
