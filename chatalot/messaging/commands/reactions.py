"""Reactions and pins: both decided on the message's locked decision row (its commands run
one after another), pins also on a per-channel advisory lock (the 50-pin count)."""

from __future__ import annotations

import uuid

from chatalot.command_tx import CommandTx as Tx
from chatalot.domain.errors import conflict, not_found
from chatalot.domain.messaging import events as ev
from chatalot.domain.messaging import rules
from chatalot.domain.spaces import permissions
from chatalot.domain.streams import message_stream
from chatalot.messaging import contracts as c
from chatalot.messaging.commands.state import lock_channel, message_facts, run
from chatalot.messaging.runtime import MessagingRuntime
from chatalot.request_info import RequestInfo
from chatalot.spaces.access import load_channel_access


async def add_reaction(rt: MessagingRuntime, actor: uuid.UUID, message_id: uuid.UUID,
                       emoji: str, info: RequestInfo) -> tuple[c.Position, str]:
    """Posting rights needed; at most 20 distinct emoji per message (422); the same
    reaction twice is 409 conflict."""
    emoji = rules.check_emoji(emoji)
    meta = info.metadata("add_reaction", actor)

    async def work(tx: Tx) -> None:
        facts = rules.check_exists(await message_facts(tx, message_id, lock=True))
        access = await load_channel_access(tx.conn, facts.channel_id, actor, lock=True)
        permissions.require_post(access, tx.now)
        rows = await tx.fetchall(
            "SELECT DISTINCT emoji FROM messaging_reactions WHERE message_id = %s",
            (message_id,))
        rules.check_new_reaction_emoji({r["emoji"] for r in rows}, emoji)
        added = await tx.execute(
            "INSERT INTO messaging_reactions (message_id, emoji, user_id) VALUES (%s, %s, %s)"
            " ON CONFLICT DO NOTHING", (message_id, emoji, actor))
        if not added:
            raise conflict("you already reacted with this emoji")
        tx.append(message_stream(message_id), ev.ReactionAdded(
            message_id=message_id, channel_id=facts.channel_id, user_id=actor, emoji=emoji))

    _, position = await run(rt, meta, work)
    return c.Position(position=position), position


async def remove_reaction(rt: MessagingRuntime, actor: uuid.UUID, message_id: uuid.UUID,
                          emoji: str, info: RequestInfo) -> tuple[c.Position, str]:
    """One's own reaction; 404 when there is none. Members who may read may remove."""
    meta = info.metadata("remove_reaction", actor)

    async def work(tx: Tx) -> None:
        facts = rules.check_exists(await message_facts(tx, message_id, lock=True))
        access = await load_channel_access(tx.conn, facts.channel_id, actor, lock=True)
        permissions.require_read(access)
        removed = await tx.execute(
            "DELETE FROM messaging_reactions WHERE message_id = %s AND emoji = %s"
            " AND user_id = %s", (message_id, emoji, actor))
        if not removed:
            raise not_found("no such reaction")
        tx.append(message_stream(message_id), ev.ReactionRemoved(
            message_id=message_id, channel_id=facts.channel_id, user_id=actor, emoji=emoji))

    _, position = await run(rt, meta, work)
    return c.Position(position=position), position


async def pin_message(rt: MessagingRuntime, actor: uuid.UUID, channel_id: uuid.UUID,
                      message_id: uuid.UUID, info: RequestInfo) -> tuple[c.Position, str]:
    """Moderators (permissions.require_moderate); at most 50 pins per channel (422);
    pinning a pinned message is 409."""
    meta = info.metadata("pin_message", actor)

    async def work(tx: Tx) -> None:
        access = await load_channel_access(tx.conn, channel_id, actor, lock=True)
        permissions.require_read(access)
        facts = rules.check_exists(await message_facts(tx, message_id, lock=True))
        if facts.channel_id != channel_id:
            raise not_found("no such message in this channel")
        permissions.require_moderate(access)
        if facts.pinned:
            raise conflict("the message is already pinned")
        await lock_channel(tx, "pins", channel_id)
        row = await tx.fetchone(
            "SELECT count(*) AS n FROM messaging_messages WHERE channel_id = %s AND pinned",
            (channel_id,))
        rules.check_pin_room(int(row["n"]) if row else 0)
        await tx.execute("UPDATE messaging_messages SET pinned = true WHERE message_id = %s",
                         (message_id,))
        tx.append(message_stream(message_id), ev.MessagePinned(
            message_id=message_id, channel_id=channel_id, pinned_by=actor))

    _, position = await run(rt, meta, work)
    return c.Position(position=position), position


async def unpin_message(rt: MessagingRuntime, actor: uuid.UUID, channel_id: uuid.UUID,
                        message_id: uuid.UUID, info: RequestInfo) -> tuple[c.Position, str]:
    meta = info.metadata("unpin_message", actor)

    async def work(tx: Tx) -> None:
        access = await load_channel_access(tx.conn, channel_id, actor, lock=True)
        permissions.require_read(access)
        facts = rules.check_exists(await message_facts(tx, message_id, lock=True))
        if facts.channel_id != channel_id or not facts.pinned:
            raise not_found("no such pin in this channel")
        permissions.require_moderate(access)
        await tx.execute("UPDATE messaging_messages SET pinned = false WHERE message_id = %s",
                         (message_id,))
        tx.append(message_stream(message_id), ev.MessageUnpinned(
            message_id=message_id, channel_id=channel_id, unpinned_by=actor))

    _, position = await run(rt, meta, work)
    return c.Position(position=position), position
