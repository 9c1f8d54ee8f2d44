"""Shared loaders and lockers of messaging's decision state (migrations/0009)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.domain.errors import DomainError
from chatalot.domain.messaging.rules import MessageFacts
from chatalot.messaging.runtime import MessagingRuntime
from event_store import ConcurrencyError, Metadata

T = TypeVar("T")


async def run(rt: MessagingRuntime, meta: Metadata, work: Callable[[Tx], Awaitable[T]]
              ) -> tuple[T, str]:
    """`run_command`, with a race still lost after its retries answered 409 conflict."""
    try:
        return await run_command(rt.store, meta, rt.now, work)
    except ConcurrencyError:
        raise DomainError("conflict", "the message changed concurrently; retry") from None


async def message_facts(tx: Tx, message_id: uuid.UUID, *, lock: bool = False
                        ) -> MessageFacts | None:
    """The message's decision row; `lock` holds it FOR UPDATE until commit, so the
    commands on one message (edit, delete, react, pin) run one after another."""
    row = await tx.fetchone(
        "SELECT message_id, channel_id, sender_id, encryption, sent_at, deleted, pinned"
        " FROM messaging_messages WHERE message_id = %s" + (" FOR UPDATE" if lock else ""),
        (message_id,))
    if row is None:
        return None
    return MessageFacts(row["message_id"], row["channel_id"], row["sender_id"],
                        row["encryption"], row["sent_at"], row["deleted"], row["pinned"])


async def lock_channel(tx: Tx, purpose: str, key: uuid.UUID) -> None:
    """A transaction-scoped advisory lock per (purpose, channel or user): counted limits
    (50 pins per channel, 50 scheduled messages per user) are decided one at a time."""
    await tx.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                     (f"messaging:{purpose}:{key}",))
