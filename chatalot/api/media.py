"""Avatars and banners of users (POST /api/account/avatar, /banner), and the public routes
that serve every media image (GET /api/avatars/{file}, /api/community-assets/{file},
/api/group-assets/{file}). Community and group images are uploaded through
chatalot/api/space_media.py. The rules are in docs/files.md ("Media")."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Controller, Request
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Response

from chatalot.accounts.state import lock_account
from chatalot.api.context import errors
from chatalot.api.files import content_disposition, serve_blob
from chatalot.api.guards import require_authenticated
from chatalot.api.multipart import ImageUploadOperation
from chatalot.api.routes import get, post
from chatalot.auth.principal import Principal
from chatalot.command_tx import CommandTx as Tx
from chatalot.domain.accounts.events import ProfileUpdated
from chatalot.domain.errors import bad_request, not_found
from chatalot.domain.streams import user_stream
from chatalot.files import contracts as c
from chatalot.files import queries
from chatalot.files.commands import media
from chatalot.files.receiving import receive_upload
from chatalot.files.runtime import FilesRuntime
from chatalot.request_info import RequestInfo


async def receive_and_store(request: Request[Any, Any, Any], rt: FilesRuntime,
                            actor: uuid.UUID, owner_kind: str, owner_id: uuid.UUID,
                            purpose: str, info: RequestInfo, *, authorize: media.Authorize,
                            after: media.AfterStore | None = None,
                            before_bytes: Callable[[], Awaitable[None]] | None = None
                            ) -> c.MediaReply:
    """The image upload of every media route: `before_bytes` refuses early (rights), then
    the command checks again in its transaction (`authorize`)."""

    async def early(_: dict[str, str]) -> None:
        if before_bytes is not None:
            await before_bytes()

    received = await receive_upload(request, rt.storage, limit=rt.limits.media_max_bytes,
                                    on_file_start=early)
    if received.fields:
        received.discard()
        raise bad_request(f"unknown form field `{sorted(received.fields)[0]}`")
    stored = await media.upload_media(rt, actor, owner_kind, owner_id, purpose, received,
                                      info, authorize=authorize, after=after)
    return c.MediaReply(id=stored.asset_id, url=stored.url, content_type=stored.content_type,
                        size_bytes=stored.size_bytes, position=stored.position)


async def _own_profile(request: Request[Any, Any, Any], rt: FilesRuntime, user_id: uuid.UUID,
                       purpose: str, info: RequestInfo) -> c.MediaReply:
    async def authorize(tx: Tx) -> None:
        await lock_account(tx, user_id)

    async def after(tx: Tx, url: str) -> None:
        field = "avatar_url" if purpose == "avatar" else "banner_url"
        tx.append(user_stream(user_id), ProfileUpdated(user_id=user_id, **{field: url}))

    return await receive_and_store(request, rt, user_id, "user", user_id, purpose, info,
                                   authorize=authorize, after=after)


class AccountMediaController(Controller):
    path = "/api/account"
    tags = ["account"]
    guards = [require_authenticated]

    @post("/avatar", status_code=200, summary="Upload my avatar",
          request_max_body_size=None,
          operation_class=ImageUploadOperation, responses=errors(401, 404, 409, 413, 422))
    async def avatar(self, request: Request[Any, Any, Any], files: NamedDependency[FilesRuntime],
                     principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                     ) -> c.MediaReply:
        """multipart/form-data with one `file`: PNG, JPEG, WebP or GIF (by its bytes; else
        400), at most 10 MiB (413). Re-encoded without metadata, at most 512x512; the
        profile's `avatar_url` becomes the reply's `url`."""
        return await _own_profile(request, files, principal.user_id, "avatar", info)

    @post("/banner", status_code=200, summary="Upload my profile banner",
          request_max_body_size=None,
          operation_class=ImageUploadOperation, responses=errors(401, 404, 409, 413, 422))
    async def banner(self, request: Request[Any, Any, Any], files: NamedDependency[FilesRuntime],
                     principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                     ) -> c.MediaReply:
        """As the avatar, at most 1920 pixels on the long side; sets `banner_url`."""
        return await _own_profile(request, files, principal.user_id, "banner", info)


def _asset_id(filename: str) -> uuid.UUID:
    stem, _, _ = filename.partition(".")
    try:
        return uuid.UUID(stem)
    except ValueError:
        raise bad_request("an image's name is <uuid>.<extension>") from None


async def _serve(request: Request[Any, Any, Any], rt: FilesRuntime, owner_kind: str,
                 filename: str) -> Response[Any]:
    found = await queries.find_media(rt.pool, owner_kind, _asset_id(filename))
    if found is None:
        raise not_found("no such image")
    return serve_blob(rt, request, found.sha256, found.size_bytes, found.content_type,
                      content_disposition("inline", filename))


class MediaController(Controller):
    """Public, as upstream serves them: profile and community images are shown to people
    who are not (yet) members, e.g. on an invite page."""

    path = "/api"
    tags = ["media"]

    @get("/avatars/{filename:str}", summary="A user's avatar or banner", cache=False,
         responses=errors(404))
    async def user_media(self, request: Request[Any, Any, Any], filename: FromPath[str],
                         files: NamedDependency[FilesRuntime]) -> Response[Any]:
        return await _serve(request, files, "user", filename)

    @get("/community-assets/{filename:str}", summary="A community's icon or banner",
         cache=False, responses=errors(404))
    async def community_media(self, request: Request[Any, Any, Any], filename: FromPath[str],
                              files: NamedDependency[FilesRuntime]) -> Response[Any]:
        return await _serve(request, files, "community", filename)

    @get("/group-assets/{filename:str}", summary="A group's icon, banner or voice background",
         cache=False, responses=errors(404))
    async def group_media(self, request: Request[Any, Any, Any], filename: FromPath[str],
                          files: NamedDependency[FilesRuntime]) -> Response[Any]:
        return await _serve(request, files, "group", filename)
