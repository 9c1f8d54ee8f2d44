"""Read models of polls, scheduled messages and incoming webhooks (issue 13 item 3).

Events are chatalot's, handled by name: this module imports nothing from chatalot.
"""

from __future__ import annotations

from typing import Any, ClassVar

from psycopg import sql

from event_store import RecordedEvent
from projections.projector import ProjectionContext, Projector, on


async def _run(ctx: ProjectionContext, table: str, query: str, params: Any) -> None:
    await ctx.conn.execute(sql.SQL(query).format(t=ctx.table(table)), params)


class Polls(Projector):
    name = "polls"
    version = 1
    tables: ClassVar = {
        "polls": (
            "poll_id uuid PRIMARY KEY, channel_id uuid NOT NULL, creator_id uuid NOT NULL,"
            " question text NOT NULL, options text[] NOT NULL, multi_select boolean NOT NULL,"
            " anonymous boolean NOT NULL, expires_at timestamptz, closed boolean NOT NULL,"
            " created_at timestamptz NOT NULL"),
        "poll_votes": (
            "poll_id uuid NOT NULL, user_id uuid NOT NULL, option_indexes integer[] NOT NULL,"
            " PRIMARY KEY (poll_id, user_id)"),
    }
    indexes: ClassVar = ["CREATE INDEX ON {polls} (channel_id, poll_id)"]

    @on("PollCreated")
    async def created(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "polls", "INSERT INTO {t} VALUES (%s, %s, %s, %s, %s, %s, %s, %s,"
                   " false, %s) ON CONFLICT DO NOTHING",
                   (d.poll_id, d.channel_id, d.creator_id, d.question, list(d.options),
                    d.multi_select, d.anonymous, d.expires_at, event.recorded_at))

    @on("PollVoted")
    async def voted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "poll_votes", "INSERT INTO {t} VALUES (%s, %s, %s) ON CONFLICT"
                   " (poll_id, user_id) DO UPDATE SET option_indexes = excluded.option_indexes",
                   (d.poll_id, d.user_id, list(d.option_indexes)))

    @on("PollVoteRemoved")
    async def unvoted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "poll_votes", "DELETE FROM {t} WHERE poll_id = %s AND user_id = %s",
                   (d.poll_id, d.user_id))

    @on("PollClosed")
    async def closed(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "polls", "UPDATE {t} SET closed = true WHERE poll_id = %s",
                   (event.data.poll_id,))


class ScheduledMessages(Projector):
    """The pending scheduled messages, for their sender's list."""

    name = "scheduled_messages"
    version = 1
    tables: ClassVar = {"scheduled_messages": (
        "scheduled_id uuid PRIMARY KEY, channel_id uuid NOT NULL, sender_id uuid NOT NULL,"
        " due_at timestamptz NOT NULL, ciphertext text NOT NULL, nonce text NOT NULL,"
        " encryption text NOT NULL, message_type text NOT NULL,"
        " created_at timestamptz NOT NULL")}
    indexes: ClassVar = ["CREATE INDEX ON {scheduled_messages} (sender_id, due_at)"]

    @on("MessageScheduled")
    async def scheduled(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "scheduled_messages",
                   "INSERT INTO {t} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                   " ON CONFLICT DO NOTHING",
                   (d.scheduled_id, d.channel_id, d.sender_id, d.due_at, d.ciphertext, d.nonce,
                    d.encryption, d.message_type, event.recorded_at))

    @on("ScheduledMessageCancelled", "ScheduledMessageDelivered")
    async def done(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "scheduled_messages", "DELETE FROM {t} WHERE scheduled_id = %s",
                   (event.data.scheduled_id,))


class Webhooks(Projector):
    name = "webhooks"
    version = 1
    tables: ClassVar = {"webhooks": (
        "webhook_id uuid PRIMARY KEY, channel_id uuid NOT NULL, name text NOT NULL,"
        " avatar_url text, active boolean NOT NULL, created_by uuid NOT NULL,"
        " created_at timestamptz NOT NULL")}
    indexes: ClassVar = ["CREATE INDEX ON {webhooks} (channel_id)"]

    @on("WebhookCreated")
    async def created(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "webhooks", "INSERT INTO {t} VALUES (%s, %s, %s, %s, true, %s, %s)"
                   " ON CONFLICT DO NOTHING",
                   (d.webhook_id, d.channel_id, d.name, d.avatar_url, d.created_by,
                    event.recorded_at))

    @on("WebhookUpdated")
    async def updated(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "webhooks", "UPDATE {t} SET name = %s, avatar_url = %s, active = %s"
                   " WHERE webhook_id = %s", (d.name, d.avatar_url, d.active, d.webhook_id))

    @on("WebhookDeleted")
    async def deleted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "webhooks", "DELETE FROM {t} WHERE webhook_id = %s",
                   (event.data.webhook_id,))


PROJECTORS: list[type[Projector]] = [Polls, ScheduledMessages, Webhooks]
