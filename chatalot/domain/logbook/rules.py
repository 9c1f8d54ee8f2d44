"""Who reads which part of the log.

Instance staff read all of it. A community's moderators (and its admins and owner) read the
streams of their communities only: the community's own stream, its groups' and its
channels' (members, settings, moderation actions), and the audit entries of those
communities. Never a user's account streams, a DM, or a message stream: message content is
not theirs to read through the log, whatever they could read as members.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import msgspec

from chatalot.domain.errors import forbidden
from chatalot.domain.spaces.roles import Role

# The stream categories (chatalot/domain/streams.py) a community moderator may read, when
# the event names one of their communities as its community_id.
MODERATED_CATEGORIES: tuple[str, ...] = ("community", "group", "channel")


class LogScope(msgspec.Struct, frozen=True):
    communities: tuple[uuid.UUID, ...] | None
    """None: the whole log (instance staff); else only these communities' streams."""

    @property
    def everything(self) -> bool:
        return self.communities is None


def decide_log_scope(is_staff: bool, community_roles: Mapping[uuid.UUID, Role]) -> LogScope:
    """Staff: everything; else the communities the caller moderates, or 403."""
    if is_staff:
        return LogScope(None)
    moderated = tuple(sorted(cid for cid, role in community_roles.items()
                             if role >= Role.MODERATOR))
    if not moderated:
        raise forbidden("instance staff and community moderators only")
    return LogScope(moderated)
