"""Read models of messaging: history, edits, reactions, pins, read cursors (one projector,
`messages`, so an unread count joins cursors and messages of one consistent build), and
bookmarks.

Order is the log's commit order: each message row keeps the position of its MessageSent,
and its number in its channel (`ord`, given in that same order), and history pages by the
number. A message committed while a client pages gets a position, and a number, after
every message already projected, so a page never skips or repeats one (message ids are
UUIDv7, but two concurrent sends may commit in the other order than their ids).

Events are chatalot's, handled by name: this module imports nothing from chatalot.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import msgspec
from psycopg import sql

from event_store import RecordedEvent
from projections.projector import ProjectionContext, Projector, on

_POS = "epoch integer NOT NULL, transaction_id bigint NOT NULL, sequence bigint NOT NULL"


# Each message's `ord` is its rank in its channel (1, 2, ... in log order), counted in
# channel_heads: the number of messages after a read cursor is then a subtraction, not a
# count of rows (a user with 400,000 unread messages in a channel is one index probe).
_INSERT_SENT = """
WITH u AS (
    SELECT r.*, row_number() OVER (PARTITION BY r.c ORDER BY r.i) AS k,
           count(*) OVER (PARTITION BY r.c) AS per_channel
      FROM json_to_recordset(%s::json)
           AS r(i int, m uuid, c uuid, s uuid, ct text, nc text, enc text, mt text, rt uuid,
                th uuid, sk bigint, me uuid[], wn text, wa text, at timestamptz, ep int,
                tx bigint, sq bigint)
), h AS (
    INSERT INTO {h} AS h (channel_id, n) SELECT c, count(*) FROM u GROUP BY c
    ON CONFLICT (channel_id) DO UPDATE SET n = h.n + excluded.n
    RETURNING channel_id, n
)
INSERT INTO {t} (message_id, channel_id, sender_id, ciphertext, nonce, encryption, message_type,
                 reply_to, thread_id, sender_key_id, mentions, webhook_name, webhook_avatar,
                 created_at, epoch, transaction_id, sequence, ord)
SELECT u.m, u.c, u.s, u.ct, u.nc, u.enc, u.mt, u.rt, u.th, u.sk, u.me, u.wn, u.wa, u.at,
       u.ep, u.tx, u.sq, h.n - u.per_channel + u.k
  FROM u JOIN h ON h.channel_id = u.c
 ORDER BY u.i
"""


class SentRow(msgspec.Struct, omit_defaults=True):
    """One messages row as a JSON object: a batch goes as one json parameter, which
    msgspec encodes in C (psycopg dumps seventeen list parameters value by value in
    Python: a third of a rebuild's time)."""

    i: int
    m: uuid.UUID
    c: uuid.UUID
    ct: str
    nc: str
    enc: str
    mt: str
    me: list[uuid.UUID]
    at: datetime
    ep: int
    tx: int
    sq: int
    s: uuid.UUID | None = None
    rt: uuid.UUID | None = None
    th: uuid.UUID | None = None
    sk: int | None = None
    wn: str | None = None
    wa: str | None = None


_encode = msgspec.json.Encoder().encode


def redacted_message(event: RecordedEvent) -> str | None:
    """The message id whose body an EventRedacted record removed, else None."""
    d = event.data
    if d.event_type in ("MessageSent", "MessageEdited") and d.stream_id.startswith("message-"):
        try:
            return str(uuid.UUID(d.stream_id.removeprefix("message-")))
        except ValueError:  # not a message's stream (message-<uuid>): no row of ours
            return None
    return None


def _pos(event: RecordedEvent) -> tuple[int, int, int]:
    p = event.position
    return p.epoch, p.transaction_id, p.sequence


async def _run(ctx: ProjectionContext, table: str, query: str, params: Any) -> None:
    await ctx.conn.execute(ctx.statement(query, t=table), params)


class Messages(Projector):
    name = "messages"
    # 4: history pages by (channel_id, ord), an index range of exactly one page, instead
    # of (channel_id, epoch, transaction_id, sequence) (chatalot/messaging/queries.py)
    version = 4
    tables: ClassVar = {
        "messages": (
            "message_id uuid PRIMARY KEY, channel_id uuid NOT NULL, sender_id uuid,"
            " ciphertext text, nonce text, encryption text NOT NULL,"
            " message_type text NOT NULL, reply_to uuid, thread_id uuid, sender_key_id bigint,"
            " mentions uuid[] NOT NULL, webhook_name text, webhook_avatar text,"
            " created_at timestamptz NOT NULL, edited_at timestamptz, deleted_at timestamptz,"
            " deleted_by uuid, pinned boolean NOT NULL DEFAULT false,"
            " quarantined boolean NOT NULL DEFAULT false,"
            " reply_count integer NOT NULL DEFAULT 0, ord bigint NOT NULL, " + _POS),
        "channel_heads": "channel_id uuid PRIMARY KEY, n bigint NOT NULL",
        "message_edits": (
            "message_id uuid NOT NULL, ciphertext text NOT NULL, nonce text NOT NULL,"
            " mentions uuid[] NOT NULL, editor_id uuid, at timestamptz NOT NULL, " + _POS
            + ", PRIMARY KEY (message_id, epoch, transaction_id, sequence)"),
        "reactions": (
            "message_id uuid NOT NULL, emoji text NOT NULL, user_id uuid NOT NULL,"
            " channel_id uuid NOT NULL, " + _POS + ", PRIMARY KEY (message_id, emoji, user_id)"),
        "pins": (
            "channel_id uuid NOT NULL, message_id uuid NOT NULL, pinned_by uuid NOT NULL,"
            " pinned_at timestamptz NOT NULL, PRIMARY KEY (channel_id, message_id)"),
        "read_cursors": (
            "channel_id uuid NOT NULL, user_id uuid NOT NULL, message_id uuid NOT NULL,"
            " receipt boolean NOT NULL, m_epoch integer NOT NULL, m_ord bigint NOT NULL,"
            " m_transaction_id bigint NOT NULL, m_sequence bigint NOT NULL, " + _POS
            + ", PRIMARY KEY (channel_id, user_id)"),
    }
    indexes: ClassVar = [
        # history pages, and each channel's last message (mark all read)
        "CREATE INDEX ON {messages} (channel_id, ord)",
        # unread counts (chatalot/messaging/unreads.py): the caller's own live messages,
        # the deleted ones and the live ones with mentions after a cursor's ord
        "CREATE INDEX ON {messages} (channel_id, sender_id, ord) WHERE deleted_at IS NULL",
        "CREATE INDEX ON {messages} (channel_id, ord) WHERE deleted_at IS NOT NULL",
        "CREATE INDEX ON {messages} (channel_id, ord) INCLUDE (sender_id, mentions)"
        " WHERE deleted_at IS NULL AND cardinality(mentions) > 0",
        "CREATE INDEX ON {messages} (thread_id, epoch, transaction_id, sequence)"
        " WHERE thread_id IS NOT NULL",
        "CREATE INDEX ON {read_cursors} (user_id)",
    ]

    async def apply(self, events: Sequence[RecordedEvent], ctx: ProjectionContext) -> None:
        """In commit order; a run of MessageSent (most of the log) is one INSERT."""
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
        data = [e.data for e in events]
        rows = []
        for i, e in enumerate(events):
            d, p = e.data, e.position
            rows.append(SentRow(
                i=i, m=d.message_id, c=d.channel_id, s=d.sender_id, ct=d.ciphertext,
                nc=d.nonce, enc=d.encryption, mt=d.message_type, rt=d.reply_to, th=d.thread_id,
                sk=d.sender_key_id, me=d.mentions, wn=d.webhook_name, wa=d.webhook_avatar,
                at=e.recorded_at, ep=p.epoch, tx=p.transaction_id, sq=p.sequence))
        await ctx.conn.execute(ctx.statement(_INSERT_SENT, t="messages", h="channel_heads"),
                               (_encode(rows).decode(),))
        threads = [d.thread_id for d in data if d.thread_id is not None]
        if threads:
            await _run(ctx, "messages", "UPDATE {t} m SET reply_count = m.reply_count + r.n"
                       " FROM (SELECT t, count(*) AS n FROM unnest(%s::uuid[]) AS t GROUP BY t)"
                       " r WHERE m.message_id = r.t", (threads,))

    @on("MessageSent")
    async def sent(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await self._sent([event], ctx)

    @on("MessageEdited")
    async def edited(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        # the first edit keeps the original as the history's first version
        await ctx.conn.execute(sql.SQL(
            "INSERT INTO {e} (message_id, ciphertext, nonce, mentions, editor_id, at, epoch,"
            " transaction_id, sequence) SELECT message_id, ciphertext, nonce, mentions,"
            " sender_id, created_at, epoch, transaction_id, sequence FROM {m}"
            " WHERE message_id = %s AND edited_at IS NULL AND ciphertext IS NOT NULL"
            " ON CONFLICT DO NOTHING").format(e=ctx.table("message_edits"),
                                             m=ctx.table("messages")), (d.message_id,))
        await _run(ctx, "message_edits",
                   "INSERT INTO {t} (message_id, ciphertext, nonce, mentions, editor_id, at,"
                   " epoch, transaction_id, sequence) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                   " ON CONFLICT DO NOTHING",
                   (d.message_id, d.ciphertext, d.nonce, list(d.mentions), d.editor_id,
                    event.recorded_at, *_pos(event)))
        await _run(ctx, "messages", "UPDATE {t} SET ciphertext = %s, nonce = %s, mentions = %s,"
                   " edited_at = %s WHERE message_id = %s AND deleted_at IS NULL",
                   (d.ciphertext, d.nonce, list(d.mentions), event.recorded_at, d.message_id))

    @on("MessageDeleted", "MessagePurged")
    async def deleted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        """A purge (admin) is a deletion here; its bodies then leave the log too."""
        d = event.data
        by = d.deleted_by if event.type == "MessageDeleted" else d.moderator_id
        await _run(ctx, "messages", "UPDATE {t} SET ciphertext = NULL, nonce = NULL,"
                   " mentions = '{{}}', deleted_at = coalesce(deleted_at, %s),"
                   " deleted_by = coalesce(deleted_by, %s), pinned = false"
                   " WHERE message_id = %s", (event.recorded_at, by, d.message_id))
        await _run(ctx, "message_edits", "DELETE FROM {t} WHERE message_id = %s",
                   (d.message_id,))
        await _run(ctx, "reactions", "DELETE FROM {t} WHERE message_id = %s", (d.message_id,))
        await _run(ctx, "pins", "DELETE FROM {t} WHERE message_id = %s", (d.message_id,))

    @on("ReactionAdded")
    async def reacted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "reactions",
                   "INSERT INTO {t} (message_id, emoji, user_id, channel_id, epoch,"
                   " transaction_id, sequence) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                   " ON CONFLICT DO NOTHING",
                   (d.message_id, d.emoji, d.user_id, d.channel_id, *_pos(event)))

    @on("ReactionRemoved")
    async def unreacted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "reactions", "DELETE FROM {t} WHERE message_id = %s AND emoji = %s"
                   " AND user_id = %s", (d.message_id, d.emoji, d.user_id))

    @on("MessagePinned")
    async def pinned(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "pins", "INSERT INTO {t} (channel_id, message_id, pinned_by, pinned_at)"
                   " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                   (d.channel_id, d.message_id, d.pinned_by, event.recorded_at))
        await _run(ctx, "messages", "UPDATE {t} SET pinned = true WHERE message_id = %s",
                   (d.message_id,))

    @on("MessageUnpinned")
    async def unpinned(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "pins", "DELETE FROM {t} WHERE channel_id = %s AND message_id = %s",
                   (d.channel_id, d.message_id))
        await _run(ctx, "messages", "UPDATE {t} SET pinned = false WHERE message_id = %s",
                   (d.message_id,))

    @on("MessageQuarantined", "MessageUnquarantined")
    async def quarantined(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "messages", "UPDATE {t} SET quarantined = %s WHERE message_id = %s",
                   (event.type == "MessageQuarantined", event.data.message_id))

    @on("EventRedacted")
    async def redacted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        """A message's body redacted from the log (Sent or Edited): its bodies leave the
        read model (the row keeps its place, as a deleted message's does)."""
        mid = redacted_message(event)
        if mid is None:
            return
        await _run(ctx, "messages", "UPDATE {t} SET ciphertext = NULL, nonce = NULL"
                   " WHERE message_id = %s", (mid,))
        await _run(ctx, "message_edits", "DELETE FROM {t} WHERE message_id = %s", (mid,))

    @on("ReadCursorMoved")
    async def read(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await ctx.conn.execute(sql.SQL(
            "INSERT INTO {c} (channel_id, user_id, message_id, receipt, m_epoch, m_ord,"
            " m_transaction_id, m_sequence, epoch, transaction_id, sequence)"
            " SELECT %s, %s, m.message_id, %s, m.epoch, m.ord, m.transaction_id, m.sequence,"
            " %s, %s, %s FROM {m} m WHERE m.message_id = %s"
            " ON CONFLICT (channel_id, user_id) DO UPDATE SET message_id = excluded.message_id,"
            " receipt = excluded.receipt, m_epoch = excluded.m_epoch, m_ord = excluded.m_ord,"
            " m_transaction_id = excluded.m_transaction_id, m_sequence = excluded.m_sequence,"
            " epoch = excluded.epoch, transaction_id = excluded.transaction_id,"
            " sequence = excluded.sequence").format(
                c=ctx.table("read_cursors"), m=ctx.table("messages")),
            (d.channel_id, d.user_id, d.receipt, *_pos(event), d.message_id))


class Bookmarks(Projector):
    name = "bookmarks"
    version = 1
    tables: ClassVar = {"bookmarks": (
        "bookmark_id uuid PRIMARY KEY, user_id uuid NOT NULL, message_id uuid NOT NULL,"
        " channel_id uuid NOT NULL, note text, created_at timestamptz NOT NULL")}
    indexes: ClassVar = ["CREATE INDEX ON {bookmarks} (user_id, created_at)"]

    @on("BookmarkAdded")
    async def added(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "bookmarks", "INSERT INTO {t} VALUES (%s, %s, %s, %s, %s, %s)"
                   " ON CONFLICT DO NOTHING",
                   (d.bookmark_id, d.user_id, d.message_id, d.channel_id, d.note,
                    event.recorded_at))

    @on("BookmarkRemoved")
    async def removed(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "bookmarks", "DELETE FROM {t} WHERE bookmark_id = %s",
                   (event.data.bookmark_id,))

PROJECTORS: list[type[Projector]] = [Messages, Bookmarks]
