"""/api/files: upload (multipart, streamed), download (Range), thumbnail, metadata, delete
(issue 16). Every route needs an authenticated, active user; reading a file needs
membership of its channel at that moment. The rules are in docs/files.md.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from litestar import Controller, Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath
from litestar.response import Response

from chatalot.api.blobs import BlobBody, BlobStream
from chatalot.api.context import errors, principal_of, principal_with_read
from chatalot.api.errors import error_response
from chatalot.api.guards import require_authenticated
from chatalot.api.multipart import FileUploadOperation
from chatalot.api.read_your_writes import read_your_writes
from chatalot.api.routes import delete, get, post
from chatalot.auth.principal import Principal
from chatalot.contracts import iso
from chatalot.domain.errors import not_found
from chatalot.domain.files import rules
from chatalot.files import contracts as c
from chatalot.files import queries
from chatalot.files.commands import moderation, uploads
from chatalot.files.receiving import receive_upload
from chatalot.files.runtime import FilesRuntime
from chatalot.request_info import RequestInfo
from event_store import Position

BODY_LIMIT = 16 * 1024


def content_disposition(kind: str, filename: str) -> str:
    """RFC 6266: an ASCII fallback plus the UTF-8 name (RFC 8187)."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_"
                       for ch in filename) or "file"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def serve_blob(rt: FilesRuntime, request: Request[Any, Any, Any], sha256: str, size: int,
               content_type: str, disposition: str) -> Response[Any]:
    """The blob with Range support (one range; 206, or 416 outside the file), zero-copy
    where the server allows it (chatalot/api/blobs.py)."""
    headers = {"Accept-Ranges": "bytes", "ETag": f'"{sha256}"',
               "Content-Disposition": disposition}
    try:
        wanted = rules.parse_range(request.headers.get("range"), size)
    except rules.RangeNotSatisfiable:
        return error_response(416, "bad_request", "the range lies outside the file",
                              headers={"Content-Range": f"bytes */{size}"})
    if wanted is None:
        return BlobStream(BlobBody(rt.storage, sha256, 0, size - 1), media_type=content_type,
                          status_code=200, headers={**headers, "Content-Length": str(size)})
    first, last = wanted
    return BlobStream(BlobBody(rt.storage, sha256, first, last), media_type=content_type,
                      status_code=206,
                      headers={**headers, "Content-Length": str(last - first + 1),
                               "Content-Range": f"bytes {first}-{last}/{size}"})


def to_meta(stored: uploads.StoredFile) -> c.FileMeta:
    return c.FileMeta(
        id=stored.file_id, filename=stored.filename, size_bytes=stored.size_bytes,
        content_type=stored.content_type, sha256=stored.sha256, encrypted=stored.encrypted,
        channel_id=stored.channel_id, created_at=iso(stored.created_at),
        position=stored.position)


class FilesController(Controller):
    path = "/api/files"
    tags = ["files"]
    guards = [require_authenticated]
    request_max_body_size = BODY_LIMIT

    @post("/upload", status_code=201, summary="Upload a file into a channel",
          request_max_body_size=None,
          operation_class=FileUploadOperation, responses=errors(401, 403, 404, 409, 413, 422))
    async def upload(self, request: Request[Any, Any, Any],
                     files: NamedDependency[FilesRuntime], principal: NamedDependency[Principal],
                     info: NamedDependency[RequestInfo]) -> c.FileMeta:
        """multipart/form-data with `channel_id` (UUID), `encrypted` (true|false, default
        false) and `file`; send the two fields before the file so a refusal comes before
        the bytes. The caller must be allowed to post in the channel (403/404).
        `encrypted=true` (an opaque client-encrypted blob, not scanned) is required in
        end-to-end encrypted channels and DMs (422 e2e_required) and refused elsewhere
        (400). A plaintext file is checked by its bytes: executables, scripts, SVG, HTML and
        types off the allowlist are 400; images are re-encoded without metadata (EXIF) and
        get a thumbnail. Over the file size limit: 413 too_large, as soon as it passes it;
        over the quota 422 limit_reached; more than the uploads allowed a minute 429; a
        blocked SHA-256 403 (and audited). The reply's `sha256` is that of the stored
        bytes."""
        user = principal.user_id
        length = request.headers.get("content-length", "")
        announced = int(length) if length.isdigit() else None

        async def before_bytes(fields: dict[str, str]) -> None:
            await uploads.check_before_bytes(files, user, fields, announced)

        received = await receive_upload(request, files.storage,
                                        limit=files.limits.max_file_bytes,
                                        on_file_start=before_bytes)
        return to_meta(await uploads.upload(files, user, received, info))

    @get("/{file_id:str}/thumb", summary="A plaintext image's thumbnail", cache=False,
         responses=errors(401, 403, 404))
    async def thumbnail(self, request: Request[Any, Any, Any], file_id: FromPath[uuid.UUID],
                        files: NamedDependency[FilesRuntime],
                        principal: NamedDependency[Principal]) -> Response[Any]:
        """WebP, at most 400x400; 404 for a file without one (not an image, encrypted)."""
        f = await queries.servable(files.pool, principal.user_id, principal.is_staff, file_id)
        if f.thumbnail_sha256 is None:
            raise not_found("this file has no thumbnail")
        size = await files.storage.size(f.thumbnail_sha256)
        if size is None:
            raise not_found("this file has no thumbnail")
        return serve_blob(files, request, f.thumbnail_sha256, size, "image/webp",
                          content_disposition("inline", f"{f.filename}.thumb.webp"))

    @get("/{file_id:str}/meta", summary="A file's metadata", cache=False,
         responses=errors(401, 403, 404, 503),
         dependencies={"consistent": read_your_writes("files")})
    async def meta(self, file_id: FromPath[uuid.UUID], files: NamedDependency[FilesRuntime],
                   principal: NamedDependency[Principal],
                   consistent: NamedDependency[Position | None]) -> c.FileMeta:
        """Members of the file's channel only (403)."""
        return await queries.meta(files.pool, principal.user_id, file_id)

    @delete("/{file_id:str}", status_code=200, summary="Delete my file",
            responses=errors(401, 403, 404, 409, 422))
    async def remove(self, file_id: FromPath[uuid.UUID], files: NamedDependency[FilesRuntime],
                     principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                     ) -> c.PositionReply:
        """The uploader, or instance staff. The bytes go once nothing else references
        them (the same content uploaded by someone else stays)."""
        position = await moderation.delete_file(
            files, principal.user_id, principal.is_staff, file_id, info)
        return c.PositionReply(position=position)


_SERVABLE_KEY = "chatalot.files.servable"


async def require_authenticated_with_file(connection: ASGIConnection[Any, Any, Any, Any],
                                          _: BaseRouteHandler) -> None:
    """`require_authenticated` for a download, with the file's row and its access check
    (`queries.SERVABLE`) read in the same round trip as the session lookup: a download
    had three round trips before its first byte, each a wake-up of a database backend and
    of the server (docs/files.md, "Downloads"). The row is judged by the handler, for the
    authenticated caller only."""
    try:
        file_id = uuid.UUID(connection.path_params["file_id"])
    except (KeyError, ValueError):  # the handler answers 400 for the id
        await principal_of(connection)
        return
    row = await principal_with_read(connection, queries.SERVABLE,
                                    lambda user: {"f": file_id, "u": user})
    connection.scope[_SERVABLE_KEY] = (file_id, row)  # type: ignore[literal-required]


class FileDownloadController(Controller):
    """The download, apart from FilesController only for its guard: authentication and the
    file's read in one round trip (`require_authenticated_with_file`)."""

    path = "/api/files"
    tags = ["files"]
    guards = [require_authenticated_with_file]
    request_max_body_size = BODY_LIMIT

    @get("/{file_id:str}", summary="Download a file", cache=False,
         responses=errors(401, 403, 404))
    async def download(self, request: Request[Any, Any, Any], file_id: FromPath[uuid.UUID],
                       files: NamedDependency[FilesRuntime],
                       principal: NamedDependency[Principal]) -> Response[Any]:
        """The stored bytes, with Range (one range: 206; outside the file: 416). Members of
        the file's channel only, checked now (403); a quarantined file 403 except for
        instance staff. A safe image (JPEG, PNG, GIF, WebP, re-encoded by the server) is
        served inline; everything else, and every encrypted blob, as an attachment.
        `X-Content-Type-Options: nosniff` always."""
        held: Any = request.scope.get(_SERVABLE_KEY)
        if held is not None and held[0] == file_id:  # read by the guard, behind the lookup
            f = queries.servable_from(held[1], principal.is_staff)
        else:
            f = await queries.servable(files.pool, principal.user_id, principal.is_staff,
                                       file_id)
        kind = "inline" if rules.is_inline(f.content_type, f.encrypted) else "attachment"
        content_type = "application/octet-stream" if f.encrypted else f.content_type
        if content_type == "text/plain":
            content_type = "text/plain; charset=utf-8"
        return serve_blob(files, request, f.sha256, f.size_bytes, content_type,
                          content_disposition(kind, f.filename))
