"""Who may upload, read and delete: channel membership at request time, the kind of file
each channel takes, quarantine, the uploader's own deletion."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from chatalot.domain.errors import DomainError
from chatalot.files.attachments import attachable_file
from tests.files.conftest import FilesApi, pdf


async def test_a_kicked_member_loses_the_file_at_once(files: FilesApi) -> None:
    space = await files.space(members=2)
    alice, bob = space.members
    stored = await files.stored(alice, space.channel_id, pdf(2000))
    assert (await files.download(bob, stored.id)).status_code == 200
    r = await files.client.post(
        f"/api/channels/{space.channel_id}/members/{bob.id}/kick", headers=space.owner.auth)
    assert r.status_code == 200, r.text
    for path in (f"/api/files/{stored.id}", f"/api/files/{stored.id}/meta",
                 f"/api/files/{stored.id}/thumb"):
        r = await files.client.get(path, headers=bob.auth)
        assert r.status_code == 403, (path, r.text)
        assert r.json()["code"] == "forbidden"
    r = await files.upload(bob, space.channel_id, pdf(10, seed=5))
    assert r.status_code == 403
    assert (await files.download(alice, stored.id)).status_code == 200


async def test_strangers_unknown_ids_and_bad_ids(files: FilesApi) -> None:
    space = await files.space(members=1)
    stranger = await files.api.register()
    stored = await files.stored(space.members[0], space.channel_id, pdf(100))
    assert (await files.download(stranger, stored.id)).status_code == 403
    assert (await files.upload(stranger, space.channel_id, pdf(10))).status_code == 403
    assert (await files.upload(stranger, str(uuid.uuid4()), pdf(10))).status_code == 404
    assert (await files.download(stranger, str(uuid.uuid4()))).status_code == 404
    assert (await files.download(stranger, "not-a-uuid")).status_code == 400
    assert (await files.client.get(f"/api/files/{stored.id}")).status_code == 401
    r = await files.client.delete(f"/api/files/{stored.id}", headers=stranger.auth)
    assert r.status_code == 403


async def test_e2e_channels_take_only_encrypted_blobs(files: FilesApi) -> None:
    space = await files.space(members=2)
    alice, bob = space.members
    dm = await files.spaces.dm(alice, bob)
    r = await files.upload(alice, dm, pdf(100))
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "e2e_required"
    blob = bytes(range(256)) * 20  # ciphertext: no type, not scanned
    stored = await files.stored(alice, dm, blob, "secret.bin", encrypted=True)
    assert stored.body["encrypted"] is True
    assert stored.body["content_type"] == "application/octet-stream"
    got = await files.download(bob, stored.id)
    assert got.content == blob
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"].startswith("attachment;")
    thumb = await files.client.get(f"/api/files/{stored.id}/thumb", headers=bob.auth)
    assert thumb.status_code == 404
    assert (await files.download(space.owner, stored.id)).status_code == 403
    r = await files.upload(alice, space.channel_id, blob, "x.bin", encrypted=True)
    assert r.status_code == 400
    assert "end-to-end" in r.json()["error"]


async def test_the_uploader_deletes_their_file(files: FilesApi) -> None:
    space = await files.space(members=2)
    alice, bob = space.members
    stored = await files.stored(alice, space.channel_id, pdf(3000))
    assert (await files.client.delete(f"/api/files/{stored.id}", headers=bob.auth)
            ).status_code == 403
    r = await files.client.delete(f"/api/files/{stored.id}", headers=alice.auth)
    assert r.status_code == 200, r.text
    assert r.json()["position"]
    assert (await files.download(alice, stored.id)).status_code == 404
    r = await files.client.delete(f"/api/files/{stored.id}", headers=alice.auth)
    assert r.status_code == 404
    rows = await files.api.db.fetch(
        "SELECT bytes_used FROM file_usage WHERE user_id = %s", (alice.id,))
    assert rows == [(0,)]


async def test_quarantine_hides_a_file_until_lifted(files: FilesApi) -> None:
    space = await files.space(members=1)
    admin, member = space.owner, space.members[0]  # the first account is the instance owner
    stored = await files.stored(member, space.channel_id, pdf(500))
    path = f"/api/admin/files/{stored.id}"
    r = await files.client.post(f"{path}/quarantine", headers=member.auth)
    assert r.status_code == 403
    r = await files.client.post(f"{path}/quarantine", headers=admin.auth,
                                json={"reason": "reported"})
    assert r.status_code == 200, r.text
    assert (await files.client.post(f"{path}/quarantine", headers=admin.auth)
            ).status_code == 409
    r = await files.download(member, stored.id)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    assert (await files.download(admin, stored.id)).status_code == 200  # staff may review
    r = await files.client.post(f"{path}/unquarantine", headers=admin.auth)
    assert r.status_code == 200, r.text
    assert (await files.download(member, stored.id)).status_code == 200


async def test_the_port_messaging_asks_before_a_file_message(files: FilesApi) -> None:
    space = await files.space(members=2)
    alice, bob = space.members
    stored = await files.stored(alice, space.channel_id, pdf(100))
    other = await files.spaces.dm(alice, bob)
    file_id, channel = uuid.UUID(stored.id), uuid.UUID(space.channel_id)
    async with await psycopg.AsyncConnection.connect(files.api.db.database_url) as conn:
        attached = await attachable_file(conn, file_id, channel, uuid.UUID(alice.id))
        assert (attached.filename, attached.size_bytes, attached.encrypted) == (
            "doc.pdf", 100, False)
        refusals = [(file_id, uuid.UUID(other), alice.id, "bad_request"),
                    (file_id, channel, bob.id, "bad_request"),
                    (uuid.uuid4(), channel, alice.id, "not_found")]
        for fid, cid, sender, code in refusals:
            with pytest.raises(DomainError) as refused:
                await attachable_file(conn, fid, cid, uuid.UUID(sender))
            assert refused.value.code == code
