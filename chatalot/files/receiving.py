"""Receiving a multipart upload straight into staging, as it arrives.

Litestar's own form parsing (`request.form()`, UploadFile) spools each file part into a
temporary file of its own and hands it over only once the body is complete: the bytes
would be written twice and the size limit known only at the end. We use the same
maintained parser Litestar uses (`multipart.PushMultipartParser`) on `request.stream()`,
and write the file part into the storage's staging area as it arrives, hashing on the
way, so:

- memory holds one chunk at a time (about 1 MiB, chatalot/files/storage.py);
- the upload is refused with 413 `too_large` as soon as the file part passes the limit
  (or at once when Content-Length announces more than the limit can hold);
- the small form fields (`channel_id`, `encrypted`) sent before the file are checked
  before the file's bytes are read (`on_file_start`), so a refused upload costs nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from litestar import Request
from litestar.exceptions import ClientException
from multipart import ParserError, ParserLimitReached, PushMultipartParser

from chatalot.domain.errors import DomainError, bad_request
from chatalot.domain.files.rules import too_large
from chatalot.files.storage import BlobStorage, StagedBlob

FIELD_MAX_BYTES = 1024
MAX_PARTS = 8
FORM_OVERHEAD = 64 * 1024
"""Room for the boundaries, part headers and small fields beside the file itself."""


@dataclass
class ReceivedUpload:
    fields: dict[str, str] = field(default_factory=dict)
    staged: StagedBlob | None = None
    filename: str | None = None
    sha256: str | None = None

    def discard(self) -> None:
        if self.staged is not None:
            self.staged.discard()


def boundary_of(request: Request[Any, Any, Any]) -> bytes:
    """The multipart boundary. Any other body is refused before it is read: 413 when it
    announces more than a form's small parts could need, else 400."""
    content_type, options = request.content_type
    if content_type != "multipart/form-data" or not options.get("boundary"):
        announced = request.headers.get("content-length", "")
        if announced.isdigit() and int(announced) > FORM_OVERHEAD:
            raise too_large(FORM_OVERHEAD)
        raise bad_request("expected a multipart/form-data body with a boundary")
    return options["boundary"].encode("latin-1")


async def receive_upload(
    request: Request[Any, Any, Any], storage: BlobStorage, *, limit: int,
    file_field: str = "file",
    on_file_start: Callable[[dict[str, str]], Awaitable[None]] | None = None,
) -> ReceivedUpload:
    """Read the multipart body: small fields into memory, the part named `file_field` into
    a staged blob. The caller places or discards `staged`; on an error it is discarded
    here."""
    boundary = boundary_of(request)
    announced = request.headers.get("content-length")
    if announced is not None and announced.isdigit() and int(announced) > limit + FORM_OVERHEAD:
        raise too_large(limit)
    received = ReceivedUpload()
    try:
        await _parse(request, storage, boundary, limit, file_field, on_file_start, received)
    except BaseException:
        if received.staged is not None:
            await received.staged.abort()
        raise
    if received.staged is None:
        raise bad_request(f"the form has no `{file_field}` part")
    return received


async def _parse(request: Request[Any, Any, Any], storage: BlobStorage, boundary: bytes,
                 limit: int, file_field: str,
                 on_file_start: Callable[[dict[str, str]], Awaitable[None]] | None,
                 received: ReceivedUpload) -> None:
    name: str | None = None
    value = bytearray()
    try:
        with PushMultipartParser(boundary, max_segment_count=MAX_PARTS) as parser:
            async for chunk in request.stream():
                for event in parser.parse(chunk):
                    if event is None:  # end of a part
                        if name is not None and name != file_field:
                            received.fields[name] = _text(value)
                        name, value = None, bytearray()
                    elif hasattr(event, "name"):  # a part's headers
                        name = str(event.name)
                        if name == file_field:
                            if received.staged is not None:
                                raise bad_request(f"more than one `{file_field}` part")
                            if on_file_start is not None:
                                await on_file_start(dict(received.fields))
                            received.filename = event.filename or ""
                            received.staged = storage.staging()
                        elif name in received.fields:
                            raise bad_request(f"the field `{name}` appears twice")
                    elif name == file_field and received.staged is not None:
                        await received.staged.write(bytes(event))
                        if received.staged.size > limit:
                            raise too_large(limit)
                    else:
                        value += event
                        if len(value) > FIELD_MAX_BYTES:
                            raise bad_request(f"the field `{name}` is too long")
                if parser.closed:
                    break
    except ParserLimitReached:
        raise bad_request("too many parts in the form") from None
    except ParserError as exc:
        raise bad_request(f"malformed multipart body: {exc}") from None
    except ClientException:
        raise
    except DomainError:
        raise
    if received.staged is not None:
        received.sha256 = await received.staged.finish()


def _text(value: bytearray) -> str:
    try:
        return value.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise bad_request("form fields must be UTF-8") from None
