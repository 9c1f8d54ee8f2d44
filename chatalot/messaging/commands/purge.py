"""Admin purge (issue 11 item 5; instance staff, behind the route's guard): one message,
every message of a user, every message of a channel. Each message gets a MessagePurged
(audited: who, why, from where) and is gone as if deleted; then the body of every event
that carried it is redacted from the log with the event store's primitive (EventRedacted
records, audited too). Large purges walk the messages in keyset batches of PURGE_BATCH,
one transaction per batch; `messaging_messages.purge_state` (migration 0020) makes an
interrupted purge finish when it is called again."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Final

from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.domain.errors import DomainError, not_found
from chatalot.domain.messaging import events as ev
from chatalot.domain.messaging.purge import PURGE_BATCH, REDACTION_REASON, body_redaction
from chatalot.domain.streams import message_stream, scheduled_stream
from chatalot.messaging import contracts as c
from chatalot.messaging.runtime import MessagingRuntime
from chatalot.request_info import RequestInfo
from event_store import ConcurrencyError, Metadata, RecordedEvent

NOT_PURGED: Final = 0
PURGED: Final = 1  # MessagePurged appended; bodies maybe still in the log
REDACTED: Final = 2
_COLUMNS: Final = {"message": "message_id", "user": "sender_id", "channel": "channel_id"}


async def purge_message(rt: MessagingRuntime, actor: uuid.UUID, message_id: uuid.UUID,
                        reason: str | None, info: RequestInfo) -> c.Purged:
    """404 for an unknown message; a message already purged answers purged 0."""
    async with rt.pool.connection() as conn:
        cur = await conn.execute("SELECT 1 FROM messaging_messages WHERE message_id = %s",
                                 (message_id,))
        if await cur.fetchone() is None:
            raise not_found("no such message")
    return await purge(rt, actor, "message", message_id, reason, info)


async def purge(rt: MessagingRuntime, actor: uuid.UUID, scope: str, key: uuid.UUID,
                reason: str | None, info: RequestInfo) -> c.Purged:
    """Every message of the scope not yet fully purged, batch after batch (keyset on the
    message id, so each batch is one bounded read and one bounded transaction)."""
    column = _COLUMNS[scope]
    meta = info.metadata(f"purge_{scope}", actor)
    after = uuid.UUID(int=0)
    purged = redacted = 0
    position: str | None = None
    while True:
        async with rt.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT message_id FROM messaging_messages WHERE {column} = %s"
                " AND message_id > %s AND purge_state < %s ORDER BY message_id LIMIT %s",
                (key, after, REDACTED, PURGE_BATCH))
            ids = [row[0] for row in await cur.fetchall()]
        if not ids:
            break
        n, batch_position = await _purge_batch(rt, actor, scope, ids, reason, meta)
        purged += n
        position = batch_position or position
        done, last = await _redact_bodies(rt, ids, meta)
        redacted += done
        position = last or position
        after = ids[-1]
    return c.Purged(purged=purged, redacted=redacted, position=position)


async def _purge_batch(rt: MessagingRuntime, actor: uuid.UUID, scope: str,
                       ids: list[uuid.UUID], reason: str | None, meta: Metadata
                       ) -> tuple[int, str | None]:
    """MessagePurged (after a MessageUnpinned for a pinned one) for each message of the
    batch not purged yet; the rows are locked, so a concurrent edit, pin or delete lands
    before (and its event is then redacted) or is refused after."""

    async def work(tx: Tx) -> int:
        rows = await tx.fetchall(
            "SELECT message_id, channel_id, sender_id, pinned FROM messaging_messages"
            " WHERE message_id = ANY(%s) AND purge_state = %s ORDER BY message_id FOR UPDATE",
            (ids, NOT_PURGED))
        for row in rows:
            mid, channel = row["message_id"], row["channel_id"]
            if row["pinned"]:
                tx.append(message_stream(mid), ev.MessageUnpinned(
                    message_id=mid, channel_id=channel, unpinned_by=actor))
            tx.append(message_stream(mid), ev.MessagePurged(
                message_id=mid, channel_id=channel, user_id=row["sender_id"],
                moderator_id=actor, scope=scope, reason=reason))
        await tx.execute("UPDATE messaging_messages SET deleted = true, pinned = false,"
                         " purge_state = %s WHERE message_id = ANY(%s) AND purge_state = %s",
                         (PURGED, [row["message_id"] for row in rows], NOT_PURGED))
        return len(rows)

    try:  # a retry finds some of its batch already purged: nothing to record then
        return await run_command(rt.store, meta, rt.now, work, may_record_nothing=True)
    except ConcurrencyError:
        raise DomainError("conflict", "a message changed concurrently; retry") from None


async def _redact_bodies(rt: MessagingRuntime, ids: list[uuid.UUID], meta: Metadata
                         ) -> tuple[int, str | None]:
    """Redact every body of the batch's streams (and of the scheduled message a message
    was delivered from); idempotent: a body already redacted is skipped."""
    done = 0
    last: str | None = None
    for mid in ids:
        streams = [message_stream(mid)]
        while streams:
            async for recorded in _events(rt, streams.pop()):
                scheduled = getattr(recorded.data, "scheduled_id", None)
                if isinstance(recorded.data, ev.MessageSent) and scheduled is not None:
                    streams.append(scheduled_stream(scheduled))
                replacement = body_redaction(recorded.data)
                if replacement is not None:
                    result = await rt.store.redact(recorded.event_id, replacement,
                                                   reason=REDACTION_REASON, metadata=meta)
                    last = result.position.encode()
                    done += 1
    async with rt.pool.connection() as conn:
        await conn.execute("UPDATE messaging_messages SET purge_state = %s"
                           " WHERE message_id = ANY(%s) AND purge_state = %s",
                           (REDACTED, ids, PURGED))
    return done, last


async def _events(rt: MessagingRuntime, stream: str) -> AsyncIterator[RecordedEvent]:
    """A stream in pages (a message's stream grows with its reactions)."""
    version = 1
    while True:
        page = await rt.store.read_stream(stream, from_version=version, limit=500)
        for recorded in page:
            yield recorded
        if len(page) < 500:
            return
        version = page[-1].version + 1
