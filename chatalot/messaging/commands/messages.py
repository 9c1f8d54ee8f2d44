"""Send, edit and delete a message (docs/messaging.md).

Each message is its own stream `message-<id>`, so concurrent sends in one channel never
contend for a stream. What a send decides on:
- the caller's access (chatalot/spaces/access.load_channel_access, the member row held
  FOR KEY SHARE: a concurrent kick or ban lands after the send in the log), judged by
  chatalot/domain/spaces/permissions.py alone;
- `messaging_client_ids`: a retried client_id answers the first send. Its primary key
  makes concurrent retries queue behind the first, which then either committed (they
  answer its reply) or rolled back (one of them sends);
- `messaging_slow_mode`: the sender's last send, row-locked while slow mode is on, so one
  user's concurrent sends are judged one after another against the exact interval.

Sends are group-committed (chatalot/command_group.py): the sends that arrive while one
group's transaction commits share the next one, each with its own checks and answer. A
refused send undoes its own client_id claim (the group commits the others); one user's
sends in one group run in arrival order, and see each other's rows as queued sends would.
A send under an Idempotency-Key runs alone (run_command claims the key).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from chatalot.command_group import CommandGroup
from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import Rows, run_command
from chatalot.contracts import iso
from chatalot.domain.errors import DomainError, bad_request, conflict
from chatalot.domain.messaging import events as ev
from chatalot.domain.messaging import rules
from chatalot.domain.spaces import permissions
from chatalot.domain.spaces.access import ChannelAccess
from chatalot.domain.streams import message_stream
from chatalot.idempotency import current_claim
from chatalot.ids import uuid7
from chatalot.messaging import contracts as c
from chatalot.messaging.commands.state import message_facts, run
from chatalot.messaging.runtime import MessagingRuntime
from chatalot.per_loop import PerLoop, per_loop
from chatalot.request_info import RequestInfo
from chatalot.session_positions import current_writes
from chatalot.spaces.access import load_channel_access, load_channel_accesses, members_among
from event_store import NO_STREAM, ConcurrencyError, EventStore, Position


@dataclass(frozen=True)
class Sent:
    message_id: uuid.UUID
    channel_id: uuid.UUID
    sent_at: datetime
    replayed: bool


async def _claim_client_id(tx: Tx, sender: uuid.UUID, client_id: uuid.UUID,
                           message_id: uuid.UUID, channel_id: uuid.UUID) -> Sent | None:
    """Claim (sender, client_id) for this send; the first send's message when it was
    claimed before (a concurrent first attempt is waited for by the primary key)."""
    claimed = await tx.execute(
        "INSERT INTO messaging_client_ids (sender_id, client_id, message_id, channel_id)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (sender, client_id, message_id, channel_id))
    if claimed:
        return None
    await tx.write_later()  # an earlier send of this group may be the one claimed
    row = await tx.fetchone(
        "SELECT c.message_id, c.channel_id, m.sent_at FROM messaging_client_ids c"
        " JOIN messaging_messages m USING (message_id)"
        " WHERE c.sender_id = %s AND c.client_id = %s", (sender, client_id))
    if row is None:  # the claim and its message commit together: this cannot be seen
        raise psycopg.errors.SerializationFailure("client_id claimed concurrently")
    if row["channel_id"] != channel_id:
        raise conflict("this client_id was used for a message in another channel")
    return Sent(row["message_id"], row["channel_id"], row["sent_at"], replayed=True)


async def _check_slow_mode(tx: Tx, access: ChannelAccess, sender: uuid.UUID) -> None:
    exempt = permissions.may_moderate(access)
    if access.slow_mode_secs <= 0 or exempt:
        return
    await tx.execute(
        "INSERT INTO messaging_slow_mode (channel_id, user_id, last_sent_at)"
        " VALUES (%s, %s, NULL) ON CONFLICT DO NOTHING", (access.channel_id, sender))
    row = await tx.fetchone(
        "SELECT last_sent_at FROM messaging_slow_mode WHERE channel_id = %s AND user_id = %s"
        " FOR UPDATE", (access.channel_id, sender))
    last = row["last_sent_at"] if row else None
    rules.check_slow_mode(rules.slow_mode_wait(
        access.slow_mode_secs, exempt, last, tx.now))
    await tx.execute(
        "UPDATE messaging_slow_mode SET last_sent_at = %s WHERE channel_id = %s"
        " AND user_id = %s", (tx.now, access.channel_id, sender))


async def _check_references(tx: Tx, channel_id: uuid.UUID, req: c.SendMessage) -> None:
    """reply_to and thread_id name messages of this channel (400 otherwise); a thread's
    root is not itself in a thread."""
    for field, ref in (("reply_to", req.reply_to), ("thread_id", req.thread_id)):
        if ref is None:
            continue
        row = await tx.fetchone(
            "SELECT channel_id, deleted FROM messaging_messages WHERE message_id = %s", (ref,))
        if row is None or row["channel_id"] != channel_id:
            raise bad_request(f"{field} is not a message of this channel")
        if field == "thread_id" and row["deleted"]:
            raise bad_request("the thread's first message was deleted")


_MESSAGE_ROWS = Rows(
    "INSERT INTO messaging_messages (message_id, channel_id, sender_id, encryption, sent_at)"
    " SELECT (r->>0)::uuid, (r->>1)::uuid, (r->>2)::uuid, r->>3, (r->>4)::timestamptz"
    " FROM json_array_elements(%s::json) r")


async def record_message(tx: Tx, channel_id: uuid.UUID, sender: uuid.UUID | None,
                         message_id: uuid.UUID, req: c.SendMessage, mentions: list[uuid.UUID],
                         **extra: object) -> None:
    """Record the decision row and MessageSent (shared by sends, scheduled deliveries and
    webhooks, whose messages have no sender). The row is written with the group's others
    in one statement, before the append."""
    tx.insert_later(_MESSAGE_ROWS, (message_id, channel_id, sender, req.encryption, tx.now))
    tx.append(message_stream(message_id), ev.MessageSent(
        message_id=message_id, channel_id=channel_id, sender_id=sender,
        ciphertext=req.ciphertext, nonce=req.nonce, encryption=req.encryption,
        message_type=req.message_type, reply_to=req.reply_to, thread_id=req.thread_id,
        sender_key_id=req.sender_key_id, client_id=req.client_id, mentions=mentions,
        **extra),  # type: ignore[arg-type]
        expected=NO_STREAM)


async def checked_send(tx: Tx, rt: MessagingRuntime, sender: uuid.UUID,
                       channel_id: uuid.UUID, req: c.SendMessage, message_id: uuid.UUID,
                       **extra: object) -> None:
    """Every check of a member's send, in `tx`, then the record (sends and scheduled
    deliveries share it)."""
    prepared = tx.prepared
    access = prepared if isinstance(prepared, ChannelAccess) and (
        prepared.channel_id == channel_id) else (
        await load_channel_access(tx.conn, channel_id, sender, lock=True))
    permissions.require_post(access, tx.now)
    rules.check_encryption(req.encryption, access.e2e_required)
    rules.check_message_type(req.message_type,
                             moderator=permissions.may_moderate(access))
    mentions = rules.check_mentions(
        req.mentions, await members_among(tx.conn, channel_id, req.mentions))
    await _check_references(tx, channel_id, req)
    await _check_slow_mode(tx, access, sender)
    await record_message(tx, channel_id, sender, message_id, req, mentions, **extra)


_SEND_GROUPS: PerLoop[EventStore, CommandGroup[Sent]] = PerLoop()


def _send_group(rt: MessagingRuntime) -> CommandGroup[Sent]:
    """Sends are group-committed (chatalot/command_group.py), one group queue per store
    and event loop, ordered by sender within a group: each sender's rows (member, slow
    mode, client ids) are then locked in one order by every group."""
    return per_loop(_SEND_GROUPS, rt.store, lambda: CommandGroup(rt.store, _accesses))


async def _accesses(conn: psycopg.AsyncConnection[Any],
                    pairs: list[tuple[uuid.UUID, uuid.UUID]]) -> list[ChannelAccess | None]:
    """A group's members' channel access in one statement (None: no such channel, which
    the member's own read then answers 404)."""
    return await load_channel_accesses(conn, pairs)


async def send_message(rt: MessagingRuntime, actor: uuid.UUID, channel_id: uuid.UUID,
                       req: c.SendMessage, info: RequestInfo) -> tuple[c.MessageSentReply, str]:
    """Send a message; the reply (`message_sent`) carries the first send's answer when
    `client_id` was used before by this sender."""
    if req.channel_id is not None and req.channel_id != channel_id:
        raise bad_request("channel_id differs from the channel addressed")
    rules.check_body(req.ciphertext, req.nonce, req.encryption, rt.max_message_bytes)
    meta = info.metadata("send_message", actor)
    message_id = uuid7()

    async def work(tx: Tx) -> Sent:
        if req.client_id is not None:
            prior = await _claim_client_id(tx, actor, req.client_id, message_id, channel_id)
            if prior is not None:
                return prior
        try:
            await checked_send(tx, rt, actor, channel_id, req, message_id)
        except DomainError:
            if req.client_id is not None:  # grouped, the transaction commits the others
                await tx.execute("DELETE FROM messaging_client_ids WHERE sender_id = %s"
                                 " AND client_id = %s AND message_id = %s",
                                 (actor, req.client_id, message_id))
            raise
        return Sent(message_id, channel_id, tx.now, replayed=False)

    try:
        if current_claim.get() is None:  # an Idempotency-Key is claimed by run_command
            sent, position = await _send_group(rt).run(meta, rt.now, work, actor.bytes,
                                                       (channel_id, actor))
            writes = current_writes.get()
            if writes is not None and position is not None:
                writes.committed(Position.parse(position))
        else:
            sent, position = await run_command(rt.store, meta, rt.now, work,
                                               may_record_nothing=True)
    except ConcurrencyError:
        raise conflict("the send raced another; retry") from None
    if sent.replayed or position is None:
        first = await rt.store.read_stream(message_stream(sent.message_id), limit=1)
        position = first[0].position.encode()
    return c.MessageSentReply(id=sent.message_id, channel_id=sent.channel_id,
                              client_id=req.client_id, created_at=iso(sent.sent_at),
                              position=position), position


async def edit_message(rt: MessagingRuntime, actor: uuid.UUID, message_id: uuid.UUID,
                       req: c.EditMessage, info: RequestInfo) -> tuple[c.Position, str]:
    """The sender's own message, within the edit window, keeping its encryption. Every
    version stays in the message's stream (GET .../history)."""
    if req.message_id is not None and req.message_id != message_id:
        raise bad_request("message_id differs from the message addressed")
    meta = info.metadata("edit_message", actor)

    async def work(tx: Tx) -> None:
        facts = rules.check_exists(await message_facts(tx, message_id, lock=True))
        access = await load_channel_access(tx.conn, facts.channel_id, actor, lock=True)
        permissions.require_post(access, tx.now)
        rules.check_edit(facts, actor, tx.now, rt.edit_window_secs, facts.encryption)
        rules.check_body(req.ciphertext, req.nonce, facts.encryption, rt.max_message_bytes)
        mentions = rules.check_mentions(
            req.mentions, await members_among(tx.conn, facts.channel_id, req.mentions))
        tx.append(message_stream(message_id), ev.MessageEdited(
            message_id=message_id, channel_id=facts.channel_id, editor_id=actor,
            ciphertext=req.ciphertext, nonce=req.nonce, mentions=mentions))

    _, position = await run(rt, meta, work)
    return c.Position(position=position), position


async def delete_message(rt: MessagingRuntime, actor: uuid.UUID, message_id: uuid.UUID,
                         info: RequestInfo) -> tuple[c.Position, str]:
    """One's own message (while a member), or anyone's for a moderator of the channel.
    A pinned message is unpinned with it."""
    meta = info.metadata("delete_message", actor)

    async def work(tx: Tx) -> None:
        facts = rules.check_exists(await message_facts(tx, message_id, lock=True))
        access = await load_channel_access(tx.conn, facts.channel_id, actor, lock=True)
        by_moderator = rules.deleted_by_moderator(facts, actor)
        if by_moderator:
            permissions.require_moderate(access)
        else:
            permissions.require_read(access)
        await tx.execute("UPDATE messaging_messages SET deleted = true, pinned = false"
                         " WHERE message_id = %s", (message_id,))
        if facts.pinned:
            tx.append(message_stream(message_id), ev.MessageUnpinned(
                message_id=message_id, channel_id=facts.channel_id, unpinned_by=actor))
        tx.append(message_stream(message_id), ev.MessageDeleted(
            message_id=message_id, channel_id=facts.channel_id, deleted_by=actor,
            by_moderator=by_moderator))

    _, position = await run(rt, meta, work)
    return c.Position(position=position), position

