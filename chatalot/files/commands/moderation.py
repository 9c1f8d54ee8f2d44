"""Deleting files, quarantine, and the blocked-hash list.

A deletion removes the file's row, gives its bytes back to the uploader's quota and
lowers its blobs' reference counts, in one transaction with `FileDeleted`; the bytes
themselves go when the collector reads that event and finds nothing else referencing them
(chatalot/files/collector.py).
"""

from __future__ import annotations

import uuid

from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.domain.errors import conflict, not_found
from chatalot.domain.files import events as ev
from chatalot.domain.files import rules
from chatalot.domain.files.rules import Usage
from chatalot.domain.streams import blocked_hash_stream, file_stream
from chatalot.files import state
from chatalot.files.runtime import FilesRuntime
from chatalot.request_info import RequestInfo


async def _lock_file(tx: Tx, file_id: uuid.UUID) -> dict[str, object]:
    row = await tx.fetchone("SELECT * FROM file_records WHERE file_id = %s FOR UPDATE",
                            (file_id,))
    if row is None:
        raise not_found("no such file")
    return row


async def remove_record(tx: Tx, row: dict[str, object], actor: uuid.UUID, *,
                        by_admin: bool, cause: str | None = None) -> None:
    """Delete a locked `file_records` row: the uploader's quota back, its blobs released
    (the collector removes their bytes), `FileDeleted`."""
    file_id, uploader, channel_id = row["file_id"], row["uploader_id"], row["channel_id"]
    assert isinstance(file_id, uuid.UUID)
    assert isinstance(uploader, uuid.UUID)
    assert isinstance(channel_id, uuid.UUID)
    size = int(str(row["size_bytes"]))
    hashes = [str(row["sha256"])] + ([str(row["thumbnail_sha256"])]
                                      if row["thumbnail_sha256"] else [])
    await tx.execute("DELETE FROM file_records WHERE file_id = %s", (file_id,))
    usage = await state.lock_usage(tx, uploader)
    await state.save_usage(tx, uploader, Usage(max(0, usage.bytes_used - size),
                                                usage.recent))
    await state.release(tx, hashes)
    tx.append(file_stream(file_id), ev.FileDeleted(
        file_id=file_id, channel_id=channel_id, uploader_id=uploader, size_bytes=size,
        deleted_by=actor, by_admin=by_admin, released_sha256=hashes, cause=cause))


async def delete_file(rt: FilesRuntime, actor: uuid.UUID, actor_is_staff: bool,
                      file_id: uuid.UUID, info: RequestInfo, *, block_hash: bool = False,
                      reason: str | None = None) -> str:
    """The uploader deletes their own file, instance staff any; `block_hash` (staff only)
    also puts its SHA-256 on the block list."""
    async def work(tx: Tx) -> None:
        row = await _lock_file(tx, file_id)
        uploader, channel_id = row["uploader_id"], row["channel_id"]
        assert isinstance(uploader, uuid.UUID)
        assert isinstance(channel_id, uuid.UUID)
        by_admin = rules.check_may_delete(actor, uploader, actor_is_staff=actor_is_staff)
        await remove_record(tx, row, actor, by_admin=by_admin)
        if block_hash and actor_is_staff:
            await _block(tx, actor, str(row["sha256"]), reason, exists_ok=True)

    _, position = await run_command(
        rt.store, info.metadata("delete_file", actor), rt.now, work)
    return position


async def set_quarantine(rt: FilesRuntime, moderator: uuid.UUID, file_id: uuid.UUID,
                         quarantined: bool, reason: str | None, info: RequestInfo) -> str:
    """Quarantine hides a file from download (the bytes stay, for evidence); 409 when it
    is already in that state."""
    async def work(tx: Tx) -> None:
        row = await _lock_file(tx, file_id)
        if bool(row["quarantined"]) == quarantined:
            raise conflict("the file is already " + (
                "quarantined" if quarantined else "not quarantined"))
        await tx.execute("UPDATE file_records SET quarantined = %s WHERE file_id = %s",
                         (quarantined, file_id))
        channel_id = row["channel_id"]
        assert isinstance(channel_id, uuid.UUID)
        tx.append(file_stream(file_id), ev.FileQuarantined(
            file_id=file_id, channel_id=channel_id, moderator_id=moderator, reason=reason)
            if quarantined else ev.FileUnquarantined(
                file_id=file_id, channel_id=channel_id, moderator_id=moderator))

    command = "quarantine_file" if quarantined else "unquarantine_file"
    _, position = await run_command(rt.store, info.metadata(command, moderator), rt.now, work)
    return position


async def _block(tx: Tx, moderator: uuid.UUID, sha256: str, reason: str | None, *,
                 exists_ok: bool = False) -> uuid.UUID:
    existing = await tx.fetchone(
        "SELECT hash_id FROM file_blocked_hashes WHERE sha256 = %s FOR UPDATE", (sha256,))
    if existing is not None:
        if exists_ok:
            return uuid.UUID(str(existing["hash_id"]))
        raise conflict("this hash is already blocked")
    hash_id = uuid.uuid4()
    inserted = await tx.execute(
        "INSERT INTO file_blocked_hashes (hash_id, sha256, reason, created_by, created_at)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (sha256) DO NOTHING",
        (hash_id, sha256, reason, moderator, tx.now))
    if not inserted:
        raise conflict("this hash is already blocked")
    tx.append(blocked_hash_stream(hash_id), ev.FileHashBlocked(
        hash_id=hash_id, sha256=sha256, moderator_id=moderator, reason=reason))
    return hash_id


async def block_hash(rt: FilesRuntime, moderator: uuid.UUID, sha256: str,
                     reason: str | None, info: RequestInfo) -> tuple[uuid.UUID, str]:
    """Future uploads whose bytes hash to `sha256` are refused (409 if already listed).
    Files already stored stay until deleted (an admin deletes them with block_hash)."""
    sha256 = rules.check_sha256(sha256)

    async def work(tx: Tx) -> uuid.UUID:
        return await _block(tx, moderator, sha256, reason)

    return await run_command(rt.store, info.metadata("block_hash", moderator), rt.now, work)


async def unblock_hash(rt: FilesRuntime, moderator: uuid.UUID, hash_id: uuid.UUID,
                       info: RequestInfo) -> str:
    async def work(tx: Tx) -> None:
        row = await tx.fetchone(
            "DELETE FROM file_blocked_hashes WHERE hash_id = %s RETURNING sha256", (hash_id,))
        if row is None:
            raise not_found("no such blocked hash")
        tx.append(blocked_hash_stream(hash_id), ev.FileHashUnblocked(
            hash_id=hash_id, sha256=row["sha256"], moderator_id=moderator))

    _, position = await run_command(
        rt.store, info.metadata("unblock_hash", moderator), rt.now, work)
    return position
