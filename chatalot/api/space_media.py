"""Community and group images (issue 16 item 4): POST /api/communities/{cid}/icon,
/banner and POST /api/groups/{id}/icon, /banner, /voice-background. Who may change them is
the spaces context's rule (community admins, the group's owner or a community admin,
instance staff: chatalot/domain/spaces/permissions.py), asked before the bytes are read
and again inside the command's transaction. The images are served publicly at the
reply's `url` (chatalot/api/media.py)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request
from litestar.di import NamedDependency
from litestar.params import FromPath

from chatalot.api.context import errors
from chatalot.api.guards import require_authenticated
from chatalot.api.media import receive_and_store
from chatalot.api.multipart import ImageUploadOperation
from chatalot.api.routes import post
from chatalot.auth.principal import Principal
from chatalot.command_tx import CommandTx as Tx
from chatalot.domain.spaces import permissions
from chatalot.files import contracts as c
from chatalot.files.runtime import FilesRuntime
from chatalot.request_info import RequestInfo
from chatalot.spaces.access import load_community_access, load_group_access

MEDIA_ERRORS = errors(401, 403, 404, 409, 413, 422)


async def _community(request: Request[Any, Any, Any], rt: FilesRuntime, actor: uuid.UUID,
                     community_id: uuid.UUID, purpose: str, info: RequestInfo
                     ) -> c.MediaReply:
    async def check() -> None:
        async with rt.pool.connection() as conn:
            permissions.require_community_manage(
                await load_community_access(conn, community_id, actor))

    async def authorize(tx: Tx) -> None:
        permissions.require_community_manage(
            await load_community_access(tx.conn, community_id, actor, lock="share"))

    return await receive_and_store(request, rt, actor, "community", community_id, purpose,
                                   info, authorize=authorize, before_bytes=check)


async def _group(request: Request[Any, Any, Any], rt: FilesRuntime, actor: uuid.UUID,
                 group_id: uuid.UUID, purpose: str, info: RequestInfo) -> c.MediaReply:
    async def check() -> None:
        async with rt.pool.connection() as conn:
            permissions.require_group_manage(await load_group_access(conn, group_id, actor))

    async def authorize(tx: Tx) -> None:
        permissions.require_group_manage(
            await load_group_access(tx.conn, group_id, actor, lock=True))

    return await receive_and_store(request, rt, actor, "group", group_id, purpose, info,
                                   authorize=authorize, before_bytes=check)


class CommunityMediaController(Controller):
    path = "/api/communities/{community_id:str}"
    tags = ["communities"]
    guards = [require_authenticated]

    @post("/icon", summary="Upload the community's icon", status_code=200,
          request_max_body_size=None,
          operation_class=ImageUploadOperation, responses=MEDIA_ERRORS)
    async def icon(self, request: Request[Any, Any, Any], community_id: FromPath[uuid.UUID],
                   files: NamedDependency[FilesRuntime], principal: NamedDependency[Principal],
                   info: NamedDependency[RequestInfo]) -> c.MediaReply:
        """multipart/form-data with one `file` (PNG, JPEG, WebP or GIF, at most 10 MiB);
        community admins only (403). Re-encoded, at most 512x512."""
        return await _community(request, files, principal.user_id, community_id, "icon", info)

    @post("/banner", summary="Upload the community's banner", status_code=200,
          request_max_body_size=None,
          operation_class=ImageUploadOperation, responses=MEDIA_ERRORS)
    async def banner(self, request: Request[Any, Any, Any], community_id: FromPath[uuid.UUID],
                     files: NamedDependency[FilesRuntime],
                     principal: NamedDependency[Principal],
                     info: NamedDependency[RequestInfo]) -> c.MediaReply:
        """As the icon, at most 1920 pixels on the long side."""
        return await _community(request, files, principal.user_id, community_id, "banner",
                                info)


class GroupMediaController(Controller):
    path = "/api/groups/{group_id:str}"
    tags = ["groups"]
    guards = [require_authenticated]

    @post("/icon", summary="Upload the group's icon", status_code=200,
          request_max_body_size=None,
          operation_class=ImageUploadOperation, responses=MEDIA_ERRORS)
    async def icon(self, request: Request[Any, Any, Any], group_id: FromPath[uuid.UUID],
                   files: NamedDependency[FilesRuntime], principal: NamedDependency[Principal],
                   info: NamedDependency[RequestInfo]) -> c.MediaReply:
        """multipart/form-data with one `file`; the group's owner or a community admin
        (403). Re-encoded, at most 512x512."""
        return await _group(request, files, principal.user_id, group_id, "icon", info)

    @post("/banner", summary="Upload the group's banner", status_code=200,
          request_max_body_size=None,
          operation_class=ImageUploadOperation, responses=MEDIA_ERRORS)
    async def banner(self, request: Request[Any, Any, Any], group_id: FromPath[uuid.UUID],
                     files: NamedDependency[FilesRuntime],
                     principal: NamedDependency[Principal],
                     info: NamedDependency[RequestInfo]) -> c.MediaReply:
        return await _group(request, files, principal.user_id, group_id, "banner", info)

    @post("/voice-background", summary="Upload the group's voice channel background",
          status_code=200, request_max_body_size=None,
          operation_class=ImageUploadOperation, responses=MEDIA_ERRORS)
    async def voice_background(self, request: Request[Any, Any, Any],
                               group_id: FromPath[uuid.UUID],
                               files: NamedDependency[FilesRuntime],
                               principal: NamedDependency[Principal],
                               info: NamedDependency[RequestInfo]) -> c.MediaReply:
        """At most 1920 pixels on the long side."""
        return await _group(request, files, principal.user_id, group_id, "voice_background",
                            info)
