"""Quarantine (instance staff, behind the route's require_instance_admin guard): a message
is hidden from members pending review, and released again. docs/messaging.md."""

from __future__ import annotations

import uuid

from chatalot.command_tx import CommandTx as Tx
from chatalot.domain.messaging import events as ev
from chatalot.domain.messaging import rules
from chatalot.domain.streams import message_stream
from chatalot.messaging import contracts as c
from chatalot.messaging.commands.state import message_facts, run
from chatalot.messaging.runtime import MessagingRuntime
from chatalot.request_info import RequestInfo


async def set_quarantine(rt: MessagingRuntime, actor: uuid.UUID, message_id: uuid.UUID,
                         quarantined: bool, reason: str | None, info: RequestInfo
                         ) -> tuple[c.Position, str]:
    """404 for an unknown or deleted message; 409 when it is already in that state."""
    meta = info.metadata("quarantine_message" if quarantined else "unquarantine_message",
                         actor)

    async def work(tx: Tx) -> None:
        facts = rules.check_exists(await message_facts(tx, message_id, lock=True))
        row = await tx.fetchone("SELECT quarantined FROM messaging_messages"
                                " WHERE message_id = %s", (message_id,))
        rules.check_quarantine(bool(row and row["quarantined"]), quarantined)
        await tx.execute("UPDATE messaging_messages SET quarantined = %s WHERE message_id = %s",
                         (quarantined, message_id))
        event: ev.MessageQuarantined | ev.MessageUnquarantined = (
            ev.MessageQuarantined(message_id=message_id, channel_id=facts.channel_id,
                                  moderator_id=actor, reason=reason) if quarantined
            else ev.MessageUnquarantined(message_id=message_id, channel_id=facts.channel_id,
                                         moderator_id=actor))
        tx.append(message_stream(message_id), event)

    _, position = await run(rt, meta, work)
    return c.Position(position=position), position
