"""Queries of polls, scheduled messages and webhooks (read models in
projections/read_models/messaging_extras.py)."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import sql

from chatalot.contracts import iso
from chatalot.domain.errors import bad_request
from chatalot.domain.spaces import permissions
from chatalot.messaging import contracts as c
from chatalot.messaging.queries import Pool, readable
from chatalot.read_rows import read_rows
from chatalot.spaces.access import load_channel_access
from projections.projector import read_model


def _after(cursor: str | None) -> uuid.UUID | None:
    if cursor is None:
        return None
    try:
        return uuid.UUID(cursor)
    except ValueError:
        raise bad_request("malformed cursor") from None


def _poll(r: dict[str, Any], votes: list[dict[str, Any]], user_id: uuid.UUID) -> c.Poll:
    anonymous = r["anonymous"]
    options = [c.PollOption(text=text, votes=0, voter_ids=None if anonymous else [])
               for text in r["options"]]
    mine = None
    for v in votes:
        for i in v["option_indexes"]:
            if 0 <= i < len(options):
                options[i].votes += 1
                if options[i].voter_ids is not None:
                    options[i].voter_ids.append(v["user_id"])
        if v["user_id"] == user_id:
            mine = list(v["option_indexes"])
    return c.Poll(id=r["poll_id"], channel_id=r["channel_id"], creator_id=r["creator_id"],
                  question=r["question"], options=options, multi_select=r["multi_select"],
                  anonymous=anonymous, expires_at=iso(r["expires_at"]), closed=r["closed"]
                  or (r["expires_at"] is not None and r["expires_at"] <= r["now"]),
                  total_voters=len(votes), my_vote=mine, created_at=iso(r["created_at"]))


async def polls(pool: Pool, user_id: uuid.UUID, channel_id: uuid.UUID, *, limit: int,
                cursor: str | None) -> c.PollPage:
    """The channel's polls, newest first, with their results (who voted what unless
    anonymous; one's own vote always)."""
    after = _after(cursor)
    async with pool.connection() as conn:
        await readable(conn, channel_id, user_id)
        found = await read_rows(conn, sql.SQL(
            "SELECT *, now() AS now FROM {} WHERE channel_id = %s"
            " AND (%s::uuid IS NULL OR poll_id < %s) ORDER BY poll_id DESC LIMIT %s").format(
                read_model("polls")), (channel_id, after, after, limit + 1))
        ids = [r["poll_id"] for r in found[:limit]]
        votes = await read_rows(conn, sql.SQL(
            "SELECT poll_id, user_id, option_indexes FROM {} WHERE poll_id = ANY(%s)"
            " ORDER BY user_id").format(read_model("poll_votes")), (ids,))
    by_poll: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for v in votes:
        by_poll.setdefault(v["poll_id"], []).append(v)
    items = [_poll(r, by_poll.get(r["poll_id"], []), user_id) for r in found[:limit]]
    return c.PollPage(items=items, next_cursor=str(items[-1].id) if len(found) > limit
                      else None)


async def scheduled(pool: Pool, user_id: uuid.UUID, *, limit: int, cursor: str | None
                    ) -> c.ScheduledPage:
    """The caller's pending scheduled messages, by id (creation order)."""
    after = _after(cursor)
    async with pool.connection() as conn:
        found = await read_rows(conn, sql.SQL(
            "SELECT * FROM {} WHERE sender_id = %s AND (%s::uuid IS NULL OR scheduled_id > %s)"
            " ORDER BY scheduled_id LIMIT %s").format(read_model("scheduled_messages")),
            (user_id, after, after, limit + 1))
    items = [c.Scheduled(id=r["scheduled_id"], channel_id=r["channel_id"],
                         scheduled_for=iso(r["due_at"]), ciphertext=r["ciphertext"],
                         nonce=r["nonce"], encryption=r["encryption"],
                         message_type=r["message_type"], created_at=iso(r["created_at"]))
             for r in found[:limit]]
    return c.ScheduledPage(items=items, next_cursor=str(items[-1].id) if len(found) > limit
                           else None)


async def webhooks(pool: Pool, user_id: uuid.UUID, channel_id: uuid.UUID) -> list[c.Webhook]:
    """The channel's webhooks, for its admins (never a token)."""
    async with pool.connection() as conn:
        permissions.require_manage(await load_channel_access(conn, channel_id, user_id))
        found = await read_rows(conn, sql.SQL(
            "SELECT * FROM {} WHERE channel_id = %s ORDER BY webhook_id").format(
                read_model("webhooks")), (channel_id,))
    return [c.Webhook(id=r["webhook_id"], channel_id=r["channel_id"], name=r["name"],
                      avatar_url=r["avatar_url"], active=r["active"],
                      created_by=r["created_by"], created_at=iso(r["created_at"]))
            for r in found]
