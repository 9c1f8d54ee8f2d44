"""The log is the truth: the announcement read models rebuilt from position 0 hold and
answer exactly what the live ones did, after publications, dismissals (a repeated one
included) and the deletion of an account that had dismissed some."""

from __future__ import annotations

from typing import Any

from tests.accounts.conftest import Api
from tests.announcements.conftest import Cast, dismiss, listed, publish
from tests.keys.conftest import KeysApi
from tests.keys.test_rebuild_equals_live import _active_builds, _settled, _views

READ_MODELS = {"announcements", "announcement_dismissals"}


async def _answers(api: Api, cast: Cast, head: str) -> dict[str, Any]:
    answers = {name: await listed(api, user, head) for name, user in (
        ("owner", cast.owner), ("admin", cast.admin), ("alice", cast.alice))}
    answers["all"] = await listed(api, cast.owner, head, "/api/admin/announcements")
    assert answers["all"] and answers["owner"]
    return answers


async def test_rebuilt_announcements_answer_the_same(api: Api, cast: Cast) -> None:
    a, b, c = [await publish(api, who, f"title {i}", f"body {i}")
               for i, who in enumerate((cast.owner, cast.admin, cast.owner))]
    for user, announcement in ((cast.alice, a), (cast.alice, b), (cast.alice, b),
                               (cast.admin, c), (cast.bob, a), (cast.owner, b)):
        r = await dismiss(api, user, announcement["id"])
        assert r.status_code == 200, r.text
    r = await api.client.delete(f"/api/admin/users/{cast.bob.id}", headers=cast.owner.auth)
    assert r.status_code == 200, r.text
    head = await api.head()

    kapi = KeysApi(api)
    await _settled(kapi, cast.owner.auth, at=head, after={})
    live = await _views(api.db.database_url, READ_MODELS)
    assert set(live) == READ_MODELS and all(live.values()), live
    assert not [row for row in live["announcement_dismissals"] if str(row[1]) == cast.bob.id]
    live_answers = await _answers(api, cast, head)
    assert [x["id"] for x in live_answers["alice"]] == [c["id"]]

    before = await _active_builds(api.db.database_url)
    r = await api.client.post("/api/admin/projections/announcements/rebuild",
                              headers=cast.owner.auth)
    assert (r.status_code, r.json()["requested"]) == (202, True), r.text
    await _settled(kapi, cast.owner.auth, at=head,
                   after={"announcements": before["announcements"]})
    assert await _views(api.db.database_url, READ_MODELS) == live
    assert await _answers(api, cast, head) == live_answers
