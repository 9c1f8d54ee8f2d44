"""Poll rules (issue 13 item 3): 2-10 options, single or multi-select, anonymous or not,
an optional expiry; a vote replaces the voter's earlier one; a vote on a closed or
expired poll is 409 conflict."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from chatalot.domain.errors import bad_request, conflict

MIN_OPTIONS: Final = 2
MAX_OPTIONS: Final = 10
QUESTION_MAX: Final = 500
OPTION_MAX: Final = 200
MAX_EXPIRY: Final = timedelta(days=30)


def check_poll(question: str, options: Sequence[str]) -> tuple[str, list[str]]:
    """The question and options stripped; 400 for an empty one or a duplicate option."""
    question = question.strip()
    cleaned = [o.strip() for o in options]
    if not question:
        raise bad_request("the question is empty")
    if not MIN_OPTIONS <= len(cleaned) <= MAX_OPTIONS:
        raise bad_request(f"a poll has {MIN_OPTIONS}-{MAX_OPTIONS} options")
    if any(not o for o in cleaned):
        raise bad_request("an option is empty")
    if len({o.casefold() for o in cleaned}) != len(cleaned):
        raise bad_request("two options are the same")
    return question, cleaned


def expiry(now: datetime, minutes: int | None) -> datetime | None:
    if minutes is None:
        return None
    if minutes < 1 or timedelta(minutes=minutes) > MAX_EXPIRY:
        raise bad_request("a poll expires 1 minute to 30 days after it is created")
    return now + timedelta(minutes=minutes)


@dataclass(frozen=True)
class PollState:
    option_count: int
    multi_select: bool
    expires_at: datetime | None
    closed: bool
    creator_id: uuid.UUID | None = None

    def open_at(self, now: datetime) -> bool:
        return not self.closed and (self.expires_at is None or now < self.expires_at)


def check_open(poll: PollState, now: datetime) -> None:
    if not poll.open_at(now):
        raise conflict("the poll is closed")


def check_vote(poll: PollState, choice: Sequence[int], now: datetime) -> list[int]:
    """The chosen option indexes, sorted: at least one, each an option, none twice, and
    one only unless multi-select (400); the poll open (409)."""
    check_open(poll, now)
    picked = sorted(set(choice))
    if not picked or len(picked) != len(choice):
        raise bad_request("choose at least one option, each once")
    if any(not 0 <= i < poll.option_count for i in picked):
        raise bad_request("no such option")
    if len(picked) > 1 and not poll.multi_select:
        raise bad_request("this poll takes one choice")
    return picked
