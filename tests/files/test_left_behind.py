"""A deleted channel's files, a deleted community's, and a deleted account's uploads are
deleted (`FileDeleted` with a cause), as are a deleted account's, community's or group's
images (`MediaAssetRemoved`), and the collector then removes the bytes nothing else
references."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import psycopg

from tests.accounts.conftest import PASSWORD
from tests.files.conftest import FilesApi, pdf
from tests.files.images import jpeg_with_exif
from tests.files.test_collector import _node


async def records(files: FilesApi, where: str, value: str) -> int:
    rows = await files.api.db.fetch(
        f"SELECT count(*) FROM file_records WHERE {where} = %s", (value,))
    return int(rows[0][0])


async def causes(files: FilesApi) -> list[str]:
    rows = await files.api.db.fetch(
        "SELECT data->>'cause' FROM events WHERE type = 'FileDeleted' ORDER BY 1")
    return [r[0] for r in rows]


async def gone(files: FilesApi, where: str, value: str, *hashes: str) -> None:
    """The records go as soon as the collector read the deletion; the bytes a moment
    after (the next batch reads the FileDeleted)."""
    for _ in range(200):
        if await records(files, where, value) == 0 and not any(
                map(files.blob_exists, hashes)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"files of {where}={value} are still there")


async def test_a_deleted_channels_files_and_their_bytes_go(files: FilesApi) -> None:
    space = await files.space(members=1)
    other = await files.space(members=1)
    member = space.members[0]
    doomed = await files.stored(member, space.channel_id, pdf(5000, seed=1))
    owners = await files.stored(space.owner, space.channel_id, pdf(6000, seed=2))
    kept = await files.stored(other.members[0], other.channel_id, pdf(7000, seed=3))
    r = await files.client.delete(
        f"/api/groups/{space.group_id}/channels/{space.channel_id}", headers=space.owner.auth)
    assert r.status_code == 200, r.text
    await gone(files, "channel_id", space.channel_id, doomed.body["sha256"],
               owners.body["sha256"])
    assert files.blob_exists(kept.body["sha256"])
    got = await files.download(other.members[0], kept.id)
    assert got.status_code == 200
    assert await causes(files) == ["channel_deleted", "channel_deleted"]


async def test_a_deleted_communitys_files_go(files: FilesApi) -> None:
    space = await files.space(members=1)
    stored = await files.stored(space.members[0], space.channel_id, pdf(5000, seed=4))
    r = await files.client.delete(f"/api/communities/{space.community_id}",
                                  headers=space.owner.auth)
    assert r.status_code == 200, r.text
    await gone(files, "channel_id", space.channel_id, stored.body["sha256"])


async def test_a_deleted_accounts_uploads_go_and_shared_bytes_stay(files: FilesApi) -> None:
    space = await files.space(members=2)
    leaving, staying = space.members
    shared = pdf(5000, seed=5)
    mine = await files.stored(leaving, space.channel_id, pdf(6000, seed=6))
    await files.stored(leaving, space.channel_id, shared)
    theirs = await files.stored(staying, space.channel_id, shared)
    r = await files.client.request("DELETE", "/api/account/delete", headers=leaving.auth,
                                   json={"password": PASSWORD})
    assert r.status_code == 200, r.text
    await gone(files, "uploader_id", leaving.id, mine.body["sha256"])
    assert files.blob_exists(hashlib.sha256(shared).hexdigest())
    got = await files.download(staying, theirs.id)
    assert got.status_code == 200 and got.content == shared
    assert await causes(files) == ["account_deleted", "account_deleted"]
    usage: Any = await files.api.db.fetch(
        "SELECT bytes_used FROM file_usage WHERE user_id = %s", (leaving.id,))
    assert not usage or usage[0][0] == 0


async def test_the_sweep_deletes_files_no_event_reached(files: FilesApi) -> None:
    """An upload that committed after its uploader's deletion: no UserDeleted follows it,
    the sweep finds it. (Staged here by marking the account deleted after the upload.)"""
    space = await files.space(members=1)
    member = space.members[0]
    stored = await files.stored(member, space.channel_id, pdf(5000, seed=7))
    collector = await _node(files)
    assert await records(files, "uploader_id", member.id) == 1
    async with await psycopg.AsyncConnection.connect(
            files.api.db.database_url, autocommit=True) as conn:
        await conn.execute("UPDATE account_users SET status = 'deleted' WHERE user_id = %s",
                           (member.id,))
    await collector.sweep()
    assert await records(files, "uploader_id", member.id) == 0
    await gone(files, "uploader_id", member.id, stored.body["sha256"])


async def test_uploads_racing_the_channels_deletion_leave_nothing(files: FilesApi) -> None:
    space = await files.space(members=1)
    member = space.members[0]
    uploads = [("POST", "/api/files/upload", {"headers": member.auth, **files.form(
        space.channel_id, pdf(20_000, seed=10 + i))}) for i in range(4)]
    replies = await files.api.concurrently(*uploads[:2], (
        "DELETE", f"/api/groups/{space.group_id}/channels/{space.channel_id}",
        {"headers": space.owner.auth}), *uploads[2:])
    assert replies[2].status_code == 200, replies[2].text
    stored = [r.json()["sha256"] for r in replies if r.status_code == 201]
    assert {r.status_code for i, r in enumerate(replies) if i != 2} <= {201, 403, 404}
    await gone(files, "channel_id", space.channel_id, *stored)


async def media_events(files: FilesApi) -> list[tuple[str, str, str]]:
    rows = await files.api.db.fetch(
        "SELECT data->>'owner_kind', data->>'purpose', data->>'cause' FROM events"
        " WHERE type = 'MediaAssetRemoved' ORDER BY 1, 2")
    return [tuple(r) for r in rows]


async def media_hashes(files: FilesApi, owner_id: str) -> list[str]:
    rows = await files.api.db.fetch(
        "SELECT sha256 FROM media_assets WHERE owner_id = %s", (owner_id,))
    return [r[0] for r in rows]


async def unreachable(files: FilesApi, urls: list[str], hashes: list[str]) -> None:
    """The URLs answer 404 as soon as the collector read the deletion; the bytes go a
    moment after (the next batch reads the MediaAssetRemoved)."""
    for _ in range(200):
        served = [(await files.client.get(url)).status_code for url in urls]
        if set(served) == {404} and not any(map(files.blob_exists, hashes)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{urls} are still served or stored")


async def test_a_deleted_accounts_avatar_and_banner_go(files: FilesApi) -> None:
    staying = await files.api.register()  # the first account owns the instance
    leaving = await files.api.register()
    urls = []
    for route, size in (("avatar", (300, 200)), ("banner", (900, 300))):
        r = await files.client.post(f"/api/account/{route}", headers=leaving.auth,
                                    files={"file": ("a.jpg", jpeg_with_exif(size))})
        assert r.status_code == 200, r.text
        urls.append(r.json()["url"])
    r = await files.client.post("/api/account/avatar", headers=staying.auth,
                                files={"file": ("b.jpg", jpeg_with_exif((310, 200)))})
    kept = r.json()["url"]
    hashes = await media_hashes(files, leaving.id)
    assert len(hashes) == 2 and all(map(files.blob_exists, hashes))
    assert {(await files.client.get(url)).status_code for url in urls} == {200}
    r = await files.client.request("DELETE", "/api/account/delete", headers=leaving.auth,
                                   json={"password": PASSWORD})
    assert r.status_code == 200, r.text
    await unreachable(files, urls, hashes)
    assert await media_hashes(files, leaving.id) == []
    assert await media_events(files) == [("user", "avatar", "account_deleted"),
                                         ("user", "banner", "account_deleted")]
    assert (await files.client.get(kept)).status_code == 200


async def test_a_deleted_communitys_and_groups_images_go(files: FilesApi) -> None:
    space = await files.space(members=1)
    other = await files.space(members=1)
    image = {"file": ("icon.png", jpeg_with_exif((800, 800)))}
    urls = {}
    for name, route in (("community", f"/api/communities/{space.community_id}/icon"),
                        ("group", f"/api/groups/{space.group_id}/banner"),
                        ("other", f"/api/groups/{other.group_id}/icon")):
        r = await files.client.post(route, headers=(other if name == "other" else space
                                                    ).owner.auth, files=image)
        assert r.status_code == 200, r.text
        urls[name] = r.json()["url"]
    r = await files.client.delete(f"/api/communities/{space.community_id}",
                                  headers=space.owner.auth)
    assert r.status_code == 200, r.text
    # the same picture stays stored for the other group's icon (content-addressed)
    await unreachable(files, [urls["community"], urls["group"]], [])
    assert (await files.client.get(urls["other"])).status_code == 200
    assert await media_events(files) == [("community", "icon", "community_deleted"),
                                         ("group", "banner", "community_deleted")]
    await files.wait_until(lambda: files.blob_count() == 1)


async def test_the_sweep_removes_images_no_event_reached(files: FilesApi) -> None:
    await files.api.register()  # the instance's owner
    user = await files.api.register()
    r = await files.client.post("/api/account/avatar", headers=user.auth,
                                files={"file": ("a.jpg", jpeg_with_exif((300, 200)))})
    url = r.json()["url"]
    hashes = await media_hashes(files, user.id)
    collector = await _node(files)
    async with await psycopg.AsyncConnection.connect(
            files.api.db.database_url, autocommit=True) as conn:
        await conn.execute("UPDATE account_users SET status = 'deleted' WHERE user_id = %s",
                           (user.id,))
    await collector.sweep()
    assert await media_hashes(files, user.id) == []
    await unreachable(files, [url], hashes)
    assert await media_events(files) == [("user", "avatar", "account_deleted")]
