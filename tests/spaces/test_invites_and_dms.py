"""Invites (uses, expiry, info, refusals), DMs (rules and refusals), the shared-community
visibility of users, limits and validation; and the races: concurrent accepts of one
invite and concurrent DM creations of one pair, sent really at once."""

from __future__ import annotations

from typing import Any

from tests.accounts.conftest import Api, User
from tests.spaces.builders import SpacesBuilder


async def test_invite_uses_expiry_and_info(api: Api, spaces: SpacesBuilder, root: User
                                           ) -> None:
    owner = await api.register()
    cid = await spaces.create_community(owner, "Private", public=False)
    await spaces.create_group(owner, cid)
    a, b, c = [await api.register() for _ in range(3)]
    r = await spaces.request("POST", f"/api/communities/{cid}/join", a)
    assert r.status_code == 403  # private: an invite is needed
    # members below the policy (moderator) may not create invites
    code = await spaces.invite(owner, cid, max_uses=1, expires_in_hours=1)
    r = await spaces.request("GET", f"/api/community-invites/{code}", a)
    assert r.status_code == 200, r.text
    assert r.json()["community_name"] == "Private" and r.json()["member_count"] == 1
    await spaces.accept(a, code)
    r = await spaces.request("POST", f"/api/communities/{cid}/invites", a, {})
    assert r.status_code == 403
    r = await spaces.request("POST", f"/api/community-invites/{code}/accept", b)
    assert r.status_code == 404  # used up
    code2 = await spaces.invite(owner, cid, expires_in_hours=1)
    r = await spaces.request("POST", f"/api/community-invites/{code2}/accept", a)
    assert r.status_code == 409  # already a member
    api.clock.advance(3601)
    for user in (owner, a, b, c):  # access tokens live shorter than that
        await api.relogin(user)
    r = await spaces.request("POST", f"/api/community-invites/{code2}/accept", b)
    assert r.status_code == 404  # expired
    for bad in ({"max_uses": 0}, {"expires_in_hours": 0}, {"expires_in_hours": 8761},
                {"max_uses": 1, "surprise": True}):
        r = await spaces.request("POST", f"/api/communities/{cid}/invites", owner, bad)
        assert r.status_code == 400, (bad, r.text)
    r = await spaces.request("GET", "/api/community-invites/nope", c)
    assert r.status_code == 404
    # the owner lists and deletes an invite; the code then stops working
    code3 = await spaces.invite(owner, cid)
    r = await spaces.request("GET", f"/api/communities/{cid}/invites", owner)
    listed = {i["code"]: i for i in r.json()}
    assert listed[code]["uses"] == 1 and code3 in listed
    r = await spaces.request(
        "DELETE", f"/api/communities/{cid}/invites/{listed[code3]['id']}", owner)
    assert r.status_code == 200, r.text
    r = await spaces.request("POST", f"/api/community-invites/{code3}/accept", c)
    assert r.status_code == 404
    # the joined member is in the community's public group and its channels
    r = await spaces.request("GET", "/api/groups", a)
    assert len(r.json()) == 1


async def test_concurrent_accepts_count_uses_exactly(api: Api, spaces: SpacesBuilder,
                                                     root: User) -> None:
    owner = await api.register()
    cid = await spaces.create_community(owner, public=False)
    code = await spaces.invite(owner, cid, max_uses=3)
    users = [await api.register() for _ in range(8)]
    replies = await api.concurrently(*(
        ("POST", f"/api/community-invites/{code}/accept", {"headers": u.auth})
        for u in users))
    statuses = sorted(r.status_code for r in replies)
    assert statuses == [200] * 3 + [404] * 5, [r.text for r in replies]
    rows = await api.db.fetch(
        "SELECT uses FROM spaces_invites WHERE code = %s", (code,))
    assert rows == [(3,)]
    members = await api.db.fetch(
        "SELECT count(*) FROM community_members WHERE community_id = %s", (cid,))
    assert members == [(4,)]
    used = [e for e in await api.events(f"community-{cid}") if e.type == "CommunityInviteUsed"]
    assert sorted(e.data.uses for e in used) == [1, 2, 3]


async def test_one_dm_per_pair_under_concurrent_creation(api: Api, spaces: SpacesBuilder,
                                                         root: User) -> None:
    space = await spaces.community_with_channel(members=2)
    a, b = space.members
    replies = await api.concurrently(*(
        ("POST", "/api/dms", {"headers": who.auth, "json": {"target_user_id": other.id}})
        for who, other in [(a, b), (b, a)] * 4))
    assert {r.status_code for r in replies} == {200}, [r.text for r in replies]
    channels = {r.json()["channel_id"] for r in replies}
    assert len(channels) == 1
    assert sum(r.json()["created"] for r in replies) == 1
    rows = await api.db.fetch("SELECT count(*) FROM spaces_channels WHERE kind = 'dm'")
    assert rows == [(1,)]
    channel = channels.pop()
    events = await api.events(f"channel-{channel}")
    assert [e.type for e in events] == ["DmChannelCreated"]


async def test_dm_rules(api: Api, spaces: SpacesBuilder, root: User) -> None:
    space = await spaces.community_with_channel(members=2)
    a, b = space.members
    stranger = await api.register()

    async def dm(who: User, other: Any) -> Any:
        return await spaces.request("POST", "/api/dms", who, {"target_user_id": other})

    assert (await dm(a, stranger.id)).status_code == 403  # no shared community
    assert (await dm(a, a.id)).status_code == 400
    assert (await dm(a, "0190e1e5-0000-7000-8000-000000000000")).status_code == 404
    assert (await dm(a, "not-a-uuid")).status_code == 400
    r = await dm(root, stranger.id)  # instance staff need no shared community
    assert r.status_code == 200 and r.json()["created"], r.text
    r = await spaces.request("POST", "/api/users/block", b, {"user_id": a.id})
    assert r.status_code == 200, r.text
    assert (await dm(a, b.id)).status_code == 403  # blocked (either way)
    assert (await dm(b, a.id)).status_code == 403
    r = await spaces.request("GET", "/api/dms", stranger)
    items = r.json()["items"]
    assert len(items) == 1 and items[0]["other_user"]["id"] == root.id
    assert items[0]["channel"]["kind"] == "dm" and items[0]["channel"]["e2e_required"]


async def test_users_who_share_a_community_see_each_other(api: Api, spaces: SpacesBuilder,
                                                          root: User) -> None:
    a = await api.register("visiblealice")
    b = await api.register("visiblebob")

    async def sees(viewer: User, user: User) -> bool:
        r = await spaces.request("GET", f"/api/users/{user.id}", viewer)
        found = await spaces.request("GET", f"/api/users/search?q={user.username}", viewer)
        listed = user.id in {u["id"] for u in found.json()}
        assert (r.status_code == 200) == listed, (r.status_code, listed)
        return listed

    assert not await sees(a, b)
    cid = await spaces.create_community(a)
    await spaces.join(b, cid)
    assert await sees(a, b) and await sees(b, a)
    r = await spaces.request("DELETE", f"/api/communities/{cid}/members/{b.id}", a)
    assert r.status_code == 200, r.text
    assert not await sees(a, b) and not await sees(b, a)


async def test_limits_names_and_settings(api: Api, spaces: SpacesBuilder, root: User
                                         ) -> None:
    owner = await api.register()
    member = await api.register()
    cid = await spaces.create_community(owner)
    await spaces.join(member, cid)
    for bad in ({"name": ""}, {"name": "x" * 65}, {"name": "ok", "public": "yes"}, {}):
        r = await spaces.request("POST", "/api/communities", owner, bad)
        assert r.status_code == 400, (bad, r.text)
    r = await spaces.request("POST", "/api/communities", owner, {"name": "   "})
    assert r.status_code == 400
    # groups: admins by default; the count limit is 200 per community
    r = await spaces.request("POST", "/api/groups", member, {"community_id": cid, "name": "g"})
    assert r.status_code == 403
    await api.db.fetch("UPDATE spaces_communities SET group_count = 199"
                       " WHERE community_id = %s RETURNING 1", (cid,))
    gid = await spaces.create_group(owner, cid, "last")
    r = await spaces.request("POST", "/api/groups", owner, {"community_id": cid, "name": "g"})
    assert (r.status_code, r.json()["code"]) == (422, "limit_reached")
    # channels: 100 per group
    for i in range(100):
        r = await spaces.request("POST", f"/api/groups/{gid}/channels", owner,
                                 {"name": f"c{i}", "kind": "voice" if i % 2 else "text"})
        assert r.status_code == 201, r.text
    r = await spaces.request("POST", f"/api/groups/{gid}/channels", owner, {"name": "one more"})
    assert (r.status_code, r.json()["code"]) == (422, "limit_reached")
    channel = (await spaces.request("GET", f"/api/groups/{gid}/channels", member)).json()[0]
    path = f"/api/channels/{channel['id']}"
    for bad in ({"slow_mode_secs": 3}, {"slow_mode_secs": 601}, {"name": ""}, {}):
        r = await spaces.request("PATCH", path, owner, bad)
        assert r.status_code == 400, (bad, r.text)
    assert (await spaces.request("PATCH", path, member, {"read_only": True})).status_code == 403
    r = await spaces.request("PATCH", path, owner, {"slow_mode_secs": 5, "read_only": True,
                                                    "topic": "news"})
    assert r.status_code == 200, r.text
    shown = (await spaces.request("GET", path, member)).json()
    assert (shown["slow_mode_secs"], shown["read_only"], shown["topic"]) == (5, True, "news")
