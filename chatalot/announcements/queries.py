"""Announcement queries, from the `announcements` read model
(projections/read_models/announcements.py), newest first (log order). A database still
building the read model answers 503 projection_lag."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from chatalot.announcements import contracts as c
from chatalot.contracts import iso
from chatalot.domain.streams import announcement_stream
from chatalot.read_rows import read_rows
from event_store import EventStore, Position
from projections.projector import read_model

_COLUMNS = ("SELECT a.announcement_id, a.title, a.body, a.created_by, a.created_at,"
            " a.epoch, a.transaction_id, a.sequence")
_NEWEST_FIRST = " ORDER BY a.epoch DESC, a.transaction_id DESC, a.sequence DESC"


def _item(r: dict[str, Any]) -> c.Announcement:
    return c.Announcement(
        id=r["announcement_id"], title=r["title"], body=r["body"], created_by=r["created_by"],
        created_at=iso(r["created_at"]),
        position=Position(r["epoch"], r["transaction_id"], r["sequence"]).encode())


async def undismissed(pool: AsyncConnectionPool[Any], user_id: uuid.UUID
                      ) -> list[c.Announcement]:
    """The caller's: every announcement they have not dismissed."""
    rows = await read_rows(pool, sql.SQL(
        _COLUMNS + " FROM {a} a WHERE NOT EXISTS (SELECT 1 FROM {d} d WHERE d.user_id = %s"
        " AND d.announcement_id = a.announcement_id)" + _NEWEST_FIRST).format(
        a=read_model("announcements"), d=read_model("announcement_dismissals")), (user_id,))
    return [_item(r) for r in rows]


async def everything(pool: AsyncConnectionPool[Any]) -> list[c.Announcement]:
    """Every announcement, for staff (created_by says who published it)."""
    rows = await read_rows(pool, sql.SQL(_COLUMNS + " FROM {a} a" + _NEWEST_FIRST).format(
        a=read_model("announcements")))
    return [_item(r) for r in rows]


async def published(store: EventStore, announcement_id: uuid.UUID) -> c.Announcement:
    """A just-published announcement as the command's reply, from the log itself (its
    `created_at` is the event's recorded_at, the value every read and frame shows)."""
    (event,) = await store.read_stream(announcement_stream(announcement_id))
    d = event.data
    return c.Announcement(id=d.announcement_id, title=d.title, body=d.body,
                          created_by=d.created_by, created_at=iso(event.recorded_at),
                          position=event.position.encode())
