"""/api/channels/{id}/messages, /api/messages/{id}, pins and reactions (issue 13).

Controllers translate and delegate: the commands (chatalot/messaging/commands) are the
same functions the WebSocket gateway calls; every permission is asked of
chatalot/domain/spaces/permissions.py by them. The rules are in docs/messaging.md.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import Controller, Request
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from chatalot.api.context import errors, principal_of, request_info
from chatalot.api.guards import require_authenticated, require_instance_admin
from chatalot.api.read_your_writes import read_your_writes
from chatalot.api.routes import delete, get, patch, post
from chatalot.auth.principal import Principal
from chatalot.domain.errors import bad_request
from chatalot.domain.messaging.rules import HISTORY_MAX_LIMIT
from chatalot.messaging import commands, queries
from chatalot.messaging import contracts as c
from chatalot.messaging import search as s
from chatalot.messaging.commands import moderation
from chatalot.messaging.runtime import MessagingRuntime
from chatalot.request_info import RequestInfo
from event_store import Position

BODY_LIMIT = 256 * 1024  # a 64 KiB message is ~88 KiB of base64 in its JSON body


def page_limit(limit: int | None, default: int = 50) -> int:
    if limit is None:
        return default
    if not 1 <= limit <= HISTORY_MAX_LIMIT:
        raise bad_request(f"limit must be 1-{HISTORY_MAX_LIMIT}")
    return limit


async def search_page(rt: MessagingRuntime, user_id: uuid.UUID, q: str | None,
                      channel_id: uuid.UUID | None, sender: uuid.UUID | None,
                      sender_name: str | None, before: datetime | None,
                      after: datetime | None, has_file: bool | None, limit: int | None,
                      cursor: str | None) -> c.SearchPage:
    if q is None or not 1 <= len(q) <= 500:
        raise bad_request("q is 1-500 characters")
    if sender_name is not None and len(sender_name) > 64:
        raise bad_request("sender_name is at most 64 characters")
    return await s.search(rt.pool, user_id, s.Filters(
        q=q, channel_id=channel_id, sender=sender, sender_name=sender_name, before=before,
        after=after, has_file=has_file), limit=page_limit(limit, 25), cursor=cursor)


class ChannelMessagesController(Controller):
    path = "/api/channels/{channel_id:str}"
    tags = ["messages"]
    guards = [require_authenticated]
    request_max_body_size = BODY_LIMIT

    @post("/messages", status_code=201, summary="Send a message",
          responses=errors(401, 403, 404, 409, 413, 422))
    async def send(self, request: Request[Any, Any, Any], channel_id: FromPath[uuid.UUID],
                   data: JSONBody[c.SendMessage]) -> c.MessageSentReply:
        """The body of the WebSocket `send_message`. A retry with the same `client_id`
        answers the first send's reply, with no second message. 403 forbidden / timed_out /
        read_only, 413 too_large (over 64 KiB decoded), 422 slow_mode (with
        retry_after_secs) or e2e_required."""
        # The caller (authenticated by the guard), the request's origin and the runtime
        # are read here, not declared: Litestar resolves more than one dependency in an
        # anyio task group (4 % of the event loop's time under 16 senders), and even one
        # costs its signature model's parsing (about 1.5 %).
        principal = await principal_of(request)
        messaging = MessagingRuntime.of(request.app.state.services)
        reply, _ = await commands.send_message(messaging, principal.user_id, channel_id,
                                               data, request_info(request))
        return reply

    @get("/messages", summary="A page of the channel's history", cache=False,
         responses=errors(401, 403, 404), dependencies={"consistent": read_your_writes("messages")})
    async def history(self, channel_id: FromPath[uuid.UUID],
                      messaging: NamedDependency[MessagingRuntime],
                      principal: NamedDependency[Principal],
                      consistent: NamedDependency[Position | None],
                      before: FromQuery[uuid.UUID | None] = None,
                      after: FromQuery[uuid.UUID | None] = None,
                      cursor: FromQuery[str | None] = None,
                      limit: FromQuery[int | None] = None) -> c.MessagePage:
        """In log order, oldest first within the page. Without `before`/`after`/`cursor`:
        the newest `limit` (1-100, default 50). `next_cursor` continues in the same
        direction; a page never skips or repeats a message sent meanwhile."""
        return await queries.page(messaging.pool, principal.user_id, channel_id,
                                  limit=page_limit(limit), cursor=cursor, before=before,
                                  after=after, staff=principal.is_staff)

    @get("/threads/{message_id:str}", summary="A thread: its first message and replies",
         cache=False, responses=errors(401, 403, 404),
         dependencies={"consistent": read_your_writes("messages")})
    async def thread(self, channel_id: FromPath[uuid.UUID], message_id: FromPath[uuid.UUID],
                     messaging: NamedDependency[MessagingRuntime],
                     principal: NamedDependency[Principal],
                     consistent: NamedDependency[Position | None],
                     before: FromQuery[uuid.UUID | None] = None,
                     after: FromQuery[uuid.UUID | None] = None,
                     cursor: FromQuery[str | None] = None,
                     limit: FromQuery[int | None] = None) -> c.MessagePage:
        return await queries.page(messaging.pool, principal.user_id, channel_id,
                                  limit=page_limit(limit), cursor=cursor, before=before,
                                  after=after, thread_id=message_id,
                                  staff=principal.is_staff)

    @get("/messages/{message_id:str}/history", summary="A message's edit history",
         cache=False, responses=errors(401, 403, 404),
         dependencies={"consistent": read_your_writes("messages")})
    async def edits(self, channel_id: FromPath[uuid.UUID], message_id: FromPath[uuid.UUID],
                    messaging: NamedDependency[MessagingRuntime],
                    principal: NamedDependency[Principal],
                    consistent: NamedDependency[Position | None]) -> c.EditHistory:
        """Every version, the original first."""
        return await queries.edit_history(messaging.pool, principal.user_id, channel_id,
                                          message_id, principal.is_staff)

    @get("/messages/search", summary="Search this channel", cache=False,
         responses=errors(401, 403, 404),
         dependencies={"consistent": read_your_writes("message_search")})
    async def search(self, channel_id: FromPath[uuid.UUID],
                     messaging: NamedDependency[MessagingRuntime],
                     principal: NamedDependency[Principal],
                     consistent: NamedDependency[Position | None],
                     q: FromQuery[str | None] = None, sender: FromQuery[uuid.UUID | None] = None,
                     sender_name: FromQuery[str | None] = None,
                     before: FromQuery[datetime | None] = None,
                     after: FromQuery[datetime | None] = None,
                     has_file: FromQuery[bool | None] = None,
                     cursor: FromQuery[str | None] = None,
                     limit: FromQuery[int | None] = None) -> c.SearchPage:
        return await search_page(messaging, principal.user_id, q, channel_id, sender,
                                 sender_name, before, after, has_file, limit, cursor)

    @get("/pins", summary="The channel's pinned messages", cache=False,
         responses=errors(401, 403, 404), dependencies={"consistent": read_your_writes("messages")})
    async def pins(self, channel_id: FromPath[uuid.UUID],
                   messaging: NamedDependency[MessagingRuntime],
                   principal: NamedDependency[Principal],
                   consistent: NamedDependency[Position | None]) -> list[c.Pin]:
        return await queries.pins(messaging.pool, principal.user_id, channel_id,
                                  principal.is_staff)

    @post("/pins/{message_id:str}", status_code=200, summary="Pin a message",
          responses=errors(401, 403, 404, 409, 422))
    async def pin(self, channel_id: FromPath[uuid.UUID], message_id: FromPath[uuid.UUID],
                  messaging: NamedDependency[MessagingRuntime],
                  principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                  ) -> c.Position:
        """Moderators; at most 50 pins per channel (422 limit_reached)."""
        reply, _ = await commands.pin_message(messaging, principal.user_id, channel_id,
                                              message_id, info)
        return reply

    @delete("/pins/{message_id:str}", status_code=200, summary="Unpin a message",
             responses=errors(401, 403, 404, 409, 422))
    async def unpin(self, channel_id: FromPath[uuid.UUID], message_id: FromPath[uuid.UUID],
                    messaging: NamedDependency[MessagingRuntime],
                    principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                    ) -> c.Position:
        reply, _ = await commands.unpin_message(messaging, principal.user_id, channel_id,
                                                message_id, info)
        return reply


class MessagesController(Controller):
    path = "/api/messages"
    tags = ["messages"]
    guards = [require_authenticated]
    request_max_body_size = BODY_LIMIT

    @patch("/{message_id:str}", summary="Edit one's own message",
           responses=errors(401, 403, 404, 409, 413, 422))
    async def edit(self, message_id: FromPath[uuid.UUID], data: JSONBody[c.EditMessage],
                   messaging: NamedDependency[MessagingRuntime],
                   principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                   ) -> c.Position:
        """The body of the WebSocket `edit_message`. Within the edit window (15 minutes
        by default): later 403."""
        reply, _ = await commands.edit_message(messaging, principal.user_id, message_id,
                                               data, info)
        return reply

    @delete("/{message_id:str}", status_code=200, summary="Delete a message",
            responses=errors(401, 403, 404, 409, 422))
    async def remove(self, message_id: FromPath[uuid.UUID],
                     messaging: NamedDependency[MessagingRuntime],
                     principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                     ) -> c.Position:
        """One's own, or anyone's for the channel's moderators."""
        reply, _ = await commands.delete_message(messaging, principal.user_id, message_id,
                                                 info)
        return reply

    @post("/{message_id:str}/reactions", status_code=200, summary="React to a message",
          responses=errors(413, 401, 403, 404, 409, 422))
    async def react(self, message_id: FromPath[uuid.UUID], data: JSONBody[c.AddReaction],
                    messaging: NamedDependency[MessagingRuntime],
                    principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                    ) -> c.Position:
        """At most 20 distinct emoji per message (422 limit_reached); twice is 409."""
        reply, _ = await commands.add_reaction(messaging, principal.user_id, message_id,
                                               data.emoji, info)
        return reply

    @delete("/{message_id:str}/reactions/{emoji:str}", status_code=200,
            summary="Remove one's reaction", responses=errors(401, 403, 404, 409, 422))
    async def unreact(self, message_id: FromPath[uuid.UUID], emoji: FromPath[str],
                      messaging: NamedDependency[MessagingRuntime],
                      principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                      ) -> c.Position:
        reply, _ = await commands.remove_reaction(messaging, principal.user_id, message_id,
                                                  emoji, info)
        return reply

    @get("/{message_id:str}/reactions", summary="Who reacted with what", cache=False,
         responses=errors(401, 403, 404), dependencies={"consistent": read_your_writes("messages")})
    async def reactions(self, message_id: FromPath[uuid.UUID],
                        messaging: NamedDependency[MessagingRuntime],
                        principal: NamedDependency[Principal],
                        consistent: NamedDependency[Position | None]) -> list[c.ReactionCount]:
        return await queries.reactions(messaging.pool, principal.user_id, message_id)

    @get("/search", summary="Search every channel I may read", cache=False,
         responses=errors(401, 403, 404),
         dependencies={"consistent": read_your_writes("message_search")})
    async def search(self, messaging: NamedDependency[MessagingRuntime],
                     principal: NamedDependency[Principal],
                     consistent: NamedDependency[Position | None],
                     q: FromQuery[str | None] = None,
                     channel_id: FromQuery[uuid.UUID | None] = None,
                     sender: FromQuery[uuid.UUID | None] = None,
                     sender_name: FromQuery[str | None] = None,
                     before: FromQuery[datetime | None] = None,
                     after: FromQuery[datetime | None] = None,
                     has_file: FromQuery[bool | None] = None,
                     cursor: FromQuery[str | None] = None,
                     limit: FromQuery[int | None] = None) -> c.SearchPage:
        """Server-readable messages only (encryption none, webhooks, system messages),
        ranked (ts_rank_cd), with a snippet; `limit` 1-100 (default 25)."""
        return await search_page(messaging, principal.user_id, q, channel_id, sender,
                                 sender_name, before, after, has_file, limit, cursor)


class AdminMessagesController(Controller):
    path = "/api/admin/messages"
    tags = ["admin"]
    guards = [require_instance_admin]

    @post("/{message_id:str}/quarantine", status_code=200, summary="Quarantine a message",
          responses=errors(401, 403, 404, 409, 413, 422))
    async def quarantine(self, message_id: FromPath[uuid.UUID],
                         messaging: NamedDependency[MessagingRuntime],
                         principal: NamedDependency[Principal],
                         info: NamedDependency[RequestInfo],
                         data: JSONBody[c.Quarantine | None] = None) -> c.Position:
        """Instance staff. Members then see it as `quarantined`, without its body."""
        reply, _ = await moderation.set_quarantine(
            messaging, principal.user_id, message_id, True, data.reason if data else None, info)
        return reply

    @post("/{message_id:str}/unquarantine", status_code=200, summary="Release a message",
          responses=errors(401, 403, 404, 409, 422))
    async def unquarantine(self, message_id: FromPath[uuid.UUID],
                           messaging: NamedDependency[MessagingRuntime],
                           principal: NamedDependency[Principal],
                           info: NamedDependency[RequestInfo]) -> c.Position:
        reply, _ = await moderation.set_quarantine(
            messaging, principal.user_id, message_id, False, None, info)
        return reply
