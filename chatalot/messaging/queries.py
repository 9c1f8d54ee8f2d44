"""Messaging queries: history, threads, edit history, pins, reactions, bookmarks. They
read the read models (projections/read_models/messaging.py) after checking the caller's
access on the decision tables (authorization is always the current truth, never a
projection that may lag behind a kick).

History is in log order (each row keeps its MessageSent's position); pages are returned
oldest first, whichever way they page, and `next_cursor` continues in the same direction.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from chatalot.contracts import iso
from chatalot.domain.errors import bad_request, not_found
from chatalot.domain.spaces import permissions
from chatalot.messaging import contracts as c
from chatalot.read_rows import projection_lag, read_pipelined, read_rows
from chatalot.spaces.access import (
    channel_access_from_row,
    channel_access_query,
    load_channel_access,
)
from event_store import Position
from projections.projector import read_model

Conn = psycopg.AsyncConnection[Any]
Pool = AsyncConnectionPool[Any]

_COLUMNS = (
    "message_id, channel_id, sender_id, ciphertext, nonce, encryption, message_type, reply_to,"
    " thread_id, sender_key_id, mentions, webhook_name, webhook_avatar, created_at, edited_at,"
    " deleted_at, quarantined, pinned, reply_count, epoch, transaction_id, sequence")


async def readable(conn: Conn, channel_id: uuid.UUID, user_id: uuid.UUID) -> None:
    permissions.require_read(await load_channel_access(conn, channel_id, user_id))


def _position(row: dict[str, Any]) -> str:
    return Position(row["epoch"], row["transaction_id"], row["sequence"]).encode()


def _hidden(row: dict[str, Any], staff: bool) -> bool:
    """A quarantined message's body is for instance staff only."""
    return bool(row["quarantined"]) and not staff


async def render(conn: Conn, found: Sequence[dict[str, Any]], staff: bool = False
                 ) -> list[c.Message]:
    """Rows as messages, with their reactions (one query for the page)."""
    ids = [r["message_id"] for r in found]
    reactions: dict[uuid.UUID, list[c.ReactionCount]] = {}
    if ids:
        for r in await read_rows(conn, sql.SQL(
                "SELECT message_id, emoji, array_agg(user_id ORDER BY epoch, transaction_id,"
                " sequence) AS users FROM {} WHERE message_id = ANY(%s)"
                " GROUP BY message_id, emoji ORDER BY min(epoch), min(transaction_id),"
                " min(sequence)").format(read_model("reactions")), (ids,)):
            reactions.setdefault(r["message_id"], []).append(c.ReactionCount(
                emoji=r["emoji"], count=len(r["users"]), user_ids=r["users"]))
    return messages_of(found, reactions, staff)


def messages_of(found: Sequence[dict[str, Any]],
                reactions: dict[uuid.UUID, list[c.ReactionCount]], staff: bool
                ) -> list[c.Message]:
    return [c.Message(
        id=r["message_id"], channel_id=r["channel_id"], sender_id=r["sender_id"],
        ciphertext=None if _hidden(r, staff) else r["ciphertext"],
        nonce=None if _hidden(r, staff) else r["nonce"], encryption=r["encryption"],
        message_type=r["message_type"], reply_to=r["reply_to"], thread_id=r["thread_id"],
        sender_key_id=r["sender_key_id"], mentions=list(r["mentions"]),
        webhook_name=r["webhook_name"], webhook_avatar=r["webhook_avatar"],
        created_at=iso(r["created_at"]), edited_at=iso(r["edited_at"]),
        deleted=r["deleted_at"] is not None, quarantined=r["quarantined"], pinned=r["pinned"],
        reply_count=r["reply_count"], reactions=reactions.get(r["message_id"], []),
        position=_position(r)) for r in found]


# A page's rows carry their reactions (what render's query answers, per message, in the
# same order: emoji by first use, users by reaction): the page is one statement.
_REACTIONS = """(
SELECT json_agg(json_build_array(x.emoji, x.users) ORDER BY x.e, x.t, x.s)
  FROM (SELECT r.emoji, array_agg(r.user_id ORDER BY r.epoch, r.transaction_id, r.sequence)
               AS users, min(r.epoch) AS e, min(r.transaction_id) AS t, min(r.sequence) AS s
          FROM {reactions} r WHERE r.message_id = m.message_id GROUP BY r.emoji) x
) AS reactions_json"""


def _reactions_of(found: Sequence[dict[str, Any]]) -> dict[uuid.UUID, list[c.ReactionCount]]:
    out: dict[uuid.UUID, list[c.ReactionCount]] = {}
    for r in found:
        if r["reactions_json"]:
            out[r["message_id"]] = [c.ReactionCount(
                emoji=emoji, count=len(users), user_ids=[uuid.UUID(u) for u in users])
                for emoji, users in r["reactions_json"]]
    return out


async def _anchor(conn: Conn, channel_id: uuid.UUID, message_id: uuid.UUID,
                  ) -> tuple[int, int, int]:
    found = await read_rows(conn, sql.SQL(
        "SELECT epoch, transaction_id, sequence FROM {} WHERE message_id = %s"
        " AND channel_id = %s").format(read_model("messages")), (message_id, channel_id))
    if not found:
        raise not_found("no such message in this channel")
    r = found[0]
    return r["epoch"], r["transaction_id"], r["sequence"]


def parse_cursor(cursor: str | None, before: uuid.UUID | None, after: uuid.UUID | None
                 ) -> tuple[str, uuid.UUID | None]:
    """('before' | 'after', anchor message id). A cursor is `b.<id>` or `a.<id>`."""
    given = [x for x in (cursor, before, after) if x is not None]
    if len(given) > 1:
        raise bad_request("give at most one of cursor, before and after")
    if cursor is not None:
        kind, _, raw = cursor.partition(".")
        try:
            anchor = uuid.UUID(raw)
        except ValueError:
            raise bad_request("malformed cursor") from None
        if kind not in ("a", "b"):
            raise bad_request("malformed cursor")
        return ("after" if kind == "a" else "before"), anchor
    if after is not None:
        return "after", after
    return "before", before


_ANCHOR = "(SELECT a.{col} FROM {t} a WHERE a.message_id = %s AND a.channel_id = %s)"


def page_query(direction: str, anchor: uuid.UUID | None, thread_id: uuid.UUID | None,
               channel_id: uuid.UUID, limit: int, *, messages: sql.Composable,
               reactions: sql.Composable, heads: sql.Composable, ordinal: bool = True
               ) -> tuple[sql.Composed, list[Any]]:
    """The statement of one page (`limit` rows, plus one that tells whether more follow).

    A channel's page is a range of its numbers (`ord`: 1, 2, ... in log order, no gaps:
    projections/read_models/messaging.py), so it names the exact `limit + 1` rows it
    reads: the newest before an anchor are `ord` anchor-limit-1 .. anchor-1. Bounded only
    by position (`< anchor`, ORDER BY, LIMIT), the plan depended on the planner's guess of
    how many rows precede the anchor: with statistics older than a channel's growth it
    guessed fewer than the limit and read every earlier message of the channel through a
    bitmap scan, then sorted them (27 ms for 6,000 rows, per page; a 400,000-message
    channel in seconds). Now every plan reads at most `limit + 1` rows.

    A thread's replies are not contiguous in `ord`: its pages stay position-bounded (on
    the thread index). `ordinal=False` is the same page by position only, for a build
    that predates `ord` (while an upgrade rebuilds beside it)."""
    where: list[sql.Composable] = [sql.SQL("m.channel_id = %s")]
    params: list[Any] = [channel_id]
    by_ord = ordinal and thread_id is None
    if thread_id is not None:
        where.append(sql.SQL("(m.thread_id = %s OR m.message_id = %s)"))
        params += [thread_id, thread_id]
    if by_ord:
        span = limit + 1
        if anchor is None:  # the newest: the channel's last `span` numbers
            where.append(sql.SQL(
                "m.ord > (SELECT h.n FROM {h} h WHERE h.channel_id = %s) - %s").format(h=heads))
            params += [channel_id, span]
        else:
            at = sql.SQL(_ANCHOR).format(col=sql.SQL("ord"), t=messages)
            if direction == "after":
                where.append(sql.SQL("m.ord > {a} AND m.ord <= {a} + %s").format(a=at))
            else:
                where.append(sql.SQL("m.ord < {a} AND m.ord >= {a} - %s").format(a=at))
            params += [anchor, channel_id, anchor, channel_id, span]
        keys = ["ord"]
    else:
        if anchor is not None:
            cmp = ">" if direction == "after" else "<"
            where.append(sql.SQL(
                f"(m.epoch, m.transaction_id, m.sequence) {cmp} (SELECT a.epoch,"
                " a.transaction_id, a.sequence FROM {t} a WHERE a.message_id = %s"
                " AND a.channel_id = %s)").format(t=messages))
            params += [anchor, channel_id]
        keys = ["epoch", "transaction_id", "sequence"]
    order = sql.SQL("ASC" if direction == "after" else "DESC")
    query = sql.SQL(
        "SELECT {cols}, {reactions} FROM {t} m WHERE {where} ORDER BY {order} LIMIT %s").format(
            cols=sql.SQL(", ").join(sql.Identifier("m", col.strip())
                                    for col in _COLUMNS.split(",")),
            reactions=sql.SQL(_REACTIONS).format(reactions=reactions), t=messages,
            where=sql.SQL(" AND ").join(where),
            order=sql.SQL(", ").join(sql.SQL("m.{} {}").format(sql.Identifier(k), order)
                                     for k in keys))
    return query, [*params, limit + 1]


async def _checked_page(conn: Conn, channel_id: uuid.UUID, user_id: uuid.UUID,
                        query: sql.Composed, params: list[Any]) -> list[dict[str, Any]]:
    """The access check and the page pipelined in one round trip; the page is only
    answered once the check passed."""
    access, rows = await read_pipelined(conn, channel_access_query(channel_id, user_id),
                                        (query, params))
    if not access:
        raise not_found("no such channel")
    permissions.require_read(channel_access_from_row(channel_id, access[0]))
    return rows


async def page(pool: Pool, user_id: uuid.UUID, channel_id: uuid.UUID, *, limit: int,
               cursor: str | None = None, before: uuid.UUID | None = None,
               after: uuid.UUID | None = None, thread_id: uuid.UUID | None = None,
               staff: bool = False) -> c.MessagePage:
    """A page of a channel's history (or of one thread: its root first, then its
    replies). Without a cursor, the newest `limit` messages.

    One round trip: the access check and the page (its anchor and reactions inside) are
    pipelined (page_query says which rows it reads)."""
    direction, anchor = parse_cursor(cursor, before, after)
    query_of = functools.partial(page_query, direction, anchor, thread_id, channel_id, limit,
                                 messages=read_model("messages"),
                                 reactions=read_model("reactions"),
                                 heads=read_model("channel_heads"))
    query, params = query_of()
    async with pool.connection() as conn:
        try:
            found = await _checked_page(conn, channel_id, user_id, query, params)
        except (psycopg.errors.UndefinedColumn, psycopg.errors.UndefinedTable):
            found = None  # an active build without `ord` (and channel_heads), or none yet
        try:
            if found is None:
                query, params = query_of(ordinal=False)
                found = await _checked_page(conn, channel_id, user_id, query, params)
        except psycopg.errors.UndefinedTable:  # the read models are still first built
            await readable(conn, channel_id, user_id)
            raise projection_lag() from None
        if not found and anchor is not None:
            await _anchor(conn, channel_id, anchor)  # 404 for an anchor not in the channel
    more = len(found) > limit
    found = found[:limit]
    if direction == "before":
        found.reverse()
    items = messages_of(found, _reactions_of(found), staff)
    next_cursor = None
    if more and items:
        edge = items[-1] if direction == "after" else items[0]
        next_cursor = f"{direction[0]}.{edge.id}"
    return c.MessagePage(items=items, next_cursor=next_cursor)


async def edit_history(pool: Pool, user_id: uuid.UUID, channel_id: uuid.UUID,
                       message_id: uuid.UUID, staff: bool = False) -> c.EditHistory:
    """Every version of a message, the original first; a never-edited message has one.
    A deleted message has none (its bodies left the read models)."""
    async with pool.connection() as conn:
        await readable(conn, channel_id, user_id)
        found = await read_rows(conn, sql.SQL(
            "SELECT ciphertext, nonce, mentions, editor_id, at, epoch, transaction_id,"
            " sequence FROM {} WHERE message_id = %s"
            " ORDER BY epoch, transaction_id, sequence").format(read_model("message_edits")),
            (message_id,))
        message = await read_rows(conn, sql.SQL(
            f"SELECT {_COLUMNS} FROM {{}} WHERE message_id = %s AND channel_id = %s").format(
                read_model("messages")), (message_id, channel_id))
    if not message:
        raise not_found("no such message in this channel")
    m = message[0]
    if _hidden(m, staff):
        found = []
    elif not found and m["ciphertext"] is not None:
        found = [{"ciphertext": m["ciphertext"], "nonce": m["nonce"], "mentions": m["mentions"],
                  "editor_id": m["sender_id"], "at": m["created_at"], "epoch": m["epoch"],
                  "transaction_id": m["transaction_id"], "sequence": m["sequence"]}]
    return c.EditHistory(message_id=message_id, versions=[c.Edit(
        ciphertext=r["ciphertext"], nonce=r["nonce"], mentions=list(r["mentions"]),
        editor_id=r["editor_id"], at=iso(r["at"]), position=_position(r)) for r in found])


async def pins(pool: Pool, user_id: uuid.UUID, channel_id: uuid.UUID, staff: bool = False
               ) -> list[c.Pin]:
    """The channel's pins, newest first (at most 50), each with its message."""
    async with pool.connection() as conn:
        await readable(conn, channel_id, user_id)
        found = await read_rows(conn, sql.SQL(
            "SELECT message_id, pinned_by, pinned_at FROM {} WHERE channel_id = %s"
            " ORDER BY pinned_at DESC, message_id DESC").format(read_model("pins")),
            (channel_id,))
        messages = await render(conn, await read_rows(conn, sql.SQL(
            f"SELECT {_COLUMNS} FROM {{}} WHERE message_id = ANY(%s)").format(
                read_model("messages")), ([r["message_id"] for r in found],)), staff)
    by_id = {m.id: m for m in messages}
    return [c.Pin(message_id=r["message_id"], pinned_by=r["pinned_by"],
                  pinned_at=iso(r["pinned_at"]), message=by_id.get(r["message_id"]))
            for r in found]


async def reactions(pool: Pool, user_id: uuid.UUID, message_id: uuid.UUID
                    ) -> list[c.ReactionCount]:
    """Who reacted with what, per emoji in the order first used."""
    async with pool.connection() as conn:
        found = await read_rows(conn, sql.SQL(
            "SELECT channel_id FROM {} WHERE message_id = %s").format(read_model("messages")),
            (message_id,))
        if not found:
            raise not_found("no such message")
        await readable(conn, found[0]["channel_id"], user_id)
        rendered = await render(conn, await read_rows(conn, sql.SQL(
            f"SELECT {_COLUMNS} FROM {{}} WHERE message_id = %s").format(
                read_model("messages")), (message_id,)))
    return rendered[0].reactions


async def bookmarks(pool: Pool, user_id: uuid.UUID) -> list[c.BookmarkOut]:
    """The caller's bookmarks, newest first (at most 500)."""
    async with pool.connection() as conn:
        found = await read_rows(conn, sql.SQL(
            "SELECT bookmark_id, message_id, channel_id, note, created_at FROM {}"
            " WHERE user_id = %s ORDER BY created_at DESC, bookmark_id DESC LIMIT 500").format(
                read_model("bookmarks")), (user_id,))
    return [c.BookmarkOut(id=r["bookmark_id"], message_id=r["message_id"],
                          channel_id=r["channel_id"], note=r["note"],
                          created_at=iso(r["created_at"])) for r in found]
