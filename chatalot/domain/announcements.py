"""Instance announcements (protocol.md: the `announcement` frame; GET/POST
/admin/announcements). Stream `announcement-<id>` (chatalot/domain/streams.py).

The gateway delivers AnnouncementPublished to every live socket as `announcement {id,
title, body, created_by, created_at, position}` (the upstream fields, plus our position),
and a resume replays it like any other event.
"""

from __future__ import annotations

import uuid

import msgspec


class AnnouncementPublished(msgspec.Struct, frozen=True, kw_only=True):
    announcement_id: uuid.UUID
    title: str
    body: str
    created_by: uuid.UUID


EVENTS: list[type[msgspec.Struct]] = [AnnouncementPublished]
