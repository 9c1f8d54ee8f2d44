"""Instance administration of files (issue 16): the file list, deletion, quarantine,
storage statistics and the blocked hashes. Instance admins and the owner only."""

from __future__ import annotations

import uuid

from litestar import Controller
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from chatalot.api.context import errors
from chatalot.api.guards import require_instance_admin
from chatalot.api.read_your_writes import read_your_writes
from chatalot.api.routes import delete, get, post
from chatalot.auth.principal import Principal
from chatalot.domain.errors import bad_request
from chatalot.files import contracts as c
from chatalot.files import queries
from chatalot.files.commands import moderation
from chatalot.files.runtime import FilesRuntime
from chatalot.request_info import RequestInfo
from event_store import Position

BODY_LIMIT = 16 * 1024


class AdminFilesController(Controller):
    path = "/api/admin"
    tags = ["admin"]
    guards = [require_instance_admin]
    request_max_body_size = BODY_LIMIT

    @get("/files", summary="List files", cache=False, responses=errors(401, 403, 503),
         dependencies={"consistent": read_your_writes("files")})
    async def list_files(self, files: NamedDependency[FilesRuntime],
                         consistent: NamedDependency[Position | None],
                         user_id: FromQuery[uuid.UUID | None] = None,
                         channel_id: FromQuery[uuid.UUID | None] = None,
                         quarantined: FromQuery[bool | None] = None,
                         encrypted: FromQuery[bool | None] = None,
                         sort: FromQuery[str] = "newest",
                         cursor: FromQuery[str | None] = None,
                         limit: FromQuery[int] = 50) -> c.AdminFilePage:
        """Filters: uploader `user_id`, `channel_id`, `quarantined`, `encrypted`; `sort`
        newest (default) or largest; `limit` 1-100."""
        if sort not in ("newest", "largest"):
            raise bad_request("sort must be newest or largest")
        if not 1 <= limit <= queries.PAGE_MAX:
            raise bad_request(f"limit must be 1-{queries.PAGE_MAX}")
        where = queries.FileFilter(user_id, channel_id, quarantined, encrypted, sort)
        return await queries.admin_files(files.pool, where, cursor, limit)

    @delete("/files/{file_id:str}", status_code=200, summary="Delete any file",
            responses=errors(401, 403, 404, 409, 422))
    async def delete_file(self, file_id: FromPath[uuid.UUID],
                          files: NamedDependency[FilesRuntime],
                          principal: NamedDependency[Principal],
                          info: NamedDependency[RequestInfo],
                          block_hash: FromQuery[bool] = False) -> c.PositionReply:
        """`block_hash=true` also puts the file's SHA-256 on the block list."""
        position = await moderation.delete_file(
            files, principal.user_id, True, file_id, info, block_hash=block_hash)
        return c.PositionReply(position=position)

    @post("/files/{file_id:str}/quarantine", status_code=200, summary="Quarantine a file",
          responses=errors(401, 403, 404, 409, 413, 422))
    async def quarantine(self, file_id: FromPath[uuid.UUID],
                         files: NamedDependency[FilesRuntime],
                         principal: NamedDependency[Principal],
                         info: NamedDependency[RequestInfo],
                         data: JSONBody[c.ModerationRequest | None] = None) -> c.PositionReply:
        """Hidden from download (403) until unquarantined; the bytes stay (409 if already)."""
        position = await moderation.set_quarantine(
            files, principal.user_id, file_id, True, data.reason if data else None, info)
        return c.PositionReply(position=position)

    @post("/files/{file_id:str}/unquarantine", status_code=200,
          summary="Lift a file's quarantine", responses=errors(401, 403, 404, 409, 422))
    async def unquarantine(self, file_id: FromPath[uuid.UUID],
                           files: NamedDependency[FilesRuntime],
                           principal: NamedDependency[Principal],
                           info: NamedDependency[RequestInfo]) -> c.PositionReply:
        position = await moderation.set_quarantine(
            files, principal.user_id, file_id, False, None, info)
        return c.PositionReply(position=position)

    @get("/storage-stats", summary="Storage statistics", cache=False,
         responses=errors(401, 403, 503),
         dependencies={"consistent": read_your_writes("files")})
    async def storage_stats(self, files: NamedDependency[FilesRuntime],
                            consistent: NamedDependency[Position | None]) -> c.StorageStats:
        """Files and bytes as uploaded, per uploader (the 50 largest), and what is
        stored on disk (each distinct content once)."""
        return await queries.storage_stats(files.pool)

    @get("/blocked-hashes", summary="The blocked SHA-256 list", cache=False,
         responses=errors(401, 403, 503),
         dependencies={"consistent": read_your_writes("blocked_hashes")})
    async def blocked_hashes(self, files: NamedDependency[FilesRuntime],
                             consistent: NamedDependency[Position | None]
                             ) -> list[c.BlockedHash]:
        return await queries.blocked_hashes(files.pool)

    @post("/blocked-hashes", status_code=201, summary="Block a SHA-256",
          responses=errors(401, 403, 409, 413, 422))
    async def block(self, data: JSONBody[c.BlockHashRequest],
                    files: NamedDependency[FilesRuntime], principal: NamedDependency[Principal],
                    info: NamedDependency[RequestInfo]) -> c.BlockedHashReply:
        """Uploads whose bytes (as sent, or as stored) hash to it are refused with 403
        and audited (`BlockedUploadRefused`); 409 if already blocked."""
        hash_id, position = await moderation.block_hash(
            files, principal.user_id, data.sha256, data.reason, info)
        return c.BlockedHashReply(id=hash_id, sha256=data.sha256.lower(), position=position)

    @delete("/blocked-hashes/{hash_id:str}", status_code=200, summary="Unblock a SHA-256",
            responses=errors(401, 403, 404, 409, 422))
    async def unblock(self, hash_id: FromPath[uuid.UUID], files: NamedDependency[FilesRuntime],
                      principal: NamedDependency[Principal],
                      info: NamedDependency[RequestInfo]) -> c.PositionReply:
        position = await moderation.unblock_hash(files, principal.user_id, hash_id, info)
        return c.PositionReply(position=position)
