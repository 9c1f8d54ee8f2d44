"""Request and response bodies of /api/announcements and /api/admin/announcements.

The request bounds here are a first fence (a huge body is a 400 before a handler runs);
the rules (chatalot/domain/announcements/rules.py) decide the exact limits."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

from chatalot.contracts import Body
from chatalot.domain.announcements import rules

Title = Annotated[str, msgspec.Meta(max_length=rules.TITLE_MAX)]
Text = Annotated[str, msgspec.Meta(max_length=rules.BODY_MAX)]


class NewAnnouncement(Body, kw_only=True):
    title: Title
    body: Text


class Announcement(msgspec.Struct, kw_only=True):
    """Upstream's fields, plus the log position that published it."""

    id: uuid.UUID
    title: str
    body: str
    created_by: uuid.UUID
    created_at: str
    position: str


class Dismissed(msgspec.Struct, kw_only=True):
    """`position` is null when the announcement was already dismissed (nothing recorded)."""

    id: uuid.UUID
    position: str | None
