"""Who may act in a channel: the rules shared by every route that needs channel membership.

Channels do not exist yet beyond their membership decision table (migrations/0004): a user
with no membership row may not act in the channel. Whether the channel exists at all
cannot be told apart from "not a member" yet, so both are 403 forbidden; once the channels
work keeps a channels table, an unknown channel can become 404 here without changing the
callers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Set

from chatalot.domain.errors import bad_request, forbidden


def require_member(is_member: bool) -> None:
    """The caller must belong to the channel: 403 forbidden otherwise (unknown channel
    included)."""
    if not is_member:
        raise forbidden("you are not a member of this channel")


def require_members(recipients: Iterable[uuid.UUID], members: Set[uuid.UUID],
                    what: str = "recipient") -> None:
    """Every named user must belong to the channel: 400 bad_request naming the first one
    who does not (they are fields of the request, not the caller's rights)."""
    for user_id in recipients:
        if user_id not in members:
            raise bad_request(f"{what} {user_id} is not a member of this channel")
