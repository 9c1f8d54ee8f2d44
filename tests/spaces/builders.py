"""Build spaces test data through HTTP, for any context's tests.

    from tests.spaces.builders import SpacesBuilder

    spaces = SpacesBuilder(api)               # api: tests.accounts.conftest.Api
    space = await spaces.community_with_channel(members=3)
    space.owner, space.members, space.channel_id   # users are tests.accounts User objects
    dm = await spaces.dm(space.members[0], space.members[1])

Every call asserts its status, so a broken setup fails where it happened. Users only need
`.id` and `.auth` (tests.keys KeyUser works too).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol


class Caller(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def auth(self) -> dict[str, str]: ...


@dataclass
class Space:
    """A community with one public group and one text channel in it."""

    owner: Any
    members: list[Any]
    community_id: str
    group_id: str
    channel_id: str
    positions: list[str] = field(default_factory=list)

    @property
    def everyone(self) -> list[Any]:
        return [self.owner, *self.members]

    @staticmethod
    def uuid(value: str) -> uuid.UUID:
        return uuid.UUID(value)


class SpacesBuilder:
    def __init__(self, api: Any) -> None:
        self.api = api
        self.client = api.client
        self.last_position: str | None = None
        """The position of the newest command made through this builder."""

    def headers(self, user: Caller) -> dict[str, str]:
        """`user`'s auth plus Chatalot-Min-Position at the newest command built here, so a
        query sees everything built so far (not only `user`'s own commands)."""
        extra = {"Chatalot-Min-Position": self.last_position} if self.last_position else {}
        return {**user.auth, **extra}

    async def request(self, method: str, path: str, user: Caller | None, body: Any = None,
                      *, fresh: bool = True) -> Any:
        """Any request as `user` (None: anonymous); a reply's `position` becomes
        `last_position`. `fresh` adds Chatalot-Min-Position to queries (see headers)."""
        headers = {} if user is None else (
            self.headers(user) if fresh and method == "GET" else dict(user.auth))
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["json"] = body
        r = await self.client.request(method, path, **kwargs)
        if r.status_code < 300 and r.headers.get("content-type", "").startswith(
                "application/json"):
            data = r.json()
            if isinstance(data, dict) and data.get("position"):
                self.last_position = data["position"]
        return r

    async def _ok(self, method: str, path: str, user: Caller, body: Any = None,
                  status: int = 200) -> dict[str, Any]:
        r = await self.request(method, path, user, body)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        result: dict[str, Any] = r.json()
        return result

    async def create_community(self, owner: Caller, name: str = "Community", *,
                               public: bool = True, **extra: Any) -> str:
        body = {"name": name, "public": public, **extra}
        return str((await self._ok("POST", "/api/communities", owner, body, 201))["id"])

    async def create_group(self, actor: Caller, community_id: str, name: str = "General",
                           *, public: bool = True, **extra: Any) -> str:
        body = {"community_id": community_id, "name": name, "public": public, **extra}
        return str((await self._ok("POST", "/api/groups", actor, body, 201))["id"])

    async def create_channel(self, actor: Caller, group_id: str, name: str = "chat",
                             kind: str = "text") -> str:
        r = await self._ok("POST", f"/api/groups/{group_id}/channels", actor,
                           {"name": name, "kind": kind}, 201)
        return str(r["id"])

    async def join(self, user: Caller, community_id: str) -> str:
        """Join a public community (and with it its public groups and their channels)."""
        r = await self._ok("POST", f"/api/communities/{community_id}/join", user)
        return str(r["position"])

    async def invite(self, actor: Caller, community_id: str, **body: Any) -> str:
        r = await self._ok("POST", f"/api/communities/{community_id}/invites", actor, body,
                           201)
        return str(r["code"])

    async def accept(self, user: Caller, code: str) -> str:
        r = await self._ok("POST", f"/api/community-invites/{code}/accept", user)
        return str(r["position"])

    async def set_role(self, actor: Caller, community_id: str, user: Caller, role: str
                       ) -> str:
        r = await self._ok("PUT", f"/api/communities/{community_id}/members/{user.id}/role",
                           actor, {"role": role})
        return str(r["position"])

    async def dm(self, a: Caller, b: Caller) -> str:
        """The DM channel of a and b (they must share a community, or a be staff)."""
        r = await self._ok("POST", "/api/dms", a, {"target_user_id": b.id})
        return str(r["channel_id"])

    async def community_with_channel(self, members: int = 2, *, owner: Any = None,
                                     via_invite: bool = False, kind: str = "text") -> Space:
        """A public community, owned by `owner` (registered if None), with a public group
        and one channel, and `members` more registered users in all three (joined
        directly, or through one invite)."""
        owner = owner or await self.api.register()
        cid = await self.create_community(owner)
        gid = await self.create_group(owner, cid)
        chid = await self.create_channel(owner, gid, kind=kind)
        users = [await self.api.register() for _ in range(members)]
        code = await self.invite(owner, cid) if via_invite else None
        positions = [await (self.accept(u, code) if code else self.join(u, cid))
                     for u in users]
        return Space(owner, users, cid, gid, chid, positions)

