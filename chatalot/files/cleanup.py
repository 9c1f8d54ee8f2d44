"""Files left behind: a deleted channel's files and a deleted account's uploads are
deleted, so the collector then removes the bytes nothing references any more.

The collector (chatalot/files/collector.py) follows `ChannelDeleted`, `GroupDeleted`,
`CommunityDeleted` (their channels) and `UserDeleted` from the log and calls
`delete_left_behind` for each: ordinary `FileDeleted` events (with a `cause`), caused by
the deleting event (causation and correlation ids) and attributed to its actor. It is
idempotent: a file already gone is simply not found again. An upload cannot land in a
deleted channel (the upload locks the caller's membership row, which the deletion
removes); an upload racing its uploader's account deletion is caught by the periodic
sweep (`sweep_orphans`).
"""

from __future__ import annotations

import uuid

import msgspec

from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.files.commands.moderation import remove_record
from chatalot.files.runtime import FilesRuntime
from event_store import Metadata, RecordedEvent

FOLLOWED = ("ChannelDeleted", "GroupDeleted", "CommunityDeleted", "UserDeleted")
BATCH = 200
CHANNEL_DELETED = "channel_deleted"
ACCOUNT_DELETED = "account_deleted"
COMMAND = "delete_files_left_behind"


def left_behind(event: RecordedEvent) -> tuple[list[uuid.UUID], uuid.UUID | None]:
    """(channels whose files go, uploader whose files go) for a followed event."""
    data = event.data
    if event.type == "ChannelDeleted":
        return [data.channel_id], None
    if event.type in ("GroupDeleted", "CommunityDeleted"):
        return list(data.channel_ids), None
    if event.type == "UserDeleted":
        return [], data.user_id
    return [], None


async def delete_left_behind(rt: FilesRuntime, event: RecordedEvent) -> int:
    """Delete every file the event leaves behind, in batches; returns how many."""
    channels, uploader = left_behind(event)
    if not channels and uploader is None:
        return 0
    cause = ACCOUNT_DELETED if uploader is not None else CHANNEL_DELETED
    actor_text = event.metadata.actor_id
    actor = uuid.UUID(actor_text) if actor_text else uploader
    meta = msgspec.structs.replace(event.metadata.caused_by(event.event_id),
                                   command=COMMAND, ip=None, user_agent=None)
    total = 0
    while True:
        deleted = await _delete_batch(rt, meta, channels, uploader, actor, cause)
        total += deleted
        if deleted < BATCH:
            return total


async def _delete_batch(rt: FilesRuntime, meta: Metadata, channels: list[uuid.UUID],
                        uploader: uuid.UUID | None, actor: uuid.UUID | None,
                        cause: str) -> int:
    async def work(tx: Tx) -> int:
        rows = await tx.fetchall(
            "SELECT * FROM file_records WHERE channel_id = ANY(%s) OR uploader_id = %s"
            " ORDER BY file_id LIMIT %s FOR UPDATE", (channels, uploader, BATCH))
        for row in rows:
            await remove_record(tx, row, actor or row["uploader_id"], by_admin=False,
                                cause=cause)
        return len(rows)

    deleted, _ = await run_command(rt.store, meta, rt.now, work, may_record_nothing=True)
    return deleted


ORPHANS = (
    "SELECT f.*, NOT EXISTS (SELECT 1 FROM spaces_channels c"
    " WHERE c.channel_id = f.channel_id) AS channel_gone FROM file_records f"
    " WHERE NOT EXISTS (SELECT 1 FROM spaces_channels c WHERE c.channel_id = f.channel_id)"
    " OR EXISTS (SELECT 1 FROM account_users u WHERE u.user_id = f.uploader_id"
    " AND u.status = 'deleted') ORDER BY f.file_id LIMIT %s FOR UPDATE OF f")


async def sweep_orphans(rt: FilesRuntime) -> int:
    """Files whose channel or uploader is gone but which no followed event reached (an
    upload that committed while its uploader's account was being deleted)."""
    async def work(tx: Tx) -> int:
        rows = await tx.fetchall(ORPHANS, (BATCH,))
        for row in rows:
            cause = CHANNEL_DELETED if row.pop("channel_gone") else ACCOUNT_DELETED
            await remove_record(tx, row, row["uploader_id"], by_admin=False, cause=cause)
        return len(rows)

    total = 0
    while True:
        deleted, _ = await run_command(rt.store, Metadata(command=COMMAND), rt.now, work,
                                       may_record_nothing=True)
        total += deleted
        if deleted < BATCH:
            return total
