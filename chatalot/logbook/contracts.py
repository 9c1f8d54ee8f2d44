"""Reply bodies of the log routes (/api/admin/events, /api/admin/streams/{id},
/api/admin/audit-log). The routes take only query parameters, bounded in the handlers."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from chatalot.domain.logbook.channel_state import Ban, ChannelSettings


class EventItem(msgspec.Struct, kw_only=True):
    """One event as recorded. Metadata keys: actor_id, causation_id, correlation_id, ip,
    user_agent, command."""

    position: str
    stream_id: str
    version: int
    event_id: uuid.UUID
    type: str
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: str
    redacted: bool
    """true when the content was replaced by a documented redaction"""


class EventPage(msgspec.Struct, kw_only=True):
    items: list[EventItem]
    next_cursor: str | None


class AuditEntry(msgspec.Struct, kw_only=True):
    """One moderation or security action: who did what to whom, where, when, why, from
    which address and user agent."""

    id: uuid.UUID
    """the event's id"""
    position: str
    action: str
    """the event type (UserSuspended, MemberBanned, ...)"""
    actor_id: str | None
    target_user_id: str | None
    community_id: str | None
    channel_id: str | None
    reason: str | None
    ip: str | None
    user_agent: str | None
    created_at: str


class AuditPage(msgspec.Struct, kw_only=True):
    items: list[AuditEntry]
    next_cursor: str | None


class MemberRole(msgspec.Struct, kw_only=True):
    user_id: str
    role: str


class ChannelStateReply(msgspec.Struct, kw_only=True):
    """A channel as of a point in the log, replayed from the log (no read model)."""

    channel: ChannelSettings
    members: list[MemberRole]
    bans: list[Ban]
    pins: list[str]
    """empty until messaging's pin events exist"""
    message_count: int
    """0 until messaging's events exist"""
    as_of_position: str
    """the position of the last event applied"""
