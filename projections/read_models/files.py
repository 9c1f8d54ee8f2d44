"""Read models of files and media (issue 16): the files (for their metadata, the admin
list and storage statistics), the blocked hashes, and the current media assets.

Events are chatalot's (chatalot/domain/files/events.py), handled by name: this module
imports nothing from chatalot. Queries read them through `read_models.<table>`
(chatalot/files/queries.py); downloads and commands decide from the decision tables
(migrations/0010_files.sql), never from here.
"""

from __future__ import annotations

from typing import Any, ClassVar

from psycopg import sql

from event_store import RecordedEvent
from projections.projector import ProjectionContext, Projector, on


async def _run(ctx: ProjectionContext, text: str, table: str, params: Any) -> None:
    await ctx.conn.execute(sql.SQL(text).format(t=ctx.table(table)), params)


class Files(Projector):
    name = "files"
    version = 1
    tables: ClassVar = {"files": (
        "file_id uuid PRIMARY KEY, uploader_id uuid NOT NULL, channel_id uuid NOT NULL,"
        " filename text NOT NULL, size_bytes bigint NOT NULL, content_type text NOT NULL,"
        " sha256 text NOT NULL, encrypted boolean NOT NULL,"
        " quarantined boolean NOT NULL DEFAULT false, has_thumbnail boolean NOT NULL,"
        " created_at timestamptz NOT NULL, epoch integer NOT NULL,"
        " transaction_id bigint NOT NULL, sequence bigint NOT NULL")}
    indexes: ClassVar = [
        "CREATE INDEX ON {files} (created_at DESC, file_id DESC)",
        "CREATE INDEX ON {files} (size_bytes DESC, file_id DESC)",
        "CREATE INDEX ON {files} (uploader_id)",
        "CREATE INDEX ON {files} (channel_id)",
    ]

    @on("FileUploaded")
    async def uploaded(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d, p = event.data, event.position
        await _run(ctx, "INSERT INTO {t} (file_id, uploader_id, channel_id, filename,"
                   " size_bytes, content_type, sha256, encrypted, has_thumbnail, created_at,"
                   " epoch, transaction_id, sequence)"
                   " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                   " ON CONFLICT (file_id) DO NOTHING", "files",
                   (d.file_id, d.uploader_id, d.channel_id, d.filename, d.size_bytes,
                    d.content_type, d.sha256, d.encrypted, d.thumbnail_sha256 is not None,
                    d.created_at, p.epoch, p.transaction_id, p.sequence))

    @on("FileDeleted")
    async def deleted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "DELETE FROM {t} WHERE file_id = %s", "files", (event.data.file_id,))

    @on("FileQuarantined")
    async def quarantined(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "UPDATE {t} SET quarantined = true WHERE file_id = %s", "files",
                   (event.data.file_id,))

    @on("FileUnquarantined")
    async def unquarantined(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "UPDATE {t} SET quarantined = false WHERE file_id = %s", "files",
                   (event.data.file_id,))


class BlockedHashes(Projector):
    name = "blocked_hashes"
    version = 1
    tables: ClassVar = {"blocked_hashes": (
        "hash_id uuid PRIMARY KEY, sha256 text NOT NULL, reason text,"
        " created_by uuid NOT NULL, created_at timestamptz NOT NULL,"
        " refused_uploads integer NOT NULL DEFAULT 0")}
    indexes: ClassVar = ["CREATE INDEX ON {blocked_hashes} (created_at DESC, hash_id DESC)"]

    @on("FileHashBlocked")
    async def blocked(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "INSERT INTO {t} (hash_id, sha256, reason, created_by, created_at)"
                   " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (hash_id) DO NOTHING",
                   "blocked_hashes",
                   (d.hash_id, d.sha256, d.reason, d.moderator_id, event.recorded_at))

    @on("FileHashUnblocked")
    async def unblocked(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "DELETE FROM {t} WHERE hash_id = %s", "blocked_hashes",
                   (event.data.hash_id,))

    @on("BlockedUploadRefused")
    async def refused(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "UPDATE {t} SET refused_uploads = refused_uploads + 1"
                   " WHERE hash_id = %s", "blocked_hashes", (event.data.hash_id,))


class MediaAssets(Projector):
    """The current avatar/banner/icon/background of each owner (one row per slot)."""

    name = "media_assets"
    version = 2  # 2: MediaAssetRemoved (an owner's deletion takes its images)
    tables: ClassVar = {"media_assets": (
        "owner_kind text NOT NULL, owner_id uuid NOT NULL, purpose text NOT NULL,"
        " asset_id uuid NOT NULL, sha256 text NOT NULL, content_type text NOT NULL,"
        " size_bytes bigint NOT NULL, uploader_id uuid NOT NULL,"
        " created_at timestamptz NOT NULL, PRIMARY KEY (owner_kind, owner_id, purpose)")}
    indexes: ClassVar = ["CREATE UNIQUE INDEX ON {media_assets} (asset_id)"]

    @on("MediaAssetUploaded")
    async def uploaded(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "INSERT INTO {t} (owner_kind, owner_id, purpose, asset_id, sha256,"
                   " content_type, size_bytes, uploader_id, created_at)"
                   " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                   " ON CONFLICT (owner_kind, owner_id, purpose) DO UPDATE SET"
                   " asset_id = excluded.asset_id, sha256 = excluded.sha256,"
                   " content_type = excluded.content_type, size_bytes = excluded.size_bytes,"
                   " uploader_id = excluded.uploader_id, created_at = excluded.created_at",
                   "media_assets",
                   (d.owner_kind, d.owner_id, d.purpose, d.asset_id, d.sha256,
                    d.content_type, d.size_bytes, d.uploader_id, event.recorded_at))

    @on("MediaAssetRemoved")
    async def removed(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "DELETE FROM {t} WHERE asset_id = %s", "media_assets",
                   (event.data.asset_id,))


PROJECTORS: list[type[Projector]] = [Files, BlockedHashes, MediaAssets]
