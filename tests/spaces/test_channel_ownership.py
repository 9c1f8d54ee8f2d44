"""Channel ownership over HTTP (docs/spaces.md): the creator, when a member of the group,
owns the channel; the owner transfers it to another member and becomes its admin; the
event names the acting user; an ownerless channel gets an owner from its admins."""

from __future__ import annotations

import uuid

from tests.accounts.conftest import Api, User
from tests.spaces.builders import SpacesBuilder
from tests.spaces.conftest import make_admin


async def roles(spaces: SpacesBuilder, viewer: User, channel: str) -> dict[str, str]:
    r = await spaces.request("GET", f"/api/channels/{channel}/members", viewer)
    assert r.status_code == 200, r.text
    return {m["user_id"]: m["role"] for m in r.json()["items"]}


async def test_the_creator_owns_the_channel_and_hands_it_on(
        api: Api, spaces: SpacesBuilder, root: User) -> None:
    space = await spaces.community_with_channel(members=2)
    owner, (alice, bob) = space.owner, space.members
    ch = space.channel_id
    path = f"/api/channels/{ch}/transfer-ownership"
    assert await roles(spaces, alice, ch) == {owner.id: "owner", alice.id: "member",
                                              bob.id: "member"}
    r = await spaces.request("POST", f"/api/channels/{ch}/leave", owner)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden"), r.text
    before = len(await api.events(f"channel-{ch}"))
    for caller, target, status in ((alice, bob.id, 403), (owner, owner.id, 400),
                                   (owner, str(uuid.uuid4()), 400)):
        r = await spaces.request("POST", path, caller, {"user_id": target})
        assert r.status_code == status, r.text
    assert len(await api.events(f"channel-{ch}")) == before  # refusals append nothing

    r = await spaces.request("POST", path, owner, {"user_id": alice.id})
    assert r.status_code == 200, r.text
    event = (await api.events(f"channel-{ch}"))[-1]
    assert event.type == "ChannelOwnershipTransferred"
    assert (event.data.user_id, event.data.previous_owner_id, event.data.by) == (
        uuid.UUID(alice.id), uuid.UUID(owner.id), uuid.UUID(owner.id))
    assert event.data.community_id == uuid.UUID(space.community_id)
    headers = {**spaces.headers(bob), "Chatalot-Min-Position": r.json()["position"]}
    r = await api.client.get(f"/api/channels/{ch}/members", headers=headers)
    assert {m["user_id"]: m["role"] for m in r.json()["items"]} == {
        owner.id: "admin", alice.id: "owner", bob.id: "member"}
    # the previous owner may leave now; the new one may hand it on
    r = await spaces.request("POST", f"/api/channels/{ch}/leave", owner)
    assert r.status_code == 200, r.text
    r = await spaces.request("POST", path, alice, {"user_id": bob.id})
    assert r.status_code == 200, r.text


async def test_an_ownerless_channel_gets_an_owner_from_its_admins(
        api: Api, spaces: SpacesBuilder, root: User) -> None:
    space = await spaces.community_with_channel(members=1)
    (member,) = space.members
    staff = await make_admin(api, root, await api.register())
    # instance staff create a channel in a group they are not in: nobody owns it
    r = await spaces.request("POST", f"/api/groups/{space.group_id}/channels", staff,
                             {"name": "ops"})
    assert r.status_code == 201, r.text
    ch = r.json()["id"]
    assert set((await roles(spaces, member, ch)).values()) == {"member"}
    path = f"/api/channels/{ch}/transfer-ownership"
    r = await spaces.request("POST", path, member, {"user_id": member.id})
    assert r.status_code == 403, r.text  # a member may not crown themself
    r = await spaces.request("POST", path, space.owner, {"user_id": member.id})
    assert r.status_code == 200, r.text
    event = (await api.events(f"channel-{ch}"))[-1]
    assert (event.data.previous_owner_id, event.data.by) == (None, uuid.UUID(space.owner.id))
    assert (await roles(spaces, member, ch))[member.id] == "owner"
    r = await spaces.request("POST", f"/api/channels/{ch}/transfer-ownership", space.owner,
                             {"user_id": space.owner.id})
    assert r.status_code == 403, r.text  # it has an owner now: only they hand it on
