"""File queries.

- What a download serves (`servable`) is read from the decision table `file_records` and
  the caller's channel access is asked of spaces at that moment: a kicked member, a
  deleted or quarantined file stop at once, never after a projection's lag.
- Metadata, the admin list, storage statistics and the blocked hashes are read from the
  read models (projections/read_models/files.py), after the same access check for meta.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from chatalot.contracts import iso
from chatalot.domain.errors import bad_request, not_found
from chatalot.domain.files import rules
from chatalot.files import contracts as c
from chatalot.files.channels import reading_access, reading_access_lateral, require_reading
from chatalot.read_rows import read_rows
from event_store import Position
from projections.projector import read_model

PAGE_MAX = 100


@dataclass(frozen=True)
class Servable:
    file_id: uuid.UUID
    filename: str
    size_bytes: int
    content_type: str
    sha256: str
    thumbnail_sha256: str | None
    encrypted: bool


def _in(query: str, table: str) -> sql.Composed:
    """`query` with its `{}` naming the read model `table`."""
    return sql.SQL(query).format(read_model(table))


# The file and the caller's reading access to its channel, in one statement (one round
# trip on the download's path): the channel is the file's own column. Parameters: the file
# `f`, the caller `u`.
SERVABLE = (
    "SELECT f.file_id, f.channel_id, f.filename, f.size_bytes, f.content_type, f.sha256,"
    " f.thumbnail_sha256, f.encrypted, f.quarantined, a.*"
    " FROM file_records f LEFT JOIN LATERAL (" + reading_access_lateral("f.channel_id")
    + ") a ON true WHERE f.file_id = %(f)s").encode()


async def servable(pool: AsyncConnectionPool[Any], user_id: uuid.UUID, is_staff: bool,
                   file_id: uuid.UUID) -> Servable:
    """The file, if the caller may read it now: 404 unknown or deleted, 403 not a member
    of its channel (any more), 403 quarantined (instance staff excepted). One statement:
    the file's row and the access check of its channel (`reading_access`'s rules)."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(SERVABLE, {"f": file_id, "u": user_id})
        row = await cur.fetchone()
    return servable_from(row, is_staff)


def servable_from(row: dict[str, Any] | None, is_staff: bool) -> Servable:
    """`servable`'s decision on the row of its statement `SERVABLE` (read elsewhere: a
    download reads it behind the caller's session lookup, chatalot/api/files.py)."""
    if row is None:
        raise not_found("no such file")
    require_reading(row["channel_id"], row)
    rules.check_may_download(quarantined=row["quarantined"], is_staff=is_staff)
    return Servable(row["file_id"], row["filename"], row["size_bytes"], row["content_type"],
                    row["sha256"], row["thumbnail_sha256"], row["encrypted"])


async def meta(pool: AsyncConnectionPool[Any], user_id: uuid.UUID, file_id: uuid.UUID
               ) -> c.FileMeta:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT channel_id FROM file_records WHERE file_id = %s",
                                 (file_id,))
        owner = await cur.fetchone()
        if owner is None:
            raise not_found("no such file")
        await reading_access(conn, owner[0], user_id)
        rows = await read_rows(conn, _in("SELECT * FROM {} WHERE file_id = %s", "files"),
                               (file_id,))
    if not rows:
        raise not_found("no such file")
    return _meta(rows[0])


def _meta(r: dict[str, Any]) -> c.FileMeta:
    return c.FileMeta(
        id=r["file_id"], filename=r["filename"], size_bytes=r["size_bytes"],
        content_type=r["content_type"], sha256=r["sha256"], encrypted=r["encrypted"],
        channel_id=r["channel_id"], created_at=iso(r["created_at"]),
        position=Position(r["epoch"], r["transaction_id"], r["sequence"]).encode())


# -- admin ---------------------------------------------------------------------------------


class _Cursor(msgspec.Struct, array_like=True):
    key: int | str
    file_id: uuid.UUID


def _encode_cursor(key: int | str, file_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(_Cursor(key, file_id))).decode()


def _decode_cursor(text: str) -> _Cursor:
    try:
        return msgspec.json.decode(base64.urlsafe_b64decode(text.encode()), type=_Cursor)
    except (ValueError, msgspec.DecodeError):
        raise bad_request("malformed cursor") from None


@dataclass(frozen=True)
class FileFilter:
    uploader_id: uuid.UUID | None = None
    channel_id: uuid.UUID | None = None
    quarantined: bool | None = None
    encrypted: bool | None = None
    sort: str = "newest"  # newest | largest


async def admin_files(pool: AsyncConnectionPool[Any], where: FileFilter,
                      cursor: str | None, limit: int) -> c.AdminFilePage:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("uploader_id", where.uploader_id), ("channel_id", where.channel_id),
                          ("quarantined", where.quarantined), ("encrypted", where.encrypted)):
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    order = "created_at" if where.sort == "newest" else "size_bytes"
    if cursor is not None:
        after = _decode_cursor(cursor)
        if where.sort == "newest":
            clauses.append("(created_at, file_id) < (%s::timestamptz, %s)")
        else:
            clauses.append("(size_bytes, file_id) < (%s::bigint, %s)")
        params += [after.key, after.file_id]
    query = ("SELECT * FROM {}" + (" WHERE " + " AND ".join(clauses) if clauses else "")
             + f" ORDER BY {order} DESC, file_id DESC LIMIT %s")
    async with pool.connection() as conn:
        rows = await read_rows(conn, _in(query, "files"), (*params, limit + 1))
    items = [c.AdminFile(
        id=r["file_id"], filename=r["filename"], size_bytes=r["size_bytes"],
        content_type=r["content_type"], sha256=r["sha256"], encrypted=r["encrypted"],
        channel_id=r["channel_id"], uploader_id=r["uploader_id"],
        quarantined=r["quarantined"], has_thumbnail=r["has_thumbnail"],
        created_at=iso(r["created_at"])) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        key = last["created_at"].isoformat() if where.sort == "newest" else last["size_bytes"]
        next_cursor = _encode_cursor(key, last["file_id"])
    return c.AdminFilePage(items=items, next_cursor=next_cursor)


async def storage_stats(pool: AsyncConnectionPool[Any]) -> c.StorageStats:
    async with pool.connection() as conn:
        totals = await read_rows(conn, _in(
            "SELECT count(*) AS files, coalesce(sum(size_bytes), 0) AS bytes,"
            " count(DISTINCT uploader_id) AS uploaders,"
            " count(*) FILTER (WHERE quarantined) AS quarantined,"
            " count(*) FILTER (WHERE encrypted) AS encrypted FROM {}", "files"))
        per_user = await read_rows(conn, _in(
            "SELECT uploader_id, count(*) AS files, sum(size_bytes) AS bytes FROM {}"
            " GROUP BY uploader_id ORDER BY bytes DESC, uploader_id LIMIT 50", "files"))
        cur = await conn.execute(
            "SELECT count(*), coalesce(sum(size_bytes), 0) FROM file_blobs WHERE refs > 0")
        blobs = await cur.fetchone()
    t = totals[0]
    return c.StorageStats(
        total_files=t["files"], total_bytes=int(t["bytes"]), uploaders=t["uploaders"],
        quarantined_files=t["quarantined"], encrypted_files=t["encrypted"],
        stored_blobs=int(blobs[0]) if blobs else 0,
        stored_bytes=int(blobs[1]) if blobs else 0,
        per_user=[c.UserStorage(user_id=r["uploader_id"], files=r["files"],
                                bytes=int(r["bytes"])) for r in per_user])


async def blocked_hashes(pool: AsyncConnectionPool[Any]) -> list[c.BlockedHash]:
    async with pool.connection() as conn:
        rows = await read_rows(conn, _in(
            "SELECT * FROM {} ORDER BY created_at DESC, hash_id DESC", "blocked_hashes"))
    return [c.BlockedHash(id=r["hash_id"], sha256=r["sha256"], reason=r["reason"],
                          created_by=r["created_by"], created_at=iso(r["created_at"]))
            for r in rows]


# -- media -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ServedMedia:
    sha256: str
    content_type: str
    size_bytes: int


async def find_media(pool: AsyncConnectionPool[Any], owner_kind: str, asset_id: uuid.UUID
                     ) -> ServedMedia | None:
    """The current image with this id, from the decision table (a replaced one is gone at
    once: 404)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT sha256, content_type, size_bytes FROM media_assets"
            " WHERE asset_id = %s AND owner_kind = %s", (asset_id, owner_kind))
        row = await cur.fetchone()
    return ServedMedia(row[0], row[1], int(row[2])) if row else None
