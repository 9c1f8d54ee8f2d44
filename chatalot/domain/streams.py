"""Every stream's name, in one place. Streams are small, one per thing (`<kind>-<id>`), so
a command decides from one short stream or a decision table, never by replaying a long one."""

from __future__ import annotations

import uuid
from datetime import date


def user_stream(user_id: uuid.UUID) -> str:
    return f"user-{user_id}"


def session_stream(session_id: uuid.UUID) -> str:
    return f"session-{session_id}"


def keys_stream(user_id: uuid.UUID) -> str:
    return f"keys-{user_id}"


def sender_keys_stream(channel_id: uuid.UUID, sender_id: uuid.UUID) -> str:
    return f"senderkeys-{channel_id}-{sender_id}"


def invite_stream(invite_id: uuid.UUID) -> str:
    return f"invite-{invite_id}"


def report_stream(report_id: uuid.UUID) -> str:
    return f"report-{report_id}"


def auth_day_stream(day: date) -> str:
    """Audit of sign-in attempts that name no known account, one stream a day."""
    return f"auth-{day.isoformat()}"


def community_stream(community_id: uuid.UUID) -> str:
    return f"community-{community_id}"


def group_stream(group_id: uuid.UUID) -> str:
    return f"group-{group_id}"


def channel_stream(channel_id: uuid.UUID) -> str:
    """A channel's lifecycle and membership (DMs are channels of kind "dm")."""
    return f"channel-{channel_id}"


def message_stream(message_id: uuid.UUID) -> str:
    return f"message-{message_id}"


def read_cursor_stream(user_id: uuid.UUID) -> str:
    """One user's read cursors in every channel."""
    return f"reads-{user_id}"


def bookmarks_stream(user_id: uuid.UUID) -> str:
    return f"bookmarks-{user_id}"


def announcement_stream(announcement_id: uuid.UUID) -> str:
    return f"announcement-{announcement_id}"


def announcement_dismissal_stream(announcement_id: uuid.UUID, user_id: uuid.UUID) -> str:
    """One per (announcement, user): dismissals never contend on a shared stream."""
    return f"announcement-{announcement_id}-dismissed-{user_id}"


def poll_stream(poll_id: uuid.UUID) -> str:
    return f"poll-{poll_id}"


def scheduled_stream(scheduled_id: uuid.UUID) -> str:
    return f"scheduled-{scheduled_id}"


def webhook_stream(webhook_id: uuid.UUID) -> str:
    return f"webhook-{webhook_id}"


def file_stream(file_id: uuid.UUID) -> str:
    return f"file-{file_id}"


def blocked_hash_stream(hash_id: uuid.UUID) -> str:
    return f"blockedhash-{hash_id}"


def media_stream(owner_kind: str, owner_id: uuid.UUID) -> str:
    return f"media-{owner_kind}-{owner_id}"


def blob_stream(sha256: str) -> str:
    return f"blob-{sha256}"
