"""Scheduled-message rules (issue 13 item 3): due at most 30 days ahead and in the future,
at most 50 pending per user (422 limit_reached)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from chatalot.domain.errors import DomainError, bad_request

MAX_AHEAD: Final = timedelta(days=30)
MAX_PENDING: Final = 50


def check_due(due_at: datetime, now: datetime) -> datetime:
    if due_at.tzinfo is None:
        raise bad_request("scheduled_for needs a time zone (RFC 3339)")
    if due_at <= now:
        raise bad_request("scheduled_for is in the past")
    if due_at - now > MAX_AHEAD:
        raise bad_request("a message can be scheduled at most 30 days ahead")
    return due_at


def check_room(pending: int) -> None:
    if pending >= MAX_PENDING:
        raise DomainError("limit_reached", f"at most {MAX_PENDING} scheduled messages")
