"""Read cursors and bookmarks: per-user state, on per-user streams (`reads-<user>`,
`bookmarks-<user>`).

A cursor names a message; unread counts are the channel's messages after it in log order
(projections/read_models/messaging.py). `receipt` on ReadCursorMoved records the user's
`read_receipts` preference at that moment: the gateway sends `read_receipt` and the
cursors route shows the cursor only when it is true.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg import sql

from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.contracts import iso
from chatalot.domain.errors import DomainError, conflict, not_found
from chatalot.domain.messaging import events as ev
from chatalot.domain.messaging import rules
from chatalot.domain.spaces import permissions
from chatalot.domain.streams import bookmarks_stream, read_cursor_stream
from chatalot.ids import uuid7
from chatalot.messaging import contracts as c
from chatalot.messaging.commands.state import message_facts, run
from chatalot.messaging.runtime import MessagingRuntime
from chatalot.request_info import RequestInfo
from chatalot.spaces.access import load_channel_access, readable_channels
from projections.projector import read_model


async def _receipts_on(tx: Tx, user_id: uuid.UUID) -> bool:
    row = await tx.fetchone(
        "SELECT coalesce((preferences->>'read_receipts')::boolean, true) AS on"
        " FROM account_users WHERE user_id = %s", (user_id,))
    return bool(row["on"]) if row else True


async def mark_read(rt: MessagingRuntime, actor: uuid.UUID, channel_id: uuid.UUID,
                    message_id: uuid.UUID, info: RequestInfo) -> tuple[c.Position, str]:
    """Move the caller's cursor in the channel to `message_id` (a message of that channel,
    deleted ones included: 404 otherwise). Readers only (403)."""
    meta = info.metadata("mark_read", actor)

    async def work(tx: Tx) -> None:
        access = await load_channel_access(tx.conn, channel_id, actor)
        permissions.require_read(access)
        facts = await message_facts(tx, message_id)
        if facts is None or facts.channel_id != channel_id:
            raise not_found("no such message in this channel")
        tx.append(read_cursor_stream(actor), ev.ReadCursorMoved(
            channel_id=channel_id, user_id=actor, message_id=message_id,
            receipt=await _receipts_on(tx, actor)))

    _, position = await run(rt, meta, work)
    return c.Position(position=position), position


# Each channel's last message is its number `n` (channel_heads): one index probe per
# channel, not a walk over all its messages.
_LATEST = """
SELECT h.channel_id, m.message_id
  FROM {heads} h JOIN {messages} m ON m.channel_id = h.channel_id AND m.ord = h.n
 WHERE h.channel_id = ANY(%s)
"""

# The same by position, for an active build that predates `ord` and channel_heads (while
# an upgrade rebuilds beside it).
_LATEST_BY_POSITION = """
SELECT DISTINCT ON (m.channel_id) m.channel_id, m.message_id
  FROM {messages} m
 WHERE m.channel_id = ANY(%s)
 ORDER BY m.channel_id, m.epoch DESC, m.transaction_id DESC, m.sequence DESC
"""


async def _latest(tx: Tx, channels: list[uuid.UUID]) -> list[dict[str, Any]]:
    try:
        async with tx.conn.transaction():  # a savepoint: the fallback runs in this tx
            return await tx.fetchall(sql.SQL(_LATEST).format(
                heads=read_model("channel_heads"), messages=read_model("messages")
            ).as_string(tx.conn), (channels,))
    except (psycopg.errors.UndefinedColumn, psycopg.errors.UndefinedTable):
        return await tx.fetchall(sql.SQL(_LATEST_BY_POSITION).format(
            messages=read_model("messages")).as_string(tx.conn), (channels,))


async def mark_all_read(rt: MessagingRuntime, actor: uuid.UUID, info: RequestInfo
                        ) -> tuple[c.PositionOrNone, str | None]:
    """Every channel the caller may read, up to its latest message as the caller can see
    it (the history read model: what is not projected yet was not seen either). Channels
    already read to their latest message are left alone; nothing to do records nothing."""
    meta = info.metadata("mark_all_read", actor)

    async def work(tx: Tx) -> None:
        channels = await readable_channels(tx.conn, actor)
        if not channels:
            return
        try:
            latest = await _latest(tx, channels)
            cursors = {r["channel_id"]: r["message_id"] for r in await tx.fetchall(
                sql.SQL("SELECT channel_id, message_id FROM {} WHERE user_id = %s").format(
                    read_model("read_cursors")).as_string(tx.conn), (actor,))}
        except psycopg.errors.UndefinedTable:
            raise DomainError("projection_lag", "the read models are still being built"
                              ) from None
        receipt = await _receipts_on(tx, actor)
        moved = [ev.ReadCursorMoved(channel_id=r["channel_id"], user_id=actor,
                                    message_id=r["message_id"], receipt=receipt)
                 for r in latest if cursors.get(r["channel_id"]) != r["message_id"]]
        if moved:
            tx.append(read_cursor_stream(actor), *moved)

    _, position = await run_command(rt.store, meta, rt.now, work, may_record_nothing=True)
    return c.PositionOrNone(position=position), position


async def add_bookmark(rt: MessagingRuntime, actor: uuid.UUID, req: c.Bookmark,
                       info: RequestInfo) -> tuple[c.BookmarkOut, str]:
    """A message the caller may read (403/404); once per message (409)."""
    meta = info.metadata("add_bookmark", actor)
    bookmark_id = uuid7()

    async def work(tx: Tx) -> c.BookmarkOut:
        facts = rules.check_exists(await message_facts(tx, req.message_id))
        permissions.require_read(await load_channel_access(tx.conn, facts.channel_id, actor))
        added = await tx.execute(
            "INSERT INTO messaging_bookmarks (bookmark_id, user_id, message_id)"
            " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", (bookmark_id, actor, req.message_id))
        if not added:
            raise conflict("this message is already bookmarked")
        tx.append(bookmarks_stream(actor), ev.BookmarkAdded(
            bookmark_id=bookmark_id, user_id=actor, message_id=req.message_id,
            channel_id=facts.channel_id, note=req.note or None))
        return c.BookmarkOut(id=bookmark_id, message_id=req.message_id,
                             channel_id=facts.channel_id, note=req.note or None,
                             created_at=iso(tx.now))

    out, position = await run(rt, meta, work)
    out.position = position
    return out, position


async def remove_bookmark(rt: MessagingRuntime, actor: uuid.UUID, bookmark_id: uuid.UUID,
                          info: RequestInfo) -> tuple[c.Position, str]:
    meta = info.metadata("remove_bookmark", actor)

    async def work(tx: Tx) -> None:
        removed = await tx.execute(
            "DELETE FROM messaging_bookmarks WHERE bookmark_id = %s AND user_id = %s",
            (bookmark_id, actor))
        if not removed:
            raise not_found("no such bookmark")
        tx.append(bookmarks_stream(actor), ev.BookmarkRemoved(
            bookmark_id=bookmark_id, user_id=actor))

    _, position = await run(rt, meta, work)
    return c.Position(position=position), position
