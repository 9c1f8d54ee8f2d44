"""Who may fetch a bundle (docs/keys.md): only someone who may open a DM with its owner
(instance staff, a shared community, or an existing DM between them), decided through the
spaces port in the fetch's own transaction. Built over HTTP with the spaces builder."""

from __future__ import annotations

from tests.keys.conftest import KeysApi
from tests.spaces.builders import SpacesBuilder


async def test_only_those_who_may_open_a_dm_fetch_a_bundle(kapi: KeysApi) -> None:
    root = await kapi.register("root")  # the first user: the instance owner (staff)
    alice = await kapi.register("alice")
    stranger = await kapi.api.register("stranger")  # in no community
    drifter = await kapi.api.register("drifter")
    spaces = SpacesBuilder(kapi.api)
    before = await kapi.count(alice)

    for caller, owner in ((stranger, alice.id), (alice, stranger.id)):
        r = await kapi.bundle(caller, owner)
        assert (r.status_code, r.json()["code"]) == (403, "forbidden"), r.text
    assert await kapi.count(alice) == before  # a refusal claims no prekey
    assert not [e for e in await kapi.events(f"keys-{alice.id}")
                if e.type == "OneTimePrekeyClaimed"]
    assert (await kapi.bundle(root, stranger.id)).status_code == 200  # staff
    assert (await kapi.bundle(stranger, stranger.id)).status_code == 200  # one's own

    community = await spaces.create_community(alice, public=True)
    await spaces.join(stranger, community)
    await spaces.join(drifter, community)
    assert (await kapi.bundle(stranger, alice)).status_code == 200
    assert (await kapi.bundle(alice, stranger.id)).status_code == 200
    assert (await kapi.bundle(drifter, alice)).status_code == 200

    await spaces.dm(stranger, alice)
    r = await kapi.client.post(f"/api/communities/{community}/leave", headers=stranger.auth)
    assert r.status_code == 200, r.text
    assert (await kapi.bundle(stranger, alice)).status_code == 200  # their DM remains

    r = await kapi.client.delete(f"/api/communities/{community}/members/{drifter.id}",
                                 headers=alice.auth)
    assert r.status_code == 200, r.text
    r = await kapi.bundle(drifter, alice)  # a kick counts at once
    assert (r.status_code, r.json()["code"]) == (403, "forbidden"), r.text
