"""Announcements through HTTP: publish, list newest first, dismiss per user, the admin
list, and what the log records."""

from __future__ import annotations

import uuid

from tests.accounts.conftest import Api
from tests.announcements.conftest import Cast, dismiss, listed, publish


async def test_publish_list_and_dismiss_per_user(api: Api, cast: Cast) -> None:
    first = await publish(api, cast.owner, "First", "one")
    second = await publish(api, cast.admin, "Second", "two")
    assert (second["title"], second["body"], second["created_by"]) == (
        "Second", "two", cast.admin.id)
    assert second["created_at"].endswith("Z")

    mine = await listed(api, cast.alice, second["position"])
    assert [a["id"] for a in mine] == [second["id"], first["id"]]  # newest first
    assert mine[0] == second  # the list shows exactly what the publish answered

    r = await dismiss(api, cast.alice, second["id"])
    assert r.status_code == 200, r.text
    position = r.json()["position"]
    assert r.json()["id"] == second["id"] and position
    assert [a["id"] for a in await listed(api, cast.alice, position)] == [first["id"]]
    # bob's list is his own
    assert [a["id"] for a in await listed(api, cast.bob, position)] == [
        second["id"], first["id"]]
    # staff see every announcement, dismissed or not, with who published it
    every = await listed(api, cast.owner, position, "/api/admin/announcements")
    assert [(a["id"], a["created_by"]) for a in every] == [
        (second["id"], cast.admin.id), (first["id"], cast.owner.id)]

    events = await api.events(f"announcement-{second['id']}-dismissed-{cast.alice.id}")
    assert [(e.type, str(e.data.user_id)) for e in events] == [
        ("AnnouncementDismissed", cast.alice.id)]
    published = await api.events(f"announcement-{second['id']}")
    assert [e.type for e in published] == ["AnnouncementPublished"]
    assert published[0].metadata.actor_id == cast.admin.id


async def test_dismissing_twice_changes_nothing(api: Api, cast: Cast) -> None:
    a = await publish(api, cast.owner)
    first = await dismiss(api, cast.alice, a["id"])
    again = await dismiss(api, cast.alice, a["id"])
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["position"] and again.json()["position"] is None
    assert len(await api.events(f"announcement-{a['id']}-dismissed-{cast.alice.id}")) == 1
    assert await listed(api, cast.alice, first.json()["position"]) == []


async def test_dismissing_an_unknown_announcement_is_404(api: Api, cast: Cast) -> None:
    r = await dismiss(api, cast.alice, str(uuid.uuid4()))
    assert (r.status_code, r.json()["code"]) == (404, "not_found")


async def test_nothing_published_lists_nothing(api: Api, cast: Cast) -> None:
    assert await listed(api, cast.alice) == []
    assert await listed(api, cast.owner, path="/api/admin/announcements") == []


async def test_a_revoked_admin_may_no_longer_publish(api: Api, cast: Cast) -> None:
    """The staff check reads the account's current state, not only the token's claim."""
    r = await api.client.put(f"/api/admin/users/{cast.admin.id}/admin",
                             json={"is_admin": False}, headers=cast.owner.auth)
    assert r.status_code == 200, r.text
    r = await api.client.post("/api/admin/announcements", headers=cast.admin.auth,
                              json={"title": "t", "body": "b"})
    assert r.status_code == 403, r.text
