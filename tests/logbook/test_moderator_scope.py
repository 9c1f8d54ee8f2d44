"""Community moderators read their communities' part of the log only (issue 11 item 2): a
moderator of community A cannot see community B's streams, a DM, a user's account stream
or B's audit entries; a plain member reads nothing."""

from __future__ import annotations

from typing import Any

from tests.accounts.conftest import Api
from tests.spaces.builders import SpacesBuilder


async def test_a_moderator_sees_their_community_only(api: Api) -> None:
    staff = await api.register()  # the first account is the instance owner
    spaces = SpacesBuilder(api)
    a = await spaces.community_with_channel(members=3)
    b = await spaces.community_with_channel(members=1)
    moderator, target, other = a.members
    await spaces.set_role(a.owner, a.community_id, moderator, "moderator")
    r = await spaces.request("POST", f"/api/communities/{a.community_id}/bans/{target.id}",
                             moderator, {"reason": "spam in A"})
    assert r.status_code == 200, r.text
    r = await spaces.request("POST", f"/api/communities/{b.community_id}/bans/{b.members[0].id}",
                             b.owner, {"reason": "spam in B"})
    assert r.status_code == 200, r.text
    dm = await spaces.dm(moderator, other)

    async def get(path: str, user: Any = moderator, **params: Any) -> Any:
        return await api.client.get(path, params=params, headers=spaces.headers(user))

    # the raw log: A's community, group and channel streams, nothing else
    items = (await get("/api/admin/events", limit=500)).json()["items"]
    streams = {e["stream_id"] for e in items}
    assert {f"community-{a.community_id}", f"group-{a.group_id}",
            f"channel-{a.channel_id}"} <= streams
    assert {e["data"].get("community_id") for e in items} == {a.community_id}
    assert not any(s.startswith(("user-", "session-", "message-")) for s in streams)
    assert f"channel-{dm}" not in streams
    assert "CommunityMemberBanned" in {e["type"] for e in items}
    # staff see B and the DM too
    everything = (await get("/api/admin/events", staff, limit=500)).json()["items"]
    assert {f"community-{b.community_id}", f"channel-{dm}"} <= {
        e["stream_id"] for e in everything}
    # one stream: theirs, or 404 as if it did not exist
    assert (await get(f"/api/admin/streams/community-{a.community_id}")).status_code == 200
    for hidden in (f"community-{b.community_id}", f"channel-{b.channel_id}",
                   f"channel-{dm}", f"user-{moderator.id}", f"user-{staff.id}"):
        r = await get(f"/api/admin/streams/{hidden}")
        assert r.status_code == 404, (hidden, r.text)
    # filters cannot widen the scope
    assert (await get("/api/admin/events", stream=f"community-{b.community_id}")
            ).json()["items"] == []
    assert (await get("/api/admin/events", category="user")).json()["items"] == []
    # the audit log: A's moderation only
    audit = (await get("/api/admin/audit-log", limit=500)).json()["items"]
    assert audit and {e["community_id"] for e in audit} == {a.community_id}
    (ban,) = [e for e in audit if e["action"] == "CommunityMemberBanned"]
    assert (ban["actor_id"], ban["target_user_id"], ban["reason"]) == (
        moderator.id, target.id, "spam in A")
    staff_audit = (await get("/api/admin/audit-log", staff, limit=500)).json()["items"]
    assert b.community_id in {e["community_id"] for e in staff_audit}
    # a plain member and a member of B only: nothing
    for nobody in (other, b.members[0]):  # a member of A; someone banned from B
        for path in ("/api/admin/events", "/api/admin/audit-log",
                     f"/api/admin/streams/community-{a.community_id}"):
            r = await get(path, nobody)
            assert r.status_code == 403, (path, r.text)


async def test_a_quarantine_is_audited(api: Api) -> None:
    staff = await api.register()
    spaces = SpacesBuilder(api)
    a = await spaces.community_with_channel(members=1)
    r = await api.client.post(f"/api/channels/{a.channel_id}/messages", headers=a.owner.auth,
                              json={"ciphertext": "aGVsbG8=", "encryption": "none"})
    assert r.status_code == 201, r.text
    message = r.json()["id"]
    r = await api.client.post(f"/api/admin/messages/{message}/quarantine", headers=staff.auth,
                              json={"reason": "reported"})
    assert r.status_code == 200, r.text
    r = await api.client.get("/api/admin/audit-log", params={"action": "MessageQuarantined"},
                             headers={**staff.auth, "Chatalot-Min-Position": r.json()["position"]})
    (entry,) = r.json()["items"]
    assert (entry["actor_id"], entry["channel_id"], entry["reason"]) == (
        staff.id, a.channel_id, "reported")
