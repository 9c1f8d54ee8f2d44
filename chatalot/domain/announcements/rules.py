"""Rules of instance announcements (docs/announcements.md): plain functions that return
the event to record or raise DomainError.

Limits are upstream's (1-200 and 1-5000), counted in characters (code points), not UTF-8
bytes as upstream does: a limit a user can see while typing. A title or body of blanks
only says nothing and is refused."""

from __future__ import annotations

import uuid

from chatalot.domain.announcements.events import AnnouncementDismissed, AnnouncementPublished
from chatalot.domain.errors import DomainError, bad_request, not_found

TITLE_MAX = 200
BODY_MAX = 5000


def _text(name: str, value: str, most: int) -> str:
    if not value.strip():
        raise bad_request(f"{name} must not be empty")
    if len(value) > most:
        raise bad_request(f"{name} must be at most {most} characters")
    if "\x00" in value:
        raise bad_request(f"{name} must not contain NUL")
    return value


def publish(announcement_id: uuid.UUID, title: str, body: str, *, author: uuid.UUID,
            author_is_staff: bool) -> AnnouncementPublished:
    """Instance staff (admins and the owner) only; the text is kept as written."""
    if not author_is_staff:
        raise DomainError("forbidden", "instance admin only")
    return AnnouncementPublished(
        announcement_id=announcement_id, title=_text("title", title, TITLE_MAX),
        body=_text("body", body, BODY_MAX), created_by=author)


def dismiss(announcement_id: uuid.UUID, user_id: uuid.UUID, *, exists: bool,
            already_dismissed: bool) -> AnnouncementDismissed | None:
    """Any signed-in user, for themselves. An unknown announcement is 404; dismissing one
    already dismissed changes nothing and is not an error (None: nothing to record), as
    upstream answers it."""
    if not exists:
        raise not_found("no such announcement")
    if already_dismissed:
        return None
    return AnnouncementDismissed(announcement_id=announcement_id, user_id=user_id)
