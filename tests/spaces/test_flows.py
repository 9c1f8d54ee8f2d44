"""Spaces flows through HTTP: communities, groups, channels, invites, DMs."""

from __future__ import annotations

from tests.accounts.conftest import Api
from tests.spaces.builders import SpacesBuilder


async def test_community_group_channel_and_members(api: Api, spaces: SpacesBuilder) -> None:
    space = await spaces.community_with_channel(members=2)
    owner, (m1, m2) = space.owner, space.members
    r = await api.client.get("/api/communities", headers=spaces.headers(m1))
    assert r.status_code == 200, r.text
    assert [c["id"] for c in r.json()] == [space.community_id]
    assert r.json()[0]["member_count"] == 3
    r = await api.client.get(f"/api/channels/{space.channel_id}/members",
                             headers=spaces.headers(m2))
    assert r.status_code == 200, r.text
    assert {m["user_id"] for m in r.json()["items"]} == {owner.id, m1.id, m2.id}
    r = await api.client.get(f"/api/communities/{space.community_id}/members",
                             headers=spaces.headers(m1))
    roles = {m["user_id"]: m["role"] for m in r.json()["items"]}
    assert roles == {owner.id: "owner", m1.id: "member", m2.id: "member"}
    r = await api.client.get("/api/channels", headers=spaces.headers(m1))
    assert [c["id"] for c in r.json()] == [space.channel_id]


async def test_invites_and_dms(api: Api, spaces: SpacesBuilder) -> None:
    space = await spaces.community_with_channel(members=2, via_invite=True)
    a, b = space.members
    first = await spaces.dm(a, b)
    again = await spaces.dm(b, a)
    assert first == again
    r = await api.client.get("/api/dms", headers=spaces.headers(b))
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [d["channel"]["id"] for d in items] == [first]
    assert items[0]["other_user"]["id"] == a.id


async def test_community_policies_and_settings(api: Api, spaces: SpacesBuilder) -> None:
    await api.register("root")  # the instance owner, out of the way
    space = await spaces.community_with_channel(members=2)
    admin, member = space.members
    cid = space.community_id
    await spaces.set_role(space.owner, cid, admin, "admin")
    assert (await spaces.request("POST", f"/api/communities/{cid}/invites", member, {})
            ).status_code == 403
    # only the owner sets policies; admins may change the rest
    r = await spaces.request("PATCH", f"/api/communities/{cid}", admin,
                             {"who_creates_invites": "member"})
    assert r.status_code == 403
    r = await spaces.request("PATCH", f"/api/communities/{cid}", admin,
                             {"welcome_message": "hi", "accent_color": "#00ff00"})
    assert r.status_code == 200, r.text
    r = await spaces.request("PATCH", f"/api/communities/{cid}", space.owner,
                             {"who_creates_invites": "member", "who_creates_groups": "member"})
    assert r.status_code == 200, r.text
    assert (await spaces.request("POST", f"/api/communities/{cid}/invites", member, {})
            ).status_code == 201
    assert (await spaces.request("POST", "/api/groups", member,
                                 {"community_id": cid, "name": "mine"})).status_code == 201
    shown = (await spaces.request("GET", f"/api/communities/{cid}", member)).json()
    assert (shown["welcome_message"], shown["accent_color"], shown["who_creates_groups"]) == (
        "hi", "#00ff00", "member")
    r = await spaces.request("PATCH", f"/api/communities/{cid}", space.owner,
                             {"accent_color": "green"})
    assert r.status_code == 400
    # ownership moves; the old owner becomes an admin and may then leave
    assert (await spaces.request("POST", f"/api/communities/{cid}/leave", space.owner)
            ).status_code == 403
    r = await spaces.request("POST", f"/api/communities/{cid}/transfer-ownership",
                             space.owner, {"user_id": member.id})
    assert r.status_code == 200, r.text
    members = (await spaces.request("GET", f"/api/communities/{cid}/members", member)).json()
    roles = {m["user_id"]: m["role"] for m in members["items"]}
    assert (roles[member.id], roles[space.owner.id]) == ("owner", "admin")
    assert (await spaces.request("POST", f"/api/communities/{cid}/leave", space.owner)
            ).status_code == 200
