"""Blocked hashes, the admin list and statistics, and the collection of orphaned bytes."""

from __future__ import annotations

import hashlib

from tests.files.conftest import MIB, FilesApi, pdf


async def test_a_blocked_hash_is_refused_and_audited(files: FilesApi) -> None:
    space = await files.space(members=1)
    admin, member = space.owner, space.members[0]
    data = pdf(1234, seed=7)
    sha = hashlib.sha256(data).hexdigest()
    r = await files.client.post("/api/admin/blocked-hashes", headers=member.auth,
                                json={"sha256": sha})
    assert r.status_code == 403
    r = await files.client.post("/api/admin/blocked-hashes", headers=admin.auth,
                                json={"sha256": sha.upper(), "reason": "known abuse"})
    assert r.status_code == 201, r.text
    hash_id = r.json()["id"]
    assert (await files.client.post("/api/admin/blocked-hashes", headers=admin.auth,
                                    json={"sha256": sha})).status_code == 409
    r = await files.upload(member, space.channel_id, data)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    assert files.blob_count() == 0
    audit = await files.api.events(f"blockedhash-{hash_id}")
    assert [e.type for e in audit] == ["FileHashBlocked", "BlockedUploadRefused"]
    assert str(audit[1].data.user_id) == member.id
    listed = await files.client.get("/api/admin/blocked-hashes", headers={
        **admin.auth, "Chatalot-Min-Position": await files.api.head()})
    assert [(h["id"], h["sha256"], h["reason"]) for h in listed.json()] == [
        (hash_id, sha, "known abuse")]
    r = await files.client.delete(f"/api/admin/blocked-hashes/{hash_id}", headers=admin.auth)
    assert r.status_code == 200, r.text
    assert (await files.upload(member, space.channel_id, data)).status_code == 201


async def test_deleting_removes_the_bytes_once_nothing_references_them(
        files: FilesApi) -> None:
    space = await files.space(members=1)
    admin, member = space.owner, space.members[0]
    shared = pdf(4000, seed=8)
    first = await files.stored(member, space.channel_id, shared)
    second = await files.stored(admin, space.channel_id, shared)
    sha = first.body["sha256"]
    r = await files.client.delete(f"/api/files/{first.id}", headers=member.auth)
    assert r.status_code == 200
    # the other file still references the bytes: give the collector time to (not) act
    await files.wait_until(lambda: True)
    rows = await files.api.db.fetch("SELECT refs FROM file_blobs WHERE sha256 = %s", (sha,))
    assert rows == [(1,)]
    assert files.blob_exists(sha)
    assert (await files.download(member, second.id)).content == shared
    # an admin deletes the second one, blocking its hash on the way
    r = await files.client.delete(f"/api/admin/files/{second.id}?block_hash=true",
                                  headers=admin.auth)
    assert r.status_code == 200, r.text
    await files.wait_until(lambda: not files.blob_exists(sha))
    assert (await files.upload(member, space.channel_id, shared)).status_code == 403
    collected = await files.api.events(f"blob-{sha}")
    assert [e.type for e in collected] == ["BlobCollected"]


async def test_a_refused_upload_leaves_no_bytes_behind(files: FilesApi) -> None:
    """Over the quota at the command (the early check passed): its bytes were placed,
    then refused; they are removed at once, and no pin is left."""
    space = await files.space(members=1)
    member = space.members[0]
    for seed in range(4):  # 8 MiB of the 8 MiB quota (tests/files/conftest.py)
        await files.stored(member, space.channel_id, pdf(2 * MIB, seed=seed))
    blobs = files.blob_count()
    extra = pdf(1000, seed=99)
    r = await files.upload(member, space.channel_id, extra)
    assert (r.status_code, r.json()["code"]) == (422, "limit_reached")
    assert not files.blob_exists(hashlib.sha256(extra).hexdigest())
    assert files.blob_count() == blobs
    assert await files.api.db.fetch("SELECT count(*) FROM file_blob_pins") == [(0,)]


async def test_admin_list_and_storage_stats(files: FilesApi) -> None:
    space = await files.space(members=2)
    admin, alice, bob = space.owner, *space.members
    for user, user_sizes in ((alice, [100, 5000, 300]), (bob, [2000])):
        for i, size in enumerate(user_sizes):
            await files.stored(user, space.channel_id, pdf(size, seed=size + i))
    await files.stored(bob, space.channel_id, pdf(100, seed=100))  # same bytes as alice's
    head = {**admin.auth, "Chatalot-Min-Position": await files.api.head()}
    r = await files.client.get("/api/admin/files?limit=2&sort=largest", headers=head)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [f["size_bytes"] for f in page["items"]] == [5000, 2000]
    r = await files.client.get(f"/api/admin/files?limit=2&sort=largest&cursor="
                               f"{page['next_cursor']}", headers=head)
    assert [f["size_bytes"] for f in r.json()["items"]] == [300, 100]
    r = await files.client.get(f"/api/admin/files?user_id={bob.id}", headers=head)
    assert sorted(f["size_bytes"] for f in r.json()["items"]) == [100, 2000]
    assert r.json()["next_cursor"] is None
    r = await files.client.get("/api/admin/storage-stats", headers=head)
    stats = r.json()
    assert (stats["total_files"], stats["total_bytes"], stats["uploaders"]) == (
        5, 7500, 2)
    assert stats["stored_blobs"] == 4
    assert stats["stored_bytes"] == 7400
    assert stats["per_user"][0] == {"user_id": alice.id, "files": 3, "bytes": 5400}
    for bad in ("sort=oldest", "limit=0", "limit=101", "cursor=zzz", "user_id=x"):
        r = await files.client.get(f"/api/admin/files?{bad}", headers=head)
        assert r.status_code == 400, (bad, r.text)
    r = await files.client.get("/api/admin/storage-stats", headers=alice.auth)
    assert r.status_code == 403
