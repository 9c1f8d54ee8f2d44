"""Avatars, banners, community and group icons, voice backgrounds: small public images.

The upload (multipart, one `file` part, at most 10 MiB) must be PNG, JPEG, WebP or GIF by
its bytes; it is re-encoded in a worker thread (metadata dropped, at most 512 or 1920
pixels on its long side; animated GIFs stay GIFs, everything else becomes WebP), stored
content-addressed like any blob, and replaces the owner's previous image for that purpose,
whose blob reference is released (the collector removes its bytes if nothing else uses
them). Each owner's images change one at a time (a transaction-scoped advisory lock).

Who may change what is the caller's `authorize(tx)`: the user themself for their avatar
and banner (their account row locked; the profile's `avatar_url`/`banner_url` is updated
by a `ProfileUpdated` in the same transaction), community or group admins for theirs.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.domain.errors import forbidden
from chatalot.domain.files import events as ev
from chatalot.domain.files import rules
from chatalot.domain.streams import media_stream
from chatalot.files import state
from chatalot.files.receiving import ReceivedUpload
from chatalot.files.runtime import FilesRuntime
from chatalot.files.scanning import Produced, reencode_media
from chatalot.request_info import RequestInfo

MAX_EDGE = {"avatar": 512, "icon": 512, "banner": 1920, "voice_background": 1920}
URL_PREFIX = {"user": "/api/avatars", "community": "/api/community-assets",
              "group": "/api/group-assets"}
EXTENSIONS = {"image/webp": "webp", "image/gif": "gif", "image/png": "png",
              "image/jpeg": "jpg"}


@dataclass(frozen=True)
class StoredMedia:
    asset_id: uuid.UUID
    url: str
    content_type: str
    size_bytes: int
    position: str


def media_url(owner_kind: str, asset_id: uuid.UUID, content_type: str) -> str:
    return f"{URL_PREFIX[owner_kind]}/{asset_id}.{EXTENSIONS[content_type]}"


Authorize = Callable[[Tx], Awaitable[None]]
AfterStore = Callable[[Tx, str], Awaitable[None]]


async def upload_media(rt: FilesRuntime, actor: uuid.UUID, owner_kind: str,
                       owner_id: uuid.UUID, purpose: str, received: ReceivedUpload,
                       info: RequestInfo, *, authorize: Authorize,
                       after: AfterStore | None = None) -> StoredMedia:
    staged = received.staged
    assert staged is not None
    assert received.sha256 is not None
    produced: Produced | None = None
    pins: list[uuid.UUID] = []
    try:
        rules.check_media_purpose(owner_kind, purpose)
        content_type, image = await rt.workers.run(
            reencode_media, staged.path, rt.storage.staging_path, MAX_EDGE[purpose])
        produced = image
        sha, size = image.sha256, image.size
        async with rt.pool.connection() as conn:
            if await state.blocked(conn, {received.sha256, sha}) is not None:
                raise forbidden("this file has been blocked by an administrator")
        pins = await state.pin_blobs(rt.pool, [(sha, size)])
        await rt.storage.place_path(image.path, sha)
        asset_id = uuid.uuid4()
        url = media_url(owner_kind, asset_id, content_type)

        async def work(tx: Tx) -> None:
            await authorize(tx)
            await tx.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                             (f"media:{owner_kind}:{owner_id}",))
            old = await tx.fetchone(
                "DELETE FROM media_assets WHERE owner_kind = %s AND owner_id = %s"
                " AND purpose = %s RETURNING sha256", (owner_kind, owner_id, purpose))
            await tx.execute(
                "INSERT INTO media_assets (asset_id, owner_kind, owner_id, purpose, sha256,"
                " content_type, size_bytes, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (asset_id, owner_kind, owner_id, purpose, sha, content_type, size, tx.now))
            await state.reference(tx, [sha], pins)
            released = [str(old["sha256"])] if old else []
            await state.release(tx, released)
            tx.append(media_stream(owner_kind, owner_id), ev.MediaAssetUploaded(
                asset_id=asset_id, owner_kind=owner_kind, owner_id=owner_id, purpose=purpose,
                uploader_id=actor, sha256=sha, content_type=content_type, size_bytes=size,
                released_sha256=released))
            if after is not None:
                await after(tx, url)

        _, position = await run_command(
            rt.store, info.metadata(f"upload_{purpose}", actor), rt.now, work)
        return StoredMedia(asset_id, url, content_type, size, position)
    except BaseException:
        with contextlib.suppress(Exception):
            await state.unpin(rt.pool, pins)
        raise
    finally:
        staged.discard()
        if produced is not None:
            produced.path.unlink(missing_ok=True)
