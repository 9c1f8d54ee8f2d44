"""The spaces read model dropped and rebuilt from the log answers exactly as the live one:
every table (through the read_models views) and every list query, in order. The flow
touches every event type that the projector handles."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from event_store import Position
from tests.accounts.conftest import Api, User
from tests.keys.test_rebuild_equals_live import _active_builds, _views
from tests.spaces.builders import SpacesBuilder

SPACE_MODELS = {"space_communities", "space_community_members", "space_community_bans",
                "space_invites", "space_groups", "space_group_members", "space_channels",
                "space_channel_members", "space_channel_bans", "space_timeouts",
                "space_warnings"}


async def _settled(api: Api, root: User, at: str, not_build: int | None) -> None:
    target = Position.parse(at)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = await api.client.get("/api/admin/projections", headers=root.auth)
        item = next(i for i in r.json() if i["name"] == "spaces")
        build = (await _active_builds(api.db.database_url))["spaces"]
        if (item["state"] == "live" and item["position"]
                and Position.parse(item["position"]) >= target and build != not_build):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the spaces projection did not settle")


async def test_spaces_rebuilt_from_the_log_answers_the_same(api: Api, spaces: SpacesBuilder,
                                                           root: User) -> None:
    b = spaces
    space = await b.community_with_channel(members=4)
    owner, (mod, admin, m3, m4) = space.owner, space.members
    cid, gid, ch = space.community_id, space.group_id, space.channel_id

    async def ok(method: str, path: str, user: User, body: Any = None,
                 status: int = 200) -> Any:
        r = await b.request(method, path, user, body)
        assert r.status_code == status, (path, r.text)
        return r.json()

    await b.set_role(owner, cid, mod, "moderator")
    await b.set_role(owner, cid, admin, "admin")
    await ok("PATCH", f"/api/communities/{cid}", owner,
             {"description": "about", "discoverable": True, "accent_color": "#112233"})
    await ok("PUT", f"/api/communities/{cid}/members/{m3.id}/nickname", m3, {"nickname": "m"})
    code = await b.invite(owner, cid, max_uses=5)
    dead = await ok("POST", f"/api/communities/{cid}/invites", owner, {}, 201)
    await ok("DELETE", f"/api/communities/{cid}/invites/{dead['id']}", owner)
    newcomer = await api.register()
    await b.accept(newcomer, code)
    await ok("PATCH", f"/api/groups/{gid}", owner, {"description": "g"})
    voice = await b.create_channel(owner, gid, "voice", kind="voice")
    await ok("PATCH", f"/api/channels/{ch}", admin, {"topic": "t", "slow_mode_secs": 30})
    await ok("PATCH", f"/api/channels/{ch}/members/{m4.id}/role", admin, {"role": "moderator"})
    await ok("POST", f"/api/channels/{voice}/members/{m3.id}/ban", mod, {"reason": "r"})
    await ok("POST", f"/api/channels/{ch}/members/{newcomer.id}/kick", mod, {})
    await ok("POST", f"/api/communities/{cid}/channels/{ch}/timeout", mod,
             {"user_id": m3.id, "duration_secs": 600, "reason": "t"})
    await ok("POST", f"/api/communities/{cid}/channels/{ch}/warn", mod,
             {"user_id": m3.id, "reason": "w"}, 201)
    private = await b.create_group(owner, cid, "private", public=False)
    ginvite = await ok("POST", f"/api/groups/{private}/invites", owner, {}, 201)
    await ok("POST", f"/api/group-invites/{ginvite['code']}/accept", m4)
    await ok("POST", f"/api/groups/{private}/leave", m4)
    doomed = await b.create_group(owner, cid, "doomed")
    await b.create_channel(owner, doomed)
    await ok("DELETE", f"/api/groups/{doomed}", owner)
    tmp = await b.create_channel(owner, gid, "tmp")
    await ok("DELETE", f"/api/groups/{gid}/channels/{tmp}", owner)
    await ok("POST", f"/api/communities/{cid}/bans/{m4.id}", admin, {"reason": "b"})
    banned_twice = await api.register()
    await b.join(banned_twice, cid)
    await ok("POST", f"/api/communities/{cid}/bans/{banned_twice.id}", admin)
    await ok("DELETE", f"/api/communities/{cid}/bans/{banned_twice.id}", admin)
    await ok("POST", f"/api/channels/{ch}/transfer-ownership", owner, {"user_id": mod.id})
    await ok("POST", f"/api/communities/{cid}/transfer-ownership", owner, {"user_id": admin.id})
    await ok("POST", f"/api/communities/{cid}/leave", owner)
    other = await b.create_community(newcomer, "second", public=True)
    await ok("DELETE", f"/api/communities/{other}", newcomer)
    await b.dm(mod, newcomer)

    async def answers() -> dict[str, Any]:
        reads = {
            "communities": ("/api/communities", mod),
            "community": (f"/api/communities/{cid}", mod),
            "members": (f"/api/communities/{cid}/members?limit=2", mod),
            "bans": (f"/api/communities/{cid}/bans", mod),
            "invites": (f"/api/communities/{cid}/invites", admin),
            "groups": (f"/api/communities/{cid}/groups", admin),
            "group": (f"/api/groups/{gid}", mod),
            "group members": (f"/api/groups/{gid}/members", mod),
            "channels": (f"/api/groups/{gid}/channels", mod),
            "channel members": (f"/api/channels/{ch}/members", mod),
            "warnings": (f"/api/communities/{cid}/channels/{ch}/warnings/{m3.id}", mod),
            "dms": ("/api/dms", newcomer),
            "discover": ("/api/communities/discover", m3),
        }
        got = {}
        for name, (path, user) in reads.items():
            r = await b.request("GET", path, user)
            assert r.status_code == 200, (name, r.text)
            got[name] = r.json()
            assert got[name], name
        return got

    head = await api.head()
    before = await _active_builds(api.db.database_url)
    await _settled(api, root, head, None)
    live = await _views(api.db.database_url, SPACE_MODELS)
    live = {k: v for k, v in live.items() if k in SPACE_MODELS}
    assert set(live) == SPACE_MODELS
    assert not [name for name, rows in live.items() if not rows]
    live_answers = await answers()

    r = await api.client.post("/api/admin/projections/spaces/rebuild", headers=root.auth)
    assert r.status_code == 202, r.text
    await _settled(api, root, head, before["spaces"])
    rebuilt = {k: v for k, v in (await _views(api.db.database_url, SPACE_MODELS)).items()
               if k in SPACE_MODELS}
    for name in SPACE_MODELS:
        assert rebuilt[name] == live[name], name
    assert await answers() == live_answers
