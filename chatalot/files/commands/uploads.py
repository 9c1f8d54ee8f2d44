"""Uploading a channel attachment (POST /api/files/upload).

1. `check_before_bytes` (while the body is still arriving, once the fields before the file
   part are known): the channel exists and the caller may post there, the kind of file
   fits the channel, and the caller is not already over their rate or quota.
2. The file part streams into staging, hashed on the way (chatalot/files/receiving.py).
3. A plaintext file is scanned in a worker thread (chatalot/files/scanning.py): type
   allowlist, executables/scripts/SVG refused, images re-encoded without metadata and
   thumbnailed. An encrypted file is an opaque blob: size, quota and rate only.
4. Its hashes are checked against the block list (a hit is refused and audited).
5. The blobs are pinned, then placed under their hash (a blob already stored is kept once).
6. One command transaction: the caller's membership row locked (a concurrent kick lands
   after), the kind checked again, the usage row locked and quota and rate decided on
   exact numbers, blob references counted, the file's row and `FileUploaded` written.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.domain.errors import DomainError, bad_request, forbidden
from chatalot.domain.files import events as ev
from chatalot.domain.files import rules
from chatalot.domain.streams import blocked_hash_stream, file_stream
from chatalot.files import state
from chatalot.files.channels import posting_access
from chatalot.files.collector import BlobCollector
from chatalot.files.receiving import FORM_OVERHEAD, ReceivedUpload
from chatalot.files.runtime import FilesRuntime
from chatalot.files.scanning import Produced, Scanned, scan_plaintext
from chatalot.request_info import RequestInfo
from event_store import NO_STREAM

FIELDS = frozenset({"channel_id", "encrypted"})
_TRUE = {"true": True, "1": True, "yes": True, "on": True,
         "false": False, "0": False, "no": False, "off": False, "": False}


@dataclass(frozen=True)
class UploadFields:
    channel_id: uuid.UUID
    encrypted: bool


@dataclass(frozen=True)
class StoredFile:
    file_id: uuid.UUID
    uploader_id: uuid.UUID
    channel_id: uuid.UUID
    filename: str
    size_bytes: int
    content_type: str
    sha256: str
    encrypted: bool
    created_at: datetime
    position: str | None = None


def parse_fields(fields: dict[str, str]) -> UploadFields:
    """`channel_id` (a UUID, required) and `encrypted` (true/false, default false); any
    other field is a 400, as an unknown JSON field is."""
    unknown = set(fields) - FIELDS
    if unknown:
        raise bad_request(f"unknown form field `{sorted(unknown)[0]}`")
    if "channel_id" not in fields:
        raise bad_request("the form needs `channel_id`")
    try:
        channel_id = uuid.UUID(fields["channel_id"])
    except ValueError:
        raise bad_request("channel_id must be a UUID") from None
    flag = fields.get("encrypted", "false").lower()
    if flag not in _TRUE:
        raise bad_request("encrypted must be true or false")
    return UploadFields(channel_id, _TRUE[flag])


async def check_before_bytes(rt: FilesRuntime, user_id: uuid.UUID, fields: dict[str, str],
                             announced: int | None = None) -> None:
    """The refusals an upload can get before its bytes are read, when the fields came
    before the file part (clients should send them first). The command decides again.
    `announced`: the request's Content-Length; the file is at least that less the room a
    form's other parts may take, which must fit the quota."""
    if "channel_id" not in fields:
        return
    wanted = parse_fields(fields)
    now = rt.now()
    async with rt.pool.connection() as conn:
        access = await posting_access(conn, wanted.channel_id, user_id, now)
    rules.check_kind_fits(encrypted=wanted.encrypted, channel_kind=access.kind,
                          e2e_required=access.e2e_required)
    usage = await state.read_usage(rt.pool, user_id)
    rules.check_rate(usage.recent, now, rt.limits.uploads_per_minute)
    least = max(0, (announced or 0) - FORM_OVERHEAD)
    rules.check_quota(usage.bytes_used, least, rt.limits.quota_bytes)


async def upload(rt: FilesRuntime, user_id: uuid.UUID, received: ReceivedUpload,
                 info: RequestInfo) -> StoredFile:
    """Store a received upload (its staged blob is placed or discarded here)."""
    staged = received.staged
    assert staged is not None
    assert received.sha256 is not None
    produced: list[Produced] = []
    pins: list[uuid.UUID] = []
    placed: list[str] = []
    try:
        wanted = parse_fields(received.fields)
        filename = rules.clean_filename(received.filename)
        scanned = Scanned("application/octet-stream", None, None)
        if not wanted.encrypted:
            scanned = await rt.workers.run(
                scan_plaintext, staged.path, filename, rt.storage.staging_path)
            produced = [p for p in (scanned.cleaned, scanned.thumbnail) if p is not None]
        stored_sha = scanned.cleaned.sha256 if scanned.cleaned else received.sha256
        size = scanned.cleaned.size if scanned.cleaned else staged.size
        thumb = scanned.thumbnail
        hashes = {received.sha256, stored_sha}
        async with rt.pool.connection() as conn:
            hit = await state.blocked(conn, hashes)
        if hit is not None:
            await _refuse_blocked(rt, user_id, wanted.channel_id, hit, info)
        blobs = [(stored_sha, size)] + ([(thumb.sha256, thumb.size)] if thumb else [])
        pins = await state.pin_blobs(rt.pool, blobs)
        placed = [sha for sha, _ in blobs]
        if scanned.cleaned is not None:
            await rt.storage.place_path(scanned.cleaned.path, stored_sha)
        else:
            await rt.storage.place(staged, stored_sha)
        if thumb is not None:
            await rt.storage.place_path(thumb.path, thumb.sha256)
        record = StoredFile(
            file_id=uuid.uuid4(), uploader_id=user_id, channel_id=wanted.channel_id,
            filename=filename, size_bytes=size, content_type=scanned.content_type,
            sha256=stored_sha, encrypted=wanted.encrypted, created_at=rt.now())
        return await _record(rt, record, received.sha256, thumb, pins, info)
    except BaseException:
        with contextlib.suppress(Exception):
            await state.unpin(rt.pool, pins)
            collector = BlobCollector(rt)
            for sha in placed:  # refused after placing (quota, rate, a kick): tidy now
                await collector.try_collect(sha)
        raise
    finally:
        staged.discard()
        for item in produced:
            item.path.unlink(missing_ok=True)


async def _refuse_blocked(rt: FilesRuntime, user_id: uuid.UUID, channel_id: uuid.UUID,
                          hit: tuple[uuid.UUID, str], info: RequestInfo) -> None:
    async def work(tx: Tx) -> None:
        _audit_blocked(tx, user_id, channel_id, hit)

    await run_command(rt.store, info.metadata("upload_file", user_id), rt.now, work)
    raise _blocked_error()


def _audit_blocked(tx: Tx, user_id: uuid.UUID, channel_id: uuid.UUID | None,
                   hit: tuple[uuid.UUID, str]) -> None:
    tx.append(blocked_hash_stream(hit[0]), ev.BlockedUploadRefused(
        hash_id=hit[0], sha256=hit[1], user_id=user_id, channel_id=channel_id))


def _blocked_error() -> DomainError:
    return forbidden("this file has been blocked by an administrator")


async def _record(rt: FilesRuntime, record: StoredFile, received_sha: str,
                  thumb: Produced | None, pins: list[uuid.UUID], info: RequestInfo
                  ) -> StoredFile:
    hashes = [record.sha256] + ([thumb.sha256] if thumb else [])

    async def work(tx: Tx) -> StoredFile:
        user, channel_id = record.uploader_id, record.channel_id
        hit = await state.blocked(tx.conn, {received_sha, record.sha256})
        if hit is not None:  # blocked while this upload was on its way
            _audit_blocked(tx, user, channel_id, hit)
            tx.refuse(_blocked_error())
        access = await posting_access(tx.conn, channel_id, user, tx.now, lock=True)
        rules.check_kind_fits(encrypted=record.encrypted, channel_kind=access.kind,
                              e2e_required=access.e2e_required)
        usage = await state.lock_usage(tx, user)
        await state.save_usage(tx, user, rules.decide_upload(
            usage, record.size_bytes, tx.now, quota=rt.limits.quota_bytes,
            per_window=rt.limits.uploads_per_minute))
        await state.reference(tx, hashes, pins)
        await tx.execute(
            "INSERT INTO file_records (file_id, uploader_id, channel_id, filename, size_bytes,"
            " content_type, sha256, thumbnail_sha256, encrypted, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (record.file_id, user, channel_id, record.filename, record.size_bytes,
             record.content_type, record.sha256, thumb.sha256 if thumb else None,
             record.encrypted, tx.now))
        tx.append(file_stream(record.file_id), ev.FileUploaded(
            file_id=record.file_id, uploader_id=user, channel_id=channel_id,
            filename=record.filename, size_bytes=record.size_bytes,
            content_type=record.content_type, sha256=record.sha256,
            received_sha256=received_sha, encrypted=record.encrypted, created_at=tx.now,
            thumbnail_sha256=thumb.sha256 if thumb else None), expected=NO_STREAM)
        return StoredFile(**{**record.__dict__, "created_at": tx.now})

    result, position = await run_command(
        rt.store, info.metadata("upload_file", record.uploader_id), rt.now, work)
    return StoredFile(**{**result.__dict__, "position": position})
