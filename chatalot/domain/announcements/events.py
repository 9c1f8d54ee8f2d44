"""Instance announcements' events (docs/announcements.md).

- AnnouncementPublished, in `announcement-<id>` (its first and only event there): the
  gateway delivers it to every live socket as `announcement {id, title, body, created_by,
  created_at, position}` and a resume replays it (docs/gateway.md).
- AnnouncementDismissed, in `announcement-<id>-dismissed-<user>`: one small stream per
  (announcement, user), so dismissals by many users never contend on one stream version
  and a second dismissal of the same pair finds the stream already there. It is nobody's
  business but the dismisser's: the gateway delivers it to no socket.
"""

from __future__ import annotations

import uuid

import msgspec


class AnnouncementPublished(msgspec.Struct, frozen=True, kw_only=True):
    announcement_id: uuid.UUID
    title: str
    body: str
    created_by: uuid.UUID


class AnnouncementDismissed(msgspec.Struct, frozen=True, kw_only=True):
    announcement_id: uuid.UUID
    user_id: uuid.UUID


ANNOUNCEMENT_EVENTS: list[type[msgspec.Struct]] = [AnnouncementPublished,
                                                   AnnouncementDismissed]
