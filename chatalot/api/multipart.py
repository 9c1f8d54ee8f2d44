"""OpenAPI for the routes that read a multipart body themselves (uploads stream it into
storage, so Litestar never sees a `data` parameter to describe): their request body is
declared here."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.spec import OpenAPIMediaType, Operation, Reference, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType

_FILE = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY,
               description="the file's bytes; its part's filename is the file's name")


def _form(properties: dict[str, Schema | Reference], required: list[str]) -> RequestBody:
    return RequestBody(required=True, content={"multipart/form-data": OpenAPIMediaType(
        schema=Schema(type=OpenAPIType.OBJECT, properties=properties, required=required))})


@dataclass
class FileUploadOperation(Operation):
    """POST /api/files/upload: `channel_id`, `encrypted`, then `file`."""

    def __post_init__(self) -> None:
        self.request_body = _form({
            "channel_id": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.UUID,
                                 description="the channel the file will be posted in"),
            "encrypted": Schema(type=OpenAPIType.BOOLEAN, default=False,
                                description="true: an opaque client-encrypted blob"),
            "file": _FILE,
        }, ["channel_id", "file"])


@dataclass
class ImageUploadOperation(Operation):
    """The media routes (avatars, banners, icons, voice backgrounds): one `file` part."""

    def __post_init__(self) -> None:
        self.request_body = _form({"file": _FILE}, ["file"])
