"""Files and media events: one msgspec Struct per type. They carry metadata only, never
bytes and never storage paths (blobs are named by their SHA-256; where the bytes live is
the storage backend's business, chatalot/files/storage.py).

- `FileUploaded`, `FileDeleted`, `FileQuarantined`, `FileUnquarantined` (stream
  `file-<file id>`): a channel attachment's life. `sha256` is the hash of the stored bytes
  (after EXIF stripping for a plaintext image); `received_sha256` the hash of the bytes as
  uploaded (both are checked against the blocked hashes).
- `FileHashBlocked`, `FileHashUnblocked`, `BlockedUploadRefused` (stream
  `blockedhash-<hash id>`): the admin block list and every upload it refused (audit).
- `MediaAssetUploaded` (stream `media-<owner kind>-<owner id>`): an avatar, banner, icon or
  voice background replaced the previous one (`released_sha256` lists the blobs it no
  longer references).
- `MediaAssetRemoved` (same stream): the image went with its owner (a deleted account,
  community or group; `cause` says which), its reference released.
- `BlobCollected` (stream `blob-<sha256>`): the garbage collector removed a blob's bytes
  once nothing referenced it.

`released_sha256` on `FileDeleted`, `MediaAssetUploaded` and `MediaAssetRemoved` names the
blobs whose reference count the command lowered: the collector (chatalot/files/collector.py) reads
those events from the log and removes the bytes that nothing references any more.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec


class FileUploaded(msgspec.Struct, frozen=True, kw_only=True):
    file_id: uuid.UUID
    uploader_id: uuid.UUID
    channel_id: uuid.UUID
    filename: str
    size_bytes: int
    content_type: str
    sha256: str
    received_sha256: str
    encrypted: bool
    created_at: datetime  # the command's clock: the reply and the read model say the same
    thumbnail_sha256: str | None = None


class FileDeleted(msgspec.Struct, frozen=True, kw_only=True):
    file_id: uuid.UUID
    channel_id: uuid.UUID
    uploader_id: uuid.UUID
    size_bytes: int
    deleted_by: uuid.UUID
    by_admin: bool
    released_sha256: list[str]
    cause: str | None = None
    """None: deleted by someone; "channel_deleted" / "account_deleted": its channel or its
    uploader's account went (chatalot/files/cleanup.py)."""


class FileQuarantined(msgspec.Struct, frozen=True, kw_only=True):
    file_id: uuid.UUID
    channel_id: uuid.UUID
    moderator_id: uuid.UUID
    reason: str | None = None


class FileUnquarantined(msgspec.Struct, frozen=True, kw_only=True):
    file_id: uuid.UUID
    channel_id: uuid.UUID
    moderator_id: uuid.UUID


class FileHashBlocked(msgspec.Struct, frozen=True, kw_only=True):
    hash_id: uuid.UUID
    sha256: str
    moderator_id: uuid.UUID
    reason: str | None = None


class FileHashUnblocked(msgspec.Struct, frozen=True, kw_only=True):
    hash_id: uuid.UUID
    sha256: str
    moderator_id: uuid.UUID


class BlockedUploadRefused(msgspec.Struct, frozen=True, kw_only=True):
    """An upload whose bytes hash to a blocked SHA-256 was refused (nothing was stored)."""

    hash_id: uuid.UUID
    sha256: str
    user_id: uuid.UUID
    channel_id: uuid.UUID | None = None


class MediaAssetUploaded(msgspec.Struct, frozen=True, kw_only=True):
    """`owner_kind` user|community|group; `purpose` avatar|banner|icon|voice_background."""

    asset_id: uuid.UUID
    owner_kind: str
    owner_id: uuid.UUID
    purpose: str
    uploader_id: uuid.UUID
    sha256: str
    content_type: str
    size_bytes: int
    released_sha256: list[str]


class MediaAssetRemoved(msgspec.Struct, frozen=True, kw_only=True):
    """`cause`: account_deleted | community_deleted | group_deleted."""

    asset_id: uuid.UUID
    owner_kind: str
    owner_id: uuid.UUID
    purpose: str
    cause: str
    released_sha256: list[str]


class BlobCollected(msgspec.Struct, frozen=True, kw_only=True):
    sha256: str
    size_bytes: int


FILE_EVENTS: list[type[msgspec.Struct]] = [
    FileUploaded, FileDeleted, FileQuarantined, FileUnquarantined, FileHashBlocked,
    FileHashUnblocked, BlockedUploadRefused, MediaAssetUploaded, MediaAssetRemoved,
    BlobCollected,
]
