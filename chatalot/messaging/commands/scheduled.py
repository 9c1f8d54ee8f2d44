"""Scheduled messages: schedule and cancel (the sender's), and the delivery that the
process manager (chatalot/messaging/scheduler.py) runs at the due time.

Exactly once: `messaging_scheduled` holds one row per pending message; the delivery
deletes it in the transaction that appends the message, so of two nodes (or a node and
its restarted self) racing for one, the second deletes nothing and appends nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.contracts import iso
from chatalot.domain.errors import DomainError, bad_request, not_found
from chatalot.domain.messaging import events as ev
from chatalot.domain.messaging import rules, scheduling
from chatalot.domain.spaces import permissions
from chatalot.domain.streams import scheduled_stream
from chatalot.ids import uuid7
from chatalot.messaging import contracts as c
from chatalot.messaging.commands.messages import checked_send
from chatalot.messaging.commands.state import lock_channel, run
from chatalot.messaging.runtime import MessagingRuntime
from chatalot.request_info import RequestInfo
from chatalot.spaces.access import load_channel_access, members_among
from event_store import NO_STREAM, Metadata


def _due(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request("scheduled_for is not an RFC 3339 time") from None


async def schedule_message(rt: MessagingRuntime, actor: uuid.UUID, req: c.ScheduleMessage,
                           info: RequestInfo) -> tuple[c.Scheduled, str]:
    """Checked now as a send would be (membership, E2E, body, mentions; slow mode and
    posting rights are checked again at delivery); at most 50 pending per user (422)."""
    rules.check_body(req.ciphertext, req.nonce, req.encryption, rt.max_message_bytes)
    due = _due(req.scheduled_for)
    meta = info.metadata("schedule_message", actor)
    scheduled_id = uuid7()

    async def work(tx: Tx) -> c.Scheduled:
        scheduling.check_due(due, tx.now)
        access = await load_channel_access(tx.conn, req.channel_id, actor, lock=True)
        permissions.require_post(access, tx.now)
        rules.check_encryption(req.encryption, access.e2e_required)
        mentions = rules.check_mentions(
            req.mentions, await members_among(tx.conn, req.channel_id, req.mentions))
        await lock_channel(tx, "scheduled", actor)
        row = await tx.fetchone(
            "SELECT count(*) AS n FROM messaging_scheduled WHERE sender_id = %s", (actor,))
        scheduling.check_room(int(row["n"]) if row else 0)
        await tx.execute(
            "INSERT INTO messaging_scheduled (scheduled_id, channel_id, sender_id, due_at)"
            " VALUES (%s, %s, %s, %s)", (scheduled_id, req.channel_id, actor, due))
        tx.append(scheduled_stream(scheduled_id), ev.MessageScheduled(
            scheduled_id=scheduled_id, channel_id=req.channel_id, sender_id=actor,
            ciphertext=req.ciphertext, nonce=req.nonce, encryption=req.encryption,
            message_type=req.message_type, due_at=due, reply_to=req.reply_to,
            thread_id=req.thread_id, sender_key_id=req.sender_key_id, mentions=mentions),
            expected=NO_STREAM)
        return c.Scheduled(id=scheduled_id, channel_id=req.channel_id, scheduled_for=iso(due),
                           ciphertext=req.ciphertext, nonce=req.nonce,
                           encryption=req.encryption, message_type=req.message_type,
                           created_at=iso(tx.now))

    out, position = await run(rt, meta, work)
    out.position = position
    return out, position


async def cancel_scheduled(rt: MessagingRuntime, actor: uuid.UUID, scheduled_id: uuid.UUID,
                           info: RequestInfo) -> tuple[c.Position, str]:
    """One's own pending message; 404 once delivered or cancelled (or someone else's)."""
    meta = info.metadata("cancel_scheduled", actor)

    async def work(tx: Tx) -> None:
        row = await tx.fetchone(
            "DELETE FROM messaging_scheduled WHERE scheduled_id = %s AND sender_id = %s"
            " RETURNING channel_id", (scheduled_id, actor))
        if row is None:
            raise not_found("no such scheduled message")
        tx.append(scheduled_stream(scheduled_id), ev.ScheduledMessageCancelled(
            scheduled_id=scheduled_id, channel_id=row["channel_id"], sender_id=actor))

    _, position = await run(rt, meta, work)
    return c.Position(position=position), position


async def deliver_scheduled(rt: MessagingRuntime, scheduled: ev.MessageScheduled
                            ) -> str | None:
    """Send a due message as its sender, checked as a send is now; a refused one is
    dropped with ScheduledMessageDelivered(refused=<code>). None when another node (or a
    cancel) got there first: nothing is recorded."""
    meta = Metadata(actor_id=str(scheduled.sender_id), command="deliver_scheduled")
    message_id = uuid7()
    req = c.SendMessage(
        ciphertext=scheduled.ciphertext, nonce=scheduled.nonce,
        encryption=scheduled.encryption,  # type: ignore[arg-type]
        message_type=scheduled.message_type,  # type: ignore[arg-type]
        reply_to=scheduled.reply_to, thread_id=scheduled.thread_id,
        sender_key_id=scheduled.sender_key_id, mentions=list(scheduled.mentions))

    async def work(tx: Tx) -> None:
        row = await tx.fetchone(
            "DELETE FROM messaging_scheduled WHERE scheduled_id = %s RETURNING scheduled_id",
            (scheduled.scheduled_id,))
        if row is None:
            return
        refused: str | None = None
        try:
            async with tx.conn.transaction():  # a savepoint: a refusal undoes its writes
                pending, later = len(tx.pending), len(tx.later)
                await checked_send(tx, rt, scheduled.sender_id, scheduled.channel_id, req,
                                   message_id, scheduled_id=scheduled.scheduled_id)
        except DomainError as error:
            del tx.pending[pending:]
            del tx.later[later:]
            refused = error.code
        tx.append(scheduled_stream(scheduled.scheduled_id), ev.ScheduledMessageDelivered(
            scheduled_id=scheduled.scheduled_id, channel_id=scheduled.channel_id,
            sender_id=scheduled.sender_id, message_id=None if refused else message_id,
            refused=refused))

    _, position = await run_command(rt.store, meta, rt.now, work, may_record_nothing=True)
    return position
