"""Wire shapes of the file routes (docs/files.md). The upload itself is multipart
(`file`, `channel_id`, `encrypted`), read by chatalot/files/receiving.py, not a Struct."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

from chatalot.contracts import Body

Reason = Annotated[str, msgspec.Meta(max_length=500)]


class FileMeta(msgspec.Struct, kw_only=True):
    """The upload's reply and GET /files/{id}/meta (protocol.md, "Settled details")."""

    id: uuid.UUID
    filename: str
    size_bytes: int
    content_type: str
    sha256: str
    encrypted: bool
    channel_id: uuid.UUID
    created_at: str
    position: str | None


class AdminFile(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    filename: str
    size_bytes: int
    content_type: str
    sha256: str
    encrypted: bool
    channel_id: uuid.UUID
    uploader_id: uuid.UUID
    quarantined: bool
    has_thumbnail: bool
    created_at: str


class AdminFilePage(msgspec.Struct, kw_only=True):
    items: list[AdminFile]
    next_cursor: str | None


class UserStorage(msgspec.Struct, kw_only=True):
    user_id: uuid.UUID
    files: int
    bytes: int


class StorageStats(msgspec.Struct, kw_only=True):
    """`total_files`/`total_bytes`: channel files as uploaded (a file stored twice counts
    twice; quotas count the same way). `stored_blobs`/`stored_bytes`: what is on disk
    (each distinct content once, thumbnails and media included)."""

    total_files: int
    total_bytes: int
    uploaders: int
    quarantined_files: int
    encrypted_files: int
    stored_blobs: int
    stored_bytes: int
    per_user: list[UserStorage]


class PositionReply(msgspec.Struct, kw_only=True):
    position: str


class ModerationRequest(Body, kw_only=True):
    reason: Reason | None = None


class BlockHashRequest(Body, kw_only=True):
    sha256: Annotated[str, msgspec.Meta(min_length=64, max_length=64)]
    reason: Reason | None = None


class BlockedHash(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    sha256: str
    reason: str | None
    created_by: uuid.UUID
    created_at: str


class BlockedHashReply(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    sha256: str
    position: str


class MediaReply(msgspec.Struct, kw_only=True):
    """An avatar, banner, icon or voice background: where it is served now."""

    id: uuid.UUID
    url: str
    content_type: str
    size_bytes: int
    position: str
