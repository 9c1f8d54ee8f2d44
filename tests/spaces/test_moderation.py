"""Moderation flows and refusals through HTTP: roles, kicks, bans, timeouts, warnings,
and the sender-key rotation a removal appends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from chatalot.domain.errors import DomainError
from chatalot.domain.spaces.permissions import require_post
from chatalot.spaces.access import load_channel_access
from tests.accounts.conftest import Api, User
from tests.spaces.builders import Space, SpacesBuilder


async def call(spaces: SpacesBuilder, method: str, path: str, user: User, body: Any = None
               ) -> Any:
    return await spaces.request(method, path, user, body)


async def types(api: Api, stream: str) -> list[str]:
    return [e.type for e in await api.events(stream)]


async def staffed(spaces: SpacesBuilder, root: User, members: int = 3) -> Space:
    """A community whose first member is a moderator, the second an admin."""
    space = await spaces.community_with_channel(members=members)
    await spaces.set_role(space.owner, space.community_id, space.members[0], "moderator")
    await spaces.set_role(space.owner, space.community_id, space.members[1], "admin")
    return space


async def test_channel_kick_ban_unban_and_rotation(api: Api, spaces: SpacesBuilder,
                                                    root: User) -> None:
    space = await staffed(spaces, root)
    mod, admin, member = space.members
    ch = space.channel_id
    # a moderator cannot act on an equal or higher role
    for target in (admin, space.owner):
        r = await call(spaces, "POST", f"/api/channels/{ch}/members/{target.id}/kick", mod)
        assert r.status_code == 403, r.text
    r = await call(spaces, "POST", f"/api/channels/{ch}/members/{member.id}/kick", mod,
                   {"reason": "spam"})
    assert r.status_code == 200, r.text
    events = await api.events(f"channel-{ch}")
    kicked, rotation = events[-2:]
    assert kicked.type == "ChannelMemberKicked" and rotation.type == "SenderKeyRotationRequired"
    assert (str(kicked.data.user_id), str(kicked.data.moderator_id), kicked.data.reason) == (
        member.id, mod.id, "spam")
    assert str(rotation.data.user_id) == member.id
    assert kicked.metadata.actor_id == mod.id
    # kicked: no access, may rejoin
    assert (await call(spaces, "GET", f"/api/channels/{ch}", member)).status_code == 403
    assert (await call(spaces, "POST", f"/api/channels/{ch}/join", member)).status_code == 200
    # banned: no access, may not rejoin until unbanned
    r = await call(spaces, "POST", f"/api/channels/{ch}/members/{member.id}/ban", mod)
    assert r.status_code == 200, r.text
    assert (await call(spaces, "GET", f"/api/channels/{ch}/sender-keys", member)).status_code == 403
    assert (await call(spaces, "POST", f"/api/channels/{ch}/join", member)).status_code == 403
    r = await call(spaces, "POST", f"/api/channels/{ch}/members/{member.id}/ban", mod)
    assert r.status_code == 409
    r = await call(spaces, "POST", f"/api/channels/{ch}/members/{member.id}/unban", member)
    assert r.status_code == 403
    r = await call(spaces, "POST", f"/api/channels/{ch}/members/{member.id}/unban", mod)
    assert r.status_code == 200
    assert (await call(spaces, "POST", f"/api/channels/{ch}/join", member)).status_code == 200


async def test_community_ban_removes_everything_at_once(api: Api, spaces: SpacesBuilder,
                                                        root: User) -> None:
    space = await staffed(spaces, root)
    mod, _, member = space.members
    cid, ch = space.community_id, space.channel_id
    r = await call(spaces, "POST", f"/api/communities/{cid}/bans/{member.id}", mod,
                   {"reason": "abuse"})
    assert r.status_code == 200, r.text
    assert (await call(spaces, "GET", f"/api/channels/{ch}", member)).status_code == 403
    assert (await call(spaces, "GET", f"/api/communities/{cid}", member)).status_code == 403
    assert (await call(spaces, "POST", f"/api/communities/{cid}/join", member)).status_code == 403
    code = await spaces.invite(space.owner, cid)
    r = await call(spaces, "POST", f"/api/community-invites/{code}/accept", member)
    assert r.status_code == 403
    assert "SenderKeyRotationRequired" in await types(api, f"channel-{ch}")
    assert "GroupMemberLeft" in await types(api, f"group-{space.group_id}")
    r = await api.client.get(f"/api/communities/{cid}/bans", headers=spaces.headers(mod))
    assert [b["user_id"] for b in r.json()["items"]] == [member.id]
    assert r.json()["items"][0]["reason"] == "abuse"
    assert (await call(spaces, "GET", f"/api/communities/{cid}/bans", member)).status_code == 403
    r = await call(spaces, "DELETE", f"/api/communities/{cid}/bans/{member.id}", mod)
    assert r.status_code == 200, r.text
    assert (await call(spaces, "POST", f"/api/communities/{cid}/join", member)).status_code == 200
    assert (await call(spaces, "GET", f"/api/channels/{ch}", member)).status_code == 200


async def test_roles_follow_the_ladder(api: Api, spaces: SpacesBuilder, root: User) -> None:
    space = await staffed(spaces, root)
    mod, admin, member = space.members
    cid = space.community_id
    path = f"/api/communities/{cid}/members/{{}}/role"
    # moderators give no roles; admins only below their own, to members below their own
    assert (await call(spaces, "PUT", path.format(member.id), mod,
                       {"role": "moderator"})).status_code == 403
    assert (await call(spaces, "PUT", path.format(member.id), admin,
                       {"role": "admin"})).status_code == 403
    assert (await call(spaces, "PUT", path.format(mod.id), admin,
                       {"role": "member"})).status_code == 200
    assert (await call(spaces, "PUT", path.format(space.owner.id), admin,
                       {"role": "member"})).status_code == 403
    assert (await call(spaces, "PUT", path.format(member.id), admin,
                       {"role": "owner"})).status_code == 400
    # the instance owner outranks the community owner
    assert (await call(spaces, "PUT", path.format(admin.id), root,
                       {"role": "member"})).status_code == 200
    # kick from the community; the kicked member may rejoin (public community)
    r = await call(spaces, "DELETE", f"/api/communities/{cid}/members/{member.id}", space.owner)
    assert r.status_code == 200, r.text
    # the community is public: still visible, but its channels are not
    assert (await call(spaces, "GET", f"/api/communities/{cid}", member)).status_code == 200
    assert (await call(spaces, "GET", f"/api/channels/{space.channel_id}", member)
            ).status_code == 403
    assert (await call(spaces, "POST", f"/api/communities/{cid}/join", member)).status_code == 200


async def test_timeouts_and_warnings(api: Api, spaces: SpacesBuilder, root: User) -> None:
    space = await staffed(spaces, root)
    mod, admin, member = space.members
    cid, ch = space.community_id, space.channel_id
    base = f"/api/communities/{cid}/channels/{ch}"
    r = await call(spaces, "POST", f"{base}/timeout", member,
                   {"user_id": mod.id, "duration_secs": 60})
    assert r.status_code == 403
    r = await call(spaces, "POST", f"{base}/timeout", mod,
                   {"user_id": member.id, "duration_secs": 60, "reason": "cool off"})
    assert r.status_code == 200, r.text
    event = (await api.events(f"channel-{ch}"))[-1]
    assert event.type == "UserTimedOut" and event.data.reason == "cool off"

    async def access_now() -> Any:
        async with await psycopg.AsyncConnection.connect(api.db.database_url) as conn:
            return await load_channel_access(conn, space.uuid(ch), space.uuid(member.id))

    access = await access_now()
    now = datetime.fromtimestamp(api.clock.now, UTC)
    assert access.timed_out_until is not None
    with pytest.raises(DomainError) as refused:
        require_post(access, now)
    assert refused.value.code == "timed_out"
    require_post(access, access.timed_out_until)  # the expiry needs no job
    r = await call(spaces, "DELETE", f"{base}/timeout/{member.id}", mod)
    assert r.status_code == 200, r.text
    assert (await access_now()).timed_out_until is None
    # warnings: counted and listed; moderators and the warned member may read them
    for reason in ("one", "two"):
        r = await call(spaces, "POST", f"{base}/warn", admin,
                       {"user_id": member.id, "reason": reason})
        assert r.status_code == 201, r.text
    r = await api.client.get(f"{base}/warnings/{member.id}", headers=spaces.headers(member))
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 2
    assert [w["reason"] for w in r.json()["items"]] == ["one", "two"]
    r = await call(spaces, "GET", f"{base}/warnings/{member.id}", space.members[0])
    assert r.status_code == 200
    other = await api.register()
    await spaces.join(other, cid)
    assert (await call(spaces, "GET", f"{base}/warnings/{member.id}", other)).status_code == 403
    assert (await call(spaces, "POST", f"{base}/warn", other,
                       {"user_id": member.id, "reason": "x"})).status_code == 403
