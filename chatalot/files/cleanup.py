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

Their images go the same way: a deleted account's avatar and banner, a deleted
community's or group's icon, banner and voice background (`MediaAssetRemoved`, which
releases the blob like `FileDeleted`); the sweep also removes the images of owners
already gone (an avatar uploaded while its account was being deleted).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import msgspec

from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.domain.files import events as ev
from chatalot.domain.streams import media_stream
from chatalot.files import state
from chatalot.files.commands.moderation import remove_record
from chatalot.files.runtime import FilesRuntime
from event_store import Metadata, RecordedEvent

FOLLOWED = ("ChannelDeleted", "GroupDeleted", "CommunityDeleted", "UserDeleted")
BATCH = 200
CHANNEL_DELETED = "channel_deleted"
ACCOUNT_DELETED = "account_deleted"
MEDIA_CAUSES = {"UserDeleted": ACCOUNT_DELETED, "CommunityDeleted": "community_deleted",
                "GroupDeleted": "group_deleted"}
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


def media_owners(event: RecordedEvent) -> list[tuple[str, uuid.UUID]]:
    """(owner kind, owner id) whose images a followed event leaves behind."""
    data = event.data
    if event.type == "UserDeleted":
        return [("user", data.user_id)]
    if event.type == "GroupDeleted":
        return [("group", data.group_id)]
    if event.type == "CommunityDeleted":
        return [("community", data.community_id),
                *(("group", group) for group in data.group_ids)]
    return []


async def delete_left_behind(rt: FilesRuntime, event: RecordedEvent) -> int:
    """Delete every file and image the event leaves behind, in batches; returns how many
    files."""
    channels, uploader = left_behind(event)
    owners = media_owners(event)
    if not channels and uploader is None and not owners:
        return 0
    cause = ACCOUNT_DELETED if uploader is not None else CHANNEL_DELETED
    actor_text = event.metadata.actor_id
    actor = uuid.UUID(actor_text) if actor_text else uploader
    meta = msgspec.structs.replace(event.metadata.caused_by(event.event_id),
                                   command=COMMAND, ip=None, user_agent=None)
    if owners:
        await _remove_media(rt, meta, owners, MEDIA_CAUSES[event.type])
    if not channels and uploader is None:
        return 0
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


async def _remove_media(rt: FilesRuntime, meta: Metadata,
                        owners: list[tuple[str, uuid.UUID]], cause: str) -> int:
    """Every image of those owners, in one transaction (a handful per owner)."""
    async def work(tx: Tx) -> int:
        removed = 0
        for kind, owner in owners:
            # the owner's images change one at a time (commands/media.py takes this lock)
            await tx.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                             (f"media:{kind}:{owner}",))
            rows = await tx.fetchall(
                "DELETE FROM media_assets WHERE owner_kind = %s AND owner_id = %s"
                " RETURNING asset_id, purpose, sha256", (kind, owner))
            for row in rows:
                await remove_media_row(tx, kind, owner, row, cause)
            removed += len(rows)
        return removed

    removed, _ = await run_command(rt.store, meta, rt.now, work, may_record_nothing=True)
    return removed


async def remove_media_row(tx: Tx, kind: str, owner: uuid.UUID, row: dict[str, object],
                           cause: str) -> None:
    """The image's row is gone (the caller deleted it): release its blob and say so."""
    sha = str(row["sha256"])
    await state.release(tx, [sha])
    asset_id = row["asset_id"]
    assert isinstance(asset_id, uuid.UUID)
    tx.append(media_stream(kind, owner), ev.MediaAssetRemoved(
        asset_id=asset_id, owner_kind=kind, owner_id=owner, purpose=str(row["purpose"]),
        cause=cause, released_sha256=[sha]))


MEDIA_ORPHANS = (
    "DELETE FROM media_assets m WHERE m.asset_id IN (SELECT a.asset_id FROM media_assets a"
    " WHERE (a.owner_kind = 'user' AND EXISTS (SELECT 1 FROM account_users u"
    " WHERE u.user_id = a.owner_id AND u.status = 'deleted'))"
    " OR (a.owner_kind = 'community' AND NOT EXISTS (SELECT 1 FROM spaces_communities c"
    " WHERE c.community_id = a.owner_id))"
    " OR (a.owner_kind = 'group' AND NOT EXISTS (SELECT 1 FROM spaces_groups g"
    " WHERE g.group_id = a.owner_id))"
    " ORDER BY a.asset_id LIMIT %s FOR UPDATE)"
    " RETURNING m.asset_id, m.owner_kind, m.owner_id, m.purpose, m.sha256")


async def sweep_media_orphans(rt: FilesRuntime) -> int:
    """Images whose owner is gone but which no followed event reached (an avatar that
    committed while its account was being deleted)."""
    async def work(tx: Tx) -> int:
        rows = await tx.fetchall(MEDIA_ORPHANS, (BATCH,))
        for row in rows:
            kind = str(row["owner_kind"])
            cause = {"user": ACCOUNT_DELETED, "community": "community_deleted"}.get(
                kind, "group_deleted")
            owner = row["owner_id"]
            assert isinstance(owner, uuid.UUID)
            await remove_media_row(tx, kind, owner, row, cause)
        return len(rows)

    return await _in_batches(rt, work)


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

    return await _in_batches(rt, work)


async def _in_batches(rt: FilesRuntime, work: Callable[[Tx], Awaitable[int]]) -> int:
    """Run a sweep's `work` (at most BATCH rows a transaction) until a batch comes back
    short; the rows it handled in all."""
    total = 0
    while True:
        done, _ = await run_command(rt.store, Metadata(command=COMMAND), rt.now, work,
                                    may_record_nothing=True)
        total += done
        if done < BATCH:
            return total
