"""The files read models rebuilt from the log answer exactly as the live ones did, after
a flow that touches them all (uploads, a deletion, quarantine, blocked hashes, a refused
upload, avatars replaced, a deleted account's avatar removed)."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from tests.accounts.conftest import PASSWORD
from tests.files.conftest import FilesApi, pdf
from tests.files.images import jpeg_with_exif, png_with_text
from tests.keys.test_rebuild_equals_live import _active_builds, _settled, _views

OURS = ("files", "blocked_hashes", "media_assets")


async def _answers(files: FilesApi, admin: Any, member: Any, file_ids: list[str]
                   ) -> dict[str, Any]:
    get = files.client.get
    reads = {
        "list": get("/api/admin/files?limit=100", headers=admin.auth),
        "largest": get("/api/admin/files?sort=largest&limit=2", headers=admin.auth),
        "stats": get("/api/admin/storage-stats", headers=admin.auth),
        "blocked": get("/api/admin/blocked-hashes", headers=admin.auth),
        **{f"meta-{i}": get(f"/api/files/{i}/meta", headers=member.auth) for i in file_ids},
    }
    answers: dict[str, Any] = {}
    for name, request in reads.items():
        r = await request
        assert r.status_code == 200, (name, r.text)
        answers[name] = r.json()
        assert answers[name], name
    return answers


async def test_files_read_models_rebuilt_from_the_log_answer_the_same(files: FilesApi
                                                                      ) -> None:
    space = await files.space(members=2)
    admin, alice, bob = space.owner, *space.members
    kept = [await files.stored(alice, space.channel_id, pdf(1000 + i, seed=i))
            for i in range(3)]
    kept.append(await files.stored(bob, space.channel_id, jpeg_with_exif(), "me.jpg"))
    gone = await files.stored(bob, space.channel_id, pdf(50, seed=50))
    assert (await files.client.delete(f"/api/files/{gone.id}", headers=bob.auth)
            ).status_code == 200
    assert (await files.client.post(f"/api/admin/files/{kept[0].id}/quarantine",
                                    headers=admin.auth, json={"reason": "x"})
            ).status_code == 200
    blocked = pdf(70, seed=70)
    r = await files.client.post("/api/admin/blocked-hashes", headers=admin.auth, json={
        "sha256": hashlib.sha256(blocked).hexdigest(), "reason": "abuse"})
    assert r.status_code == 201
    assert (await files.upload(alice, space.channel_id, blocked)).status_code == 403
    r = await files.client.post("/api/admin/blocked-hashes", headers=admin.auth,
                                json={"sha256": "b" * 64})
    assert (await files.client.delete(f"/api/admin/blocked-hashes/{r.json()['id']}",
                                      headers=admin.auth)).status_code == 200
    for image in (jpeg_with_exif(), png_with_text()):
        r = await files.client.post("/api/account/avatar", headers=alice.auth,
                                    files={"file": ("a", image)})
        assert r.status_code == 200, r.text
    carol = await files.api.register()  # her avatar goes with her account
    r = await files.client.post("/api/account/avatar", headers=carol.auth,
                                files={"file": ("c", jpeg_with_exif((90, 60)))})
    assert r.status_code == 200, r.text
    r = await files.client.request("DELETE", "/api/account/delete", headers=carol.auth,
                                   json={"password": PASSWORD})
    assert r.status_code == 200, r.text
    for _ in range(200):
        if await files.api.db.fetch("SELECT 1 FROM events WHERE type = 'MediaAssetRemoved'"):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the collector did not remove the deleted account's avatar")
    head = await files.api.head()

    await _settled(files, admin.auth, at=head, after={})
    live = {k: v for k, v in (await _views(files.api.db.database_url, OURS)).items()
            if k in OURS}
    assert set(live) == set(OURS)
    assert all(live.values()), live
    ids = [f.id for f in kept]
    live_answers = await _answers(files, admin, alice, ids)

    before = await _active_builds(files.api.db.database_url)
    for name in OURS:
        r = await files.client.post(f"/api/admin/projections/{name}/rebuild",
                                    headers=admin.auth)
        assert (r.status_code, r.json()["requested"]) == (202, True), r.text
    await _settled(files, admin.auth, at=head,
                   after={k: v for k, v in before.items() if k in OURS})
    rebuilt = {k: v for k, v in (await _views(files.api.db.database_url, OURS)).items()
               if k in OURS}
    for name in OURS:
        assert rebuilt[name] == live[name], name
    assert await _answers(files, admin, alice, ids) == live_answers
