"""A deleted account's communities and groups (docs/spaces.md, "A deleted account"): what
it owned passes, in the deletion's own transaction, to the highest-ranked remaining
member, the longest there first; a community left with no one is deleted."""

from __future__ import annotations

import uuid

from tests.accounts.conftest import Api, User
from tests.spaces.builders import SpacesBuilder


async def delete_account(api: Api, user: User) -> str:
    r = await api.client.request("DELETE", "/api/account/delete", headers=user.auth,
                                 json={"password": user.password})
    assert r.status_code == 200, r.text
    return str(r.json()["position"])


async def test_ownership_passes_to_the_highest_ranked_oldest_member(
        api: Api, spaces: SpacesBuilder, root: User) -> None:
    space = await spaces.community_with_channel(members=3)
    early, moderator, admin = space.members  # joined in this order
    cid, gid = space.community_id, space.group_id
    await spaces.set_role(space.owner, cid, moderator, "moderator")
    await spaces.set_role(space.owner, cid, admin, "admin")
    private = await spaces.create_group(space.owner, cid, "Back office", public=False)
    position = await delete_account(api, space.owner)

    owner = await api.db.fetch("SELECT owner_id FROM spaces_communities")
    assert owner == [(uuid.UUID(admin.id),)]  # admin outranks the older members
    groups = dict(await api.db.fetch("SELECT group_id, owner_id FROM spaces_groups"))
    # the public group's heir is its highest-ranked member; the private group had no
    # other member: it goes to the community's new owner
    assert groups == {uuid.UUID(gid): uuid.UUID(early.id),
                      uuid.UUID(private): uuid.UUID(admin.id)}
    events = await api.events(f"community-{cid}")
    transferred = [e for e in events if e.type == "CommunityOwnershipTransferred"][-1]
    assert (transferred.data.user_id, transferred.data.previous_owner_id,
            transferred.data.reason) == (uuid.UUID(admin.id), uuid.UUID(space.owner.id),
                                         "account_deleted")
    assert transferred.metadata.actor_id == space.owner.id
    assert events[-1].type == "CommunityMemberLeft"
    r = await api.client.get(f"/api/communities/{cid}/members", headers={
        **early.auth, "Chatalot-Min-Position": position})  # the read model caught up
    roles = {m["user_id"]: m["role"] for m in r.json()["items"]}
    assert roles == {early.id: "member", moderator.id: "moderator", admin.id: "owner"}
    # the heir can act as the owner at once: transfer on, and leave
    r = await spaces.request("POST", f"/api/communities/{cid}/transfer-ownership", admin,
                             {"user_id": moderator.id})
    assert r.status_code == 200, r.text


async def test_among_equals_the_longest_member_inherits(api: Api, spaces: SpacesBuilder,
                                                        root: User) -> None:
    space = await spaces.community_with_channel(members=2)
    first, _ = space.members
    await delete_account(api, space.owner)
    owner = await api.db.fetch("SELECT owner_id FROM spaces_communities")
    assert owner == [(uuid.UUID(first.id),)]
    assert (await api.db.fetch("SELECT owner_id FROM spaces_groups")) == [
        (uuid.UUID(first.id),)]


async def test_a_community_left_with_no_one_is_deleted(api: Api, spaces: SpacesBuilder,
                                                       root: User) -> None:
    space = await spaces.community_with_channel(members=1)
    (member,) = space.members
    r = await spaces.request("DELETE", f"/api/communities/{space.community_id}/members/"
                             f"{member.id}", space.owner)
    assert r.status_code == 200, r.text
    await delete_account(api, space.owner)
    assert await api.db.fetch("SELECT community_id FROM spaces_communities") == []
    assert await api.db.fetch("SELECT user_id FROM channel_members") == []
    assert (await api.events(f"community-{space.community_id}"))[-1].type == (
        "CommunityDeleted")
    r = await spaces.request("GET", f"/api/communities/{space.community_id}", member)
    assert r.status_code == 404, r.text
