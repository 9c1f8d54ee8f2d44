"""Who may put a file in a channel and who may read it: the spaces context decides
(chatalot/spaces/access.py loads the caller's standing in the channel,
chatalot/domain/spaces/permissions.py is the one place its rules live). Files only ask."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import psycopg

from chatalot.domain.errors import not_found
from chatalot.domain.spaces import permissions
from chatalot.domain.spaces.access import ChannelAccess
from chatalot.spaces.access import (
    channel_access_from_row,
    channel_access_lateral,
    load_channel_access,
)

Conn = psycopg.AsyncConnection[Any]


async def posting_access(conn: Conn, channel_id: uuid.UUID, user_id: uuid.UUID,
                         now: datetime, *, lock: bool = False) -> ChannelAccess:
    """The caller may post in the channel now (404 unknown channel; 403 forbidden,
    timed_out or read_only). With `lock`, their membership row stays locked until the
    transaction ends, so a concurrent kick lands after the upload in the log."""
    access = await load_channel_access(conn, channel_id, user_id, lock=lock)
    permissions.require_post(access, now)
    return access


async def reading_access(conn: Conn, channel_id: uuid.UUID, user_id: uuid.UUID
                         ) -> ChannelAccess:
    """The caller may read the channel now (a kicked member may not, at once)."""
    access = await load_channel_access(conn, channel_id, user_id)
    permissions.require_read(access)
    return access


def reading_access_lateral(channel: str) -> str:
    """The reading check's statement for the channel a column of the caller's statement
    names, to join LATERAL (chatalot/spaces/access.py): `channel_found` is false for an
    unknown channel; the user is the parameter `%(u)s`. Judge its row with
    `require_reading`."""
    return f"SELECT true AS channel_found, x.* FROM ({channel_access_lateral(channel)}) x"


def require_reading(channel_id: uuid.UUID, row: dict[str, Any]) -> ChannelAccess:
    """What `reading_access` decides, from a row of `reading_access_lateral`'s statement
    (404 unknown channel, 403 may not read)."""
    if not row.get("channel_found"):
        raise not_found("no such channel")
    access = channel_access_from_row(channel_id, row)
    permissions.require_read(access)
    return access
