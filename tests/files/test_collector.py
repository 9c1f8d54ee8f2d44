"""The collector against uploads of the same content, and against other collectors (as
other nodes run them), raced for real: no upload ever loses its bytes, and a blob is
collected once."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import httpx

from chatalot.files.collector import BlobCollector
from chatalot.files.runtime import FileLimits, FilesRuntime
from chatalot.files.scanning import ImageWorkers
from chatalot.files.storage import LocalBlobStorage
from tests.files.conftest import FilesApi, pdf


async def _node(files: FilesApi) -> BlobCollector:
    """A collector as another node would run it: its own pool and store, same database
    and same (shared) blob directory."""
    store = await files.api.db.store()
    rt = FilesRuntime(store=store, pool=store.pool,
                      storage=LocalBlobStorage(Path(files.api.settings.data_dir) / "files"),
                      workers=ImageWorkers(1), limits=FileLimits(1, 0, 1),
                      public_url="", clock=files.api.clock)
    return BlobCollector(rt)


def _in_the_app(files: FilesApi, auth: dict[str, str], form: dict[str, Any]
                ) -> httpx.Response:
    """One upload on the app's own event loop, from a thread: this test's loop stays free
    to run the collectors meanwhile."""
    app = files.client.app

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport,
                                     base_url="http://testserver.local") as client:
            return await client.post("/api/files/upload", headers=auth, **form)

    return files.client.blocking_portal.call(send)


async def test_uploads_racing_collectors_never_lose_their_bytes(files: FilesApi) -> None:
    space = await files.space(members=1)
    user = space.members[0]
    collectors = [await _node(files), await _node(files)]
    for round_ in range(4):
        data = pdf(30_000, seed=round_)
        sha = hashlib.sha256(data).hexdigest()
        first = await files.stored(user, space.channel_id, data)
        r = await files.client.delete(f"/api/files/{first.id}", headers=user.auth)
        assert r.status_code == 200
        # the same content uploaded again while two collectors try to remove it
        upload = asyncio.create_task(asyncio.to_thread(
            _in_the_app, files, user.auth, files.form(space.channel_id, data)))

        async def collect(collector: BlobCollector, upload: Any = upload, sha: str = sha
                          ) -> None:
            while not upload.done():
                await collector.try_collect(sha)
                await collector.collect_once()
                await asyncio.sleep(0)

        await asyncio.gather(*(collect(c) for c in collectors))
        reply = await upload
        assert reply.status_code == 201, reply.text
        again = reply.json()["id"]
        got = await files.download(user, again)
        assert (got.status_code, got.content) == (200, data), round_
        rows = await files.api.db.fetch("SELECT refs FROM file_blobs WHERE sha256 = %s",
                                        (sha,))
        assert rows == [(1,)]
        # each collection of the blob is recorded once, whoever did it
        collected = await files.api.events(f"blob-{sha}")
        assert len(collected) <= 1


async def test_a_pin_committed_while_the_collector_waits_for_the_row_is_seen(
        files: FilesApi) -> None:
    """An upload pins a released blob while a collector waits for the blob's row: the
    collector must see the pin once the row is its own, and leave the blob. (A pin check
    inside the locking statement was rechecked against that statement's older snapshot,
    which missed the pin: the collector removed the row under the upload, which then
    referenced a blob with no row, whose bytes could be gone.)"""
    space = await files.space(members=1)
    user = space.members[0]
    data = pdf(5_000, seed=42)
    sha = hashlib.sha256(data).hexdigest()
    first = await files.stored(user, space.channel_id, data)
    r = await files.client.delete(f"/api/files/{first.id}", headers=user.auth)
    assert r.status_code == 200
    collector = await _node(files)
    pinning = await files.api.db.store()
    async with pinning.pool.connection() as conn:
        await conn.execute("BEGIN")  # an upload's pin_blobs, held open
        await conn.execute("UPDATE file_blobs SET size_bytes = size_bytes WHERE sha256 = %s",
                           (sha,))
        await conn.execute("INSERT INTO file_blob_pins (pin_id, sha256, expires_at)"
                           " VALUES (gen_random_uuid(), %s, now() + interval '1 hour')",
                           (sha,))
        collecting = asyncio.create_task(collector.try_collect(sha))
        for _ in range(500):  # until the collector waits for the row
            rows = await files.api.db.fetch(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'")
            if rows[0][0]:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the collector never waited for the row")
        await conn.execute("COMMIT")
    assert await collecting == 0
    rows = await files.api.db.fetch("SELECT refs FROM file_blobs WHERE sha256 = %s", (sha,))
    assert rows == [(0,)]  # released, pinned: kept
    assert await collector.rt.storage.exists(sha)


async def test_two_nodes_collect_a_released_blob_once(files: FilesApi) -> None:
    space = await files.space(members=1)
    user = space.members[0]
    stored = [await files.stored(user, space.channel_id, pdf(1000, seed=i))
              for i in range(3)]
    for item in stored:
        r = await files.client.delete(f"/api/files/{item.id}", headers=user.auth)
        assert r.status_code == 200
    nodes = [await _node(files) for _ in range(3)]
    await asyncio.gather(*(n.collect_once() for n in nodes), *(n.sweep() for n in nodes))
    await files.wait_until(lambda: files.blob_count() == 0)
    for item in stored:
        events = await files.api.events(f"blob-{item.body['sha256']}")
        assert [e.type for e in events] == ["BlobCollected"]
