"""Idempotency-Key on an upload larger than the idempotency middleware buffers
(CHATALOT_MAX_REQUEST_BODY_BYTES, 2 MiB by default): retried at once and afterwards, it
has one effect and every retry after the first reply gets that reply."""

from __future__ import annotations

import uuid

from tests.files.conftest import MIB, FilesApi, pdf

BOUNDARY = "chatalotidempotencytestboundary"


def multipart(channel_id: str, data: bytes) -> bytes:
    """A fixed body (httpx draws a new boundary per request; a retry resends the bytes)."""
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="channel_id"\r\n\r\n'
        f"{channel_id}\r\n".encode(),
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"'
        "\r\nContent-Type: application/pdf\r\n\r\n".encode() + data + b"\r\n",
        f"--{BOUNDARY}--\r\n".encode(),
    ]
    return b"".join(parts)


def request(user: object, key: str, body: bytes) -> tuple[str, str, dict[str, object]]:
    headers = {**user.auth, "Idempotency-Key": key,  # type: ignore[attr-defined]
               "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    return ("POST", "/api/files/upload", {"headers": headers, "content": body})


async def files_of(files: FilesApi, user_id: str) -> int:
    rows = await files.api.db.fetch(
        "SELECT count(*) FROM file_records WHERE uploader_id = %s", (user_id,))
    return int(rows[0][0])


async def test_concurrent_retries_of_a_large_upload_have_one_effect(files: FilesApi) -> None:
    space = await files.space(members=1)
    member = space.members[0]
    body = multipart(space.channel_id, pdf(int(2.5 * MIB), seed=7))
    assert len(body) > files.api.settings.limits.max_request_body_bytes
    key = str(uuid.uuid4())
    replies = await files.api.concurrently(*[request(member, key, body)] * 4)
    statuses = sorted(r.status_code for r in replies)
    assert set(statuses) <= {201, 409}, [r.text for r in replies]
    created = [r.json() for r in replies if r.status_code == 201]
    assert created, statuses
    assert len({c["id"] for c in created}) == 1
    assert await files_of(files, member.id) == 1
    # a later retry: the first reply, replayed, still one file
    again = await files.api.concurrently(request(member, key, body))
    assert again[0].status_code == 201, again[0].text
    assert again[0].headers["idempotent-replayed"] == "true"
    assert again[0].json() == created[0]
    assert await files_of(files, member.id) == 1
    # the bytes of the refused concurrent copies are not kept twice
    await files.wait_until(lambda: files.blob_count() == 1)


async def test_the_same_key_for_another_large_upload_is_refused(files: FilesApi) -> None:
    space = await files.space(members=1)
    member = space.members[0]
    key = str(uuid.uuid4())
    first = await files.api.concurrently(
        request(member, key, multipart(space.channel_id, pdf(int(2.5 * MIB), seed=8))))
    assert first[0].status_code == 201, first[0].text
    other = await files.api.concurrently(
        request(member, key, multipart(space.channel_id, pdf(int(2.5 * MIB), seed=9))))
    assert other[0].status_code == 422, other[0].text
    assert await files_of(files, member.id) == 1
