"""Read model of instance announcements (docs/announcements.md): every announcement
(`announcements`) and who dismissed which (`announcement_dismissals`). Queries read them
through `read_models.<table>` (chatalot/announcements/queries.py).

Events are chatalot's, handled by name: this module imports nothing from chatalot. A
deleted account's dismissals go (nobody can ask for its list any more); the announcements
it published stay, with its id as their author (instance content, like upstream's).
"""

from __future__ import annotations

from typing import ClassVar

from psycopg import sql

from event_store import RecordedEvent
from projections.projector import ProjectionContext, Projector, on


class Announcements(Projector):
    name = "announcements"
    version = 1
    tables: ClassVar = {
        "announcements": (
            "announcement_id uuid PRIMARY KEY, title text NOT NULL, body text NOT NULL,"
            " created_by uuid NOT NULL, created_at timestamptz NOT NULL,"
            " epoch integer NOT NULL, transaction_id bigint NOT NULL, sequence bigint NOT NULL"),
        "announcement_dismissals": (
            "announcement_id uuid NOT NULL, user_id uuid NOT NULL,"
            " PRIMARY KEY (user_id, announcement_id)"),
    }

    @on("AnnouncementPublished")
    async def published(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d, p = event.data, event.position
        await ctx.conn.execute(sql.SQL(
            "INSERT INTO {} (announcement_id, title, body, created_by, created_at, epoch,"
            " transaction_id, sequence) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (announcement_id) DO NOTHING").format(ctx.table("announcements")),
            (d.announcement_id, d.title, d.body, d.created_by, event.recorded_at,
             p.epoch, p.transaction_id, p.sequence))

    @on("AnnouncementDismissed")
    async def dismissed(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await ctx.conn.execute(sql.SQL(
            "INSERT INTO {} (announcement_id, user_id) VALUES (%s, %s) ON CONFLICT DO NOTHING"
        ).format(ctx.table("announcement_dismissals")),
            (event.data.announcement_id, event.data.user_id))

    @on("UserDeleted")
    async def user_deleted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await ctx.conn.execute(sql.SQL("DELETE FROM {} WHERE user_id = %s").format(
            ctx.table("announcement_dismissals")), (event.data.user_id,))


PROJECTORS: list[type[Projector]] = [Announcements]
