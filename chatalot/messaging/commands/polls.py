"""Polls: created by anyone who may post; votes by readers who may post; closed by their
creator or a moderator. A vote on a closed or expired poll is 409 (domain/messaging/polls).
Votes hold the poll's decision row FOR SHARE (they run together), closing FOR UPDATE (it
waits for votes in flight, and votes after it see it closed)."""

from __future__ import annotations

import uuid

from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.contracts import iso
from chatalot.domain.errors import DomainError, not_found
from chatalot.domain.messaging import events as ev
from chatalot.domain.messaging import polls as rules
from chatalot.domain.spaces import permissions
from chatalot.domain.streams import poll_stream
from chatalot.ids import uuid7
from chatalot.messaging import contracts as c
from chatalot.messaging.commands.state import run
from chatalot.messaging.runtime import MessagingRuntime
from chatalot.request_info import RequestInfo
from chatalot.spaces.access import load_channel_access
from event_store import NO_STREAM, Metadata


async def create_poll(rt: MessagingRuntime, actor: uuid.UUID, channel_id: uuid.UUID,
                      req: c.CreatePoll, info: RequestInfo) -> tuple[c.Poll, str]:
    question, options = rules.check_poll(req.question, req.options)
    meta = info.metadata("create_poll", actor)
    poll_id = uuid7()

    async def work(tx: Tx) -> c.Poll:
        access = await load_channel_access(tx.conn, channel_id, actor, lock=True)
        permissions.require_post(access, tx.now)
        expires = rules.expiry(tx.now, req.expires_in_minutes)
        await tx.execute(
            "INSERT INTO messaging_polls (poll_id, channel_id, creator_id, option_count,"
            " multi_select, expires_at) VALUES (%s, %s, %s, %s, %s, %s)",
            (poll_id, channel_id, actor, len(options), req.multi_select, expires))
        tx.append(poll_stream(poll_id), ev.PollCreated(
            poll_id=poll_id, channel_id=channel_id, creator_id=actor, question=question,
            options=options, multi_select=req.multi_select, anonymous=req.anonymous,
            expires_at=expires), expected=NO_STREAM)
        return c.Poll(id=poll_id, channel_id=channel_id, creator_id=actor, question=question,
                      options=[c.PollOption(text=o, votes=0,
                                            voter_ids=None if req.anonymous else [])
                               for o in options],
                      multi_select=req.multi_select, anonymous=req.anonymous,
                      expires_at=iso(expires), closed=False, total_voters=0, my_vote=None,
                      created_at=iso(tx.now))

    poll, position = await run(rt, meta, work)
    poll.position = position
    return poll, position


async def _poll(tx: Tx, poll_id: uuid.UUID, lock: str) -> tuple[uuid.UUID, rules.PollState]:
    row = await tx.fetchone(
        "SELECT channel_id, creator_id, option_count, multi_select, expires_at, closed"
        f" FROM messaging_polls WHERE poll_id = %s FOR {lock}", (poll_id,))
    if row is None:
        raise not_found("no such poll")
    return row["channel_id"], rules.PollState(row["option_count"], row["multi_select"],
                                              row["expires_at"], row["closed"],
                                              row["creator_id"])


async def vote(rt: MessagingRuntime, actor: uuid.UUID, poll_id: uuid.UUID, req: c.Vote,
               info: RequestInfo) -> tuple[c.Position, str]:
    meta = info.metadata("vote_poll", actor)

    async def work(tx: Tx) -> None:
        channel_id, poll = await _poll(tx, poll_id, "SHARE")
        permissions.require_post(
            await load_channel_access(tx.conn, channel_id, actor, lock=True), tx.now)
        picked = rules.check_vote(poll, req.option_indexes, tx.now)
        await tx.execute("INSERT INTO messaging_poll_votes (poll_id, user_id) VALUES (%s, %s)"
                         " ON CONFLICT DO NOTHING", (poll_id, actor))
        tx.append(poll_stream(poll_id), ev.PollVoted(
            poll_id=poll_id, channel_id=channel_id, user_id=actor, option_indexes=picked))

    _, position = await run(rt, meta, work)
    return c.Position(position=position), position


async def remove_vote(rt: MessagingRuntime, actor: uuid.UUID, poll_id: uuid.UUID,
                      info: RequestInfo) -> tuple[c.Position, str]:
    """404 without a vote; 409 once the poll is closed (its result is final)."""
    meta = info.metadata("remove_poll_vote", actor)

    async def work(tx: Tx) -> None:
        channel_id, poll = await _poll(tx, poll_id, "SHARE")
        permissions.require_read(await load_channel_access(tx.conn, channel_id, actor))
        rules.check_open(poll, tx.now)
        if not await tx.execute("DELETE FROM messaging_poll_votes WHERE poll_id = %s"
                                " AND user_id = %s", (poll_id, actor)):
            raise not_found("you have not voted")
        tx.append(poll_stream(poll_id), ev.PollVoteRemoved(
            poll_id=poll_id, channel_id=channel_id, user_id=actor))

    _, position = await run(rt, meta, work)
    return c.Position(position=position), position


async def close_poll(rt: MessagingRuntime, actor: uuid.UUID, poll_id: uuid.UUID,
                     info: RequestInfo) -> tuple[c.Position, str]:
    """Its creator or the channel's moderators; closing a closed poll is 409."""
    meta = info.metadata("close_poll", actor)

    async def work(tx: Tx) -> None:
        channel_id, poll = await _poll(tx, poll_id, "UPDATE")
        access = await load_channel_access(tx.conn, channel_id, actor)
        permissions.require_read(access)
        if poll.creator_id != actor:
            permissions.require_moderate(access)
        if poll.closed:
            raise DomainError("conflict", "the poll is closed")
        await tx.execute("UPDATE messaging_polls SET closed = true WHERE poll_id = %s",
                         (poll_id,))
        tx.append(poll_stream(poll_id), ev.PollClosed(
            poll_id=poll_id, channel_id=channel_id, closed_by=actor))

    _, position = await run(rt, meta, work)
    return c.Position(position=position), position


async def close_expired_polls(rt: MessagingRuntime) -> int:
    """Close every poll whose expiry passed (PollClosed with no `closed_by`). Every node
    calls it; the conditional UPDATE closes each poll once (a second node's waits, then
    finds it closed)."""
    meta = Metadata(command="close_expired_polls")
    async with rt.pool.connection() as conn:  # a cheap look first: no transaction, no wake-up
        cur = await conn.execute(
            "SELECT 1 FROM messaging_polls WHERE NOT closed AND expires_at IS NOT NULL"
            " AND expires_at <= %s LIMIT 1", (rt.now(),))
        if await cur.fetchone() is None:
            return 0

    async def work(tx: Tx) -> int:
        rows = await tx.fetchall(
            "UPDATE messaging_polls SET closed = true WHERE poll_id IN ("
            " SELECT poll_id FROM messaging_polls WHERE NOT closed AND expires_at IS NOT NULL"
            " AND expires_at <= %s ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED)"
            " AND NOT closed RETURNING poll_id, channel_id", (tx.now,))
        for row in rows:
            tx.append(poll_stream(row["poll_id"]), ev.PollClosed(
                poll_id=row["poll_id"], channel_id=row["channel_id"], closed_by=None))
        return len(rows)

    closed, _ = await run_command(rt.store, meta, rt.now, work, may_record_nothing=True)
    return closed
