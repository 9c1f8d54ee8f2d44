"""Races sent really at once (Api.concurrently): the same dismissal many times records one
event; dismissals by many users of one announcement all land; publications at once each
get their own announcement."""

from __future__ import annotations

from event_store import Position
from tests.accounts.conftest import Api
from tests.announcements.conftest import Cast, listed, publish


async def test_the_same_dismissal_at_once_records_one_event(api: Api, cast: Cast) -> None:
    a = await publish(api, cast.owner)
    path = f"/api/announcements/{a['id']}/dismiss"
    replies = await api.concurrently(*[("POST", path, {"headers": cast.alice.auth})] * 8)
    assert [r.status_code for r in replies] == [200] * 8, [r.text for r in replies]
    positions = [r.json()["position"] for r in replies if r.json()["position"]]
    assert len(positions) == 1, [r.json() for r in replies]
    assert len(await api.events(f"announcement-{a['id']}-dismissed-{cast.alice.id}")) == 1
    assert await listed(api, cast.alice, positions[0]) == []
    assert await api.db.fetch(
        "SELECT count(*) FROM dismissed_announcements WHERE announcement_id = %s",
        (a["id"],)) == [(1,)]


async def test_many_users_dismiss_one_announcement_at_once(api: Api, cast: Cast) -> None:
    a = await publish(api, cast.owner)
    users = [cast.owner, cast.admin, cast.alice, cast.bob]
    replies = await api.concurrently(*[
        ("POST", f"/api/announcements/{a['id']}/dismiss", {"headers": u.auth}) for u in users])
    assert [r.status_code for r in replies] == [200] * 4, [r.text for r in replies]
    assert all(r.json()["position"] for r in replies)
    head = await api.head()
    for u in users:
        assert await listed(api, u, head) == []


async def test_publications_at_once_are_all_kept(api: Api, cast: Cast) -> None:
    replies = await api.concurrently(*[
        ("POST", "/api/admin/announcements",
         {"headers": cast.owner.auth, "json": {"title": f"t{i}", "body": "b"}})
        for i in range(6)])
    assert [r.status_code for r in replies] == [201] * 6, [r.text for r in replies]
    mine = await listed(api, cast.bob, await api.head())
    assert sorted(a["title"] for a in mine) == [f"t{i}" for i in range(6)]
    # newest first is log order
    positions = [Position.parse(a["position"]) for a in mine]
    assert positions == sorted(positions, reverse=True)
