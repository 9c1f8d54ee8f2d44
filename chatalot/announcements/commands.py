"""Announcement commands: read the decision tables (migrations/0033), apply
chatalot/domain/announcements/rules.py, record the event and the decision row in one
transaction (chatalot/command_tx.py).

Dismissals race safely: the dismissal row's primary key makes a concurrent second insert
wait for the first and then find it, so it records nothing; its stream is new
(NO_STREAM) as a second line of defence."""

from __future__ import annotations

import uuid

from chatalot.announcements.runtime import AnnouncementsRuntime
from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.domain.announcements import rules
from chatalot.domain.streams import announcement_dismissal_stream, announcement_stream
from chatalot.ids import uuid7
from chatalot.request_info import RequestInfo
from event_store import NO_STREAM


async def publish(rt: AnnouncementsRuntime, author: uuid.UUID, is_staff: bool, title: str,
                  body: str, info: RequestInfo) -> tuple[uuid.UUID, str]:
    """The new announcement's id and the position of its AnnouncementPublished."""
    announcement_id = uuid7()
    event = rules.publish(announcement_id, title, body, author=author, author_is_staff=is_staff)

    async def work(tx: Tx) -> uuid.UUID:
        await tx.execute(
            "INSERT INTO published_announcements (announcement_id, created_by, published_at)"
            " VALUES (%s, %s, %s)", (announcement_id, author, tx.now))
        tx.append(announcement_stream(announcement_id), event, expected=NO_STREAM)
        return announcement_id

    return await run_command(rt.store, info.metadata("publish_announcement", author),
                             rt.now, work)


async def dismiss(rt: AnnouncementsRuntime, user: uuid.UUID, announcement_id: uuid.UUID,
                  info: RequestInfo) -> str | None:
    """The position of the AnnouncementDismissed, or None when it was dismissed already."""

    async def work(tx: Tx) -> None:
        exists = await tx.fetchone(
            "SELECT 1 FROM published_announcements WHERE announcement_id = %s",
            (announcement_id,)) is not None
        fresh = exists and await tx.execute(
            "INSERT INTO dismissed_announcements (announcement_id, user_id) VALUES (%s, %s)"
            " ON CONFLICT DO NOTHING", (announcement_id, user)) == 1
        event = rules.dismiss(announcement_id, user, exists=exists,
                              already_dismissed=not fresh)
        if event is not None:
            tx.append(announcement_dismissal_stream(announcement_id, user), event,
                      expected=NO_STREAM)

    _, position = await run_command(rt.store, info.metadata("dismiss_announcement", user),
                                    rt.now, work, may_record_nothing=True)
    return position
