"""Downloads hand the server the blob's file (`http.response.zerocopysend`) when it takes
that extension, as `chatalot serve` does (tests/app/test_zero_copy.py tests that side):
here a stand-in server records what the app asked for and sends those bytes. Files,
ranges, thumbnails and avatars; without the extension the bytes are streamed (every other
test of this directory)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from chatalot.api.blobs import ZERO_COPY
from chatalot.config import Settings
from tests.accounts.conftest import running_app
from tests.files.conftest import FilesApi, pdf
from tests.files.images import jpeg_with_exif

asked: list[tuple[int, int]] = []


def zero_copy_server(app: Any) -> Any:
    """Offers the extension and turns each zero-copy message into the bytes it names."""
    async def serve(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        scope = {**scope, "extensions": {**(scope.get("extensions") or {}), ZERO_COPY: {}}}

        async def sending(message: Any) -> None:
            if message["type"] == ZERO_COPY:
                handle, offset, count = message["file"], message["offset"], message["count"]
                asked.append((offset, count))
                handle.seek(offset)
                message = {"type": "http.response.body", "body": handle.read(count),
                           "more_body": message.get("more_body", False)}
            await send(message)

        await app(scope, receive, sending)
    return serve


@pytest.fixture
async def files(settings: Settings, fast_database_url: str, clock: Any
                ) -> AsyncIterator[FilesApi]:
    async with running_app(settings, fast_database_url, clock,
                           wrap=zero_copy_server) as api:
        yield FilesApi(api)




async def test_files_and_ranges_go_zero_copy(files: FilesApi) -> None:
    asked.clear()
    space = await files.space(members=1)
    data = pdf(300_000, seed=1)
    stored = await files.stored(space.owner, space.channel_id, data)
    user = space.members[0]
    r = await files.download(user, stored.id)
    assert (r.status_code, r.content) == (200, data)
    assert r.headers["content-length"] == str(len(data))
    r = await files.download(user, stored.id, range="bytes=1000-1999")
    assert (r.status_code, r.content) == (206, data[1000:2000])
    r = await files.download(user, stored.id, range="bytes=-10")
    assert (r.status_code, r.content) == (206, data[-10:])
    assert asked == [(0, len(data)), (1000, 1000), (len(data) - 10, 10)]
    r = await files.download(user, stored.id, range="bytes=300000-")
    assert r.status_code == 416
    assert len(asked) == 3


async def test_thumbnails_and_avatars_go_zero_copy(files: FilesApi) -> None:
    asked.clear()
    space = await files.space(members=1)
    stored = await files.stored(space.owner, space.channel_id, jpeg_with_exif((900, 600)),
                                "photo.jpg")
    thumb = await files.client.get(f"/api/files/{stored.id}/thumb",
                                   headers=space.owner.auth)
    assert thumb.status_code == 200 and thumb.content[:4] == b"RIFF"
    r = await files.client.post("/api/account/avatar", headers=space.owner.auth,
                                files={"file": ("a.jpg", jpeg_with_exif((300, 200)))})
    served = await files.client.get(r.json()["url"])
    assert served.status_code == 200 and served.content[:4] == b"RIFF"
    assert asked == [(0, len(thumb.content)), (0, len(served.content))]
