"""Communities, groups, channels and DMs (protocol.md, REST surface): what a client needs
to find its channels, their members (the recipients of its sender keys) and its DMs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import msgspec

from chatalot_sdk.models import Channel, Created, Dm, DmReply, Page, Position

if TYPE_CHECKING:
    from chatalot_sdk.client import Client


class Spaces:
    """`client.spaces`."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def communities(self) -> list[dict[str, Any]]:
        return await self.client.rest.call("GET", "/communities", list[dict[str, Any]])

    async def create_community(self, name: str, *, public: bool = False) -> uuid.UUID:
        reply = await self.client.rest.call("POST", "/communities", Created,
                                            json={"name": name, "public": public})
        return reply.id

    async def create_group(self, community: uuid.UUID, name: str, *, public: bool = True
                           ) -> uuid.UUID:
        reply = await self.client.rest.call(
            "POST", "/groups", Created,
            json={"community_id": str(community), "name": name, "public": public})
        return reply.id

    async def create_channel(self, group: uuid.UUID, name: str) -> uuid.UUID:
        reply = await self.client.rest.call("POST", f"/groups/{group}/channels", Created,
                                            json={"name": name, "kind": "text"})
        return reply.id

    async def join_community(self, community: uuid.UUID) -> str:
        reply = await self.client.rest.call("POST", f"/communities/{community}/join",
                                            Position)
        return reply.position or ""

    async def channels(self) -> list[Channel]:
        """My channels, DMs excluded (see dms())."""
        return await self.client.rest.call("GET", "/channels", list[Channel])

    async def channel(self, channel: uuid.UUID) -> Channel:
        return await self.client.rest.call("GET", f"/channels/{channel}", Channel)

    async def dms(self) -> list[Dm]:
        items: list[Dm] = []
        async for item in self._pages("/dms"):
            items.append(msgspec.convert(item, Dm, strict=False))
        return items

    async def dm(self, user: uuid.UUID) -> uuid.UUID:
        """The DM channel with `user` (created on first use)."""
        reply = await self.client.rest.call("POST", "/dms", DmReply,
                                            json={"target_user_id": str(user)})
        return reply.channel_id

    async def members(self, channel: uuid.UUID, *, min_position: str | None = None
                      ) -> list[uuid.UUID]:
        """Every member of a channel: the recipients of my sender key there."""
        return [uuid.UUID(str(m["user_id"]))
                async for m in self._pages(f"/channels/{channel}/members", min_position)]

    async def leave(self, channel: uuid.UUID) -> str:
        reply = await self.client.rest.call("POST", f"/channels/{channel}/leave", Position)
        return reply.position or ""

    async def kick(self, channel: uuid.UUID, user: uuid.UUID) -> str:
        reply = await self.client.rest.call(
            "POST", f"/channels/{channel}/members/{user}/kick", Position, json={})
        return reply.position or ""

    async def _pages(self, path: str, min_position: str | None = None
                     ) -> AsyncIterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = await self.client.rest.call("GET", path, Page, params=params,
                                               min_position=min_position)
            for item in page.items:
                yield item
            cursor = page.next_cursor
            if not cursor:
                return

