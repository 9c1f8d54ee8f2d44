"""Polls, scheduled messages and incoming webhooks (issue 13 item 3). docs/messaging.md."""

from __future__ import annotations

import uuid

from litestar import Controller
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from chatalot.api.context import errors
from chatalot.api.guards import require_authenticated
from chatalot.api.messages import BODY_LIMIT, page_limit
from chatalot.api.read_your_writes import read_your_writes
from chatalot.api.routes import delete, get, patch, post
from chatalot.auth.principal import Principal
from chatalot.messaging import contracts as c
from chatalot.messaging import extras
from chatalot.messaging.commands import polls, scheduled, webhooks
from chatalot.messaging.runtime import MessagingRuntime
from chatalot.request_info import RequestInfo
from event_store import Position


class ChannelExtrasController(Controller):
    path = "/api/channels/{channel_id:str}"
    tags = ["messages"]
    guards = [require_authenticated]

    @get("/polls", summary="The channel's polls with their results", cache=False,
         responses=errors(401, 403, 404), dependencies={"consistent": read_your_writes("polls")})
    async def polls(self, channel_id: FromPath[uuid.UUID],
                    messaging: NamedDependency[MessagingRuntime],
                    principal: NamedDependency[Principal],
                    consistent: NamedDependency[Position | None],
                    cursor: FromQuery[str | None] = None,
                    limit: FromQuery[int | None] = None) -> c.PollPage:
        return await extras.polls(messaging.pool, principal.user_id, channel_id,
                                  limit=page_limit(limit), cursor=cursor)

    @post("/polls", status_code=201, summary="Create a poll",
          responses=errors(413, 401, 403, 404, 409, 422))
    async def create_poll(self, channel_id: FromPath[uuid.UUID], data: JSONBody[c.CreatePoll],
                          messaging: NamedDependency[MessagingRuntime],
                          principal: NamedDependency[Principal],
                          info: NamedDependency[RequestInfo]) -> c.Poll:
        """2-10 options; `expires_in_minutes` 1 minute to 30 days."""
        poll, _ = await polls.create_poll(messaging, principal.user_id, channel_id, data, info)
        return poll

    @get("/webhooks", summary="The channel's incoming webhooks", cache=False,
         responses=errors(401, 403, 404),
         dependencies={"consistent": read_your_writes("webhooks")})
    async def webhooks(self, channel_id: FromPath[uuid.UUID],
                       messaging: NamedDependency[MessagingRuntime],
                       principal: NamedDependency[Principal],
                       consistent: NamedDependency[Position | None]) -> list[c.Webhook]:
        """Channel admins only; tokens are never shown again."""
        return await extras.webhooks(messaging.pool, principal.user_id, channel_id)

    @post("/webhooks", status_code=201, summary="Create an incoming webhook",
          responses=errors(413, 401, 403, 404, 409, 422))
    async def create_webhook(self, channel_id: FromPath[uuid.UUID],
                             data: JSONBody[c.CreateWebhook],
                             messaging: NamedDependency[MessagingRuntime],
                             principal: NamedDependency[Principal],
                             info: NamedDependency[RequestInfo]) -> c.Webhook:
        """Channel admins. The reply holds the token, once (only its hash is kept)."""
        hook, _ = await webhooks.create_webhook(messaging, principal.user_id, channel_id,
                                                data, info)
        return hook


class PollsController(Controller):
    path = "/api/polls"
    tags = ["messages"]
    guards = [require_authenticated]

    @post("/{poll_id:str}/vote", status_code=200, summary="Vote (replaces my earlier vote)",
          responses=errors(413, 401, 403, 404, 409, 422))
    async def vote(self, poll_id: FromPath[uuid.UUID], data: JSONBody[c.Vote],
                   messaging: NamedDependency[MessagingRuntime],
                   principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                   ) -> c.Position:
        """409 conflict on a closed or expired poll."""
        reply, _ = await polls.vote(messaging, principal.user_id, poll_id, data, info)
        return reply

    @delete("/{poll_id:str}/vote", status_code=200, summary="Remove my vote",
            responses=errors(401, 403, 404, 409, 422))
    async def unvote(self, poll_id: FromPath[uuid.UUID],
                     messaging: NamedDependency[MessagingRuntime],
                     principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                     ) -> c.Position:
        reply, _ = await polls.remove_vote(messaging, principal.user_id, poll_id, info)
        return reply

    @post("/{poll_id:str}/close", status_code=200, summary="Close a poll",
          responses=errors(401, 403, 404, 409, 422))
    async def close(self, poll_id: FromPath[uuid.UUID],
                    messaging: NamedDependency[MessagingRuntime],
                    principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                    ) -> c.Position:
        """Its creator or the channel's moderators."""
        reply, _ = await polls.close_poll(messaging, principal.user_id, poll_id, info)
        return reply


class ScheduledController(Controller):
    path = "/api/messages"
    tags = ["messages"]
    guards = [require_authenticated]
    request_max_body_size = BODY_LIMIT

    @post("/schedule", status_code=201, summary="Schedule a message",
          responses=errors(401, 403, 404, 409, 413, 422))
    async def schedule(self, data: JSONBody[c.ScheduleMessage],
                       messaging: NamedDependency[MessagingRuntime],
                       principal: NamedDependency[Principal],
                       info: NamedDependency[RequestInfo]) -> c.Scheduled:
        """At most 30 days ahead, at most 50 pending per user (422 limit_reached)."""
        out, _ = await scheduled.schedule_message(messaging, principal.user_id, data, info)
        return out

    @get("/scheduled", summary="My pending scheduled messages", cache=False,
         responses=errors(401),
         dependencies={"consistent": read_your_writes("scheduled_messages")})
    async def mine(self, messaging: NamedDependency[MessagingRuntime],
                   principal: NamedDependency[Principal],
                   consistent: NamedDependency[Position | None],
                   cursor: FromQuery[str | None] = None,
                   limit: FromQuery[int | None] = None) -> c.ScheduledPage:
        return await extras.scheduled(messaging.pool, principal.user_id,
                                      limit=page_limit(limit), cursor=cursor)

    @delete("/scheduled/{scheduled_id:str}", status_code=200,
            summary="Cancel a scheduled message", responses=errors(401, 404, 409, 422))
    async def cancel(self, scheduled_id: FromPath[uuid.UUID],
                     messaging: NamedDependency[MessagingRuntime],
                     principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                     ) -> c.Position:
        reply, _ = await scheduled.cancel_scheduled(messaging, principal.user_id,
                                                    scheduled_id, info)
        return reply


class WebhooksController(Controller):
    path = "/api/webhooks"
    tags = ["messages"]

    @patch("/{webhook_id:str}", summary="Change a webhook", guards=[require_authenticated],
           responses=errors(413, 401, 403, 404, 409, 422))
    async def update(self, webhook_id: FromPath[uuid.UUID], data: JSONBody[c.UpdateWebhook],
                     messaging: NamedDependency[MessagingRuntime],
                     principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                     ) -> c.Position:
        reply, _ = await webhooks.update_webhook(messaging, principal.user_id, webhook_id,
                                                 data, info)
        return reply

    @delete("/{webhook_id:str}", status_code=200, summary="Delete a webhook",
            guards=[require_authenticated], responses=errors(401, 403, 404, 409, 422))
    async def remove(self, webhook_id: FromPath[uuid.UUID],
                     messaging: NamedDependency[MessagingRuntime],
                     principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                     ) -> c.Position:
        reply, _ = await webhooks.delete_webhook(messaging, principal.user_id, webhook_id,
                                                 info)
        return reply

    @post("/execute/{token:str}", status_code=200, summary="Post as a webhook (public)",
          responses=errors(403, 404, 409, 413, 422), request_max_body_size=16 * 1024)
    async def execute(self, token: FromPath[str], data: JSONBody[c.ExecuteWebhook],
                      messaging: NamedDependency[MessagingRuntime],
                      info: NamedDependency[RequestInfo]) -> c.MessageSentReply:
        """Authenticated by the token in the path alone; rate limited per webhook (429).
        The message has type `webhook` and carries the webhook's name and avatar."""
        reply, _ = await webhooks.execute_webhook(messaging, token, data, info)
        return reply
