"""Unreads, read cursors and bookmarks (issue 13 items 3 and 4). docs/messaging.md."""

from __future__ import annotations

import uuid

from litestar import Controller
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from chatalot.api.context import errors
from chatalot.api.guards import require_authenticated
from chatalot.api.messages import page_limit
from chatalot.api.read_your_writes import read_your_writes
from chatalot.api.routes import delete, get, post
from chatalot.auth.principal import Principal
from chatalot.domain.errors import bad_request
from chatalot.messaging import commands, queries, unreads
from chatalot.messaging import contracts as c
from chatalot.messaging.runtime import MessagingRuntime
from chatalot.request_info import RequestInfo
from event_store import Position


class ReadsController(Controller):
    path = "/api/channels"
    tags = ["messages"]
    guards = [require_authenticated]

    @get("/unread", summary="Unread and mention counts of every channel I may read",
         cache=False, responses=errors(401),
         dependencies={"consistent": read_your_writes("messages")})
    async def unread(self, messaging: NamedDependency[MessagingRuntime],
                     principal: NamedDependency[Principal],
                     consistent: NamedDependency[Position | None]) -> list[c.Unread]:
        return await unreads.unread(messaging.pool, principal.user_id)

    @post("/read-all", status_code=200, summary="Mark every channel read",
          responses=errors(401, 409, 422))
    async def read_all(self, messaging: NamedDependency[MessagingRuntime],
                       principal: NamedDependency[Principal],
                       info: NamedDependency[RequestInfo]) -> c.PositionOrNone:
        """Up to each channel's latest message; `position` is null when every channel
        was read already."""
        reply, _ = await commands.mark_all_read(messaging, principal.user_id, info)
        return reply

    @post("/{channel_id:str}/read", status_code=200, summary="Mark read up to a message",
          responses=errors(413, 401, 403, 404, 409, 422))
    async def read(self, channel_id: FromPath[uuid.UUID], data: JSONBody[c.MarkRead],
                   messaging: NamedDependency[MessagingRuntime],
                   principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                   ) -> c.Position:
        """The body of the WebSocket `mark_read`."""
        if data.channel_id is not None and data.channel_id != channel_id:
            raise bad_request("channel_id differs from the channel addressed")
        reply, _ = await commands.mark_read(messaging, principal.user_id, channel_id,
                                            data.message_id, info)
        return reply

    @get("/{channel_id:str}/read-cursors", summary="Members' read cursors", cache=False,
         responses=errors(401, 403, 404),
         dependencies={"consistent": read_your_writes("messages")})
    async def cursors(self, channel_id: FromPath[uuid.UUID],
                      messaging: NamedDependency[MessagingRuntime],
                      principal: NamedDependency[Principal],
                      consistent: NamedDependency[Position | None],
                      cursor: FromQuery[str | None] = None,
                      limit: FromQuery[int | None] = None) -> c.ReadCursorPage:
        """Members who turned read receipts off are left out."""
        return await unreads.read_cursors(messaging.pool, principal.user_id, channel_id,
                                          limit=page_limit(limit), cursor=cursor)


class BookmarksController(Controller):
    path = "/api/bookmarks"
    tags = ["messages"]
    guards = [require_authenticated]

    @get("/", summary="My bookmarks", cache=False, responses=errors(401),
         dependencies={"consistent": read_your_writes("bookmarks")})
    async def mine(self, messaging: NamedDependency[MessagingRuntime],
                   principal: NamedDependency[Principal],
                   consistent: NamedDependency[Position | None]) -> list[c.BookmarkOut]:
        return await queries.bookmarks(messaging.pool, principal.user_id)

    @post("/", status_code=201, summary="Bookmark a message",
          responses=errors(413, 401, 403, 404, 409, 422))
    async def add(self, data: JSONBody[c.Bookmark], messaging: NamedDependency[MessagingRuntime],
                  principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                  ) -> c.BookmarkOut:
        reply, _ = await commands.add_bookmark(messaging, principal.user_id, data, info)
        return reply

    @delete("/{bookmark_id:str}", status_code=200, summary="Remove a bookmark",
            responses=errors(401, 404, 409, 422))
    async def remove(self, bookmark_id: FromPath[uuid.UUID],
                     messaging: NamedDependency[MessagingRuntime],
                     principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                     ) -> c.Position:
        reply, _ = await commands.remove_bookmark(messaging, principal.user_id, bookmark_id,
                                                  info)
        return reply
