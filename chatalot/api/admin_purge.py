"""/api/admin/purge/... (protocol.md; issue 11 item 5): instance staff purge one message,
every message of a user, or every message of a channel. The controller translates and
delegates to chatalot/messaging/commands/purge.py; docs/log.md has the rules."""

from __future__ import annotations

import uuid

from litestar import Controller
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from chatalot.api.context import errors
from chatalot.api.guards import require_instance_admin
from chatalot.api.routes import post
from chatalot.auth.principal import Principal
from chatalot.messaging import contracts as c
from chatalot.messaging.commands import purge
from chatalot.messaging.runtime import MessagingRuntime
from chatalot.request_info import RequestInfo


class AdminPurgeController(Controller):
    path = "/api/admin/purge"
    tags = ["admin"]
    guards = [require_instance_admin]

    @post("/message/{message_id:str}", status_code=200, summary="Purge a message",
          responses=errors(401, 403, 404, 409, 413, 422))
    async def message(self, message_id: FromPath[uuid.UUID],
                      messaging: NamedDependency[MessagingRuntime],
                      principal: NamedDependency[Principal],
                      info: NamedDependency[RequestInfo],
                      data: JSONBody[c.Purge | None] = None) -> c.Purged:
        """Gone as if deleted, and its bodies (every edit) redacted from the log; 404 for
        an unknown message; again on a purged one: `purged` 0."""
        return await purge.purge_message(messaging, principal.user_id, message_id,
                                         data.reason if data else None, info)

    @post("/user/{user_id:str}/messages", status_code=200,
          summary="Purge every message of a user", responses=errors(401, 403, 409, 413, 422))
    async def user(self, user_id: FromPath[uuid.UUID],
                   messaging: NamedDependency[MessagingRuntime],
                   principal: NamedDependency[Principal], info: NamedDependency[RequestInfo],
                   data: JSONBody[c.Purge | None] = None) -> c.Purged:
        """In batches; an interrupted purge finishes when called again."""
        return await purge.purge(messaging, principal.user_id, "user", user_id,
                                 data.reason if data else None, info)

    @post("/channel/{channel_id:str}", status_code=200,
          summary="Purge every message of a channel", responses=errors(401, 403, 409, 413, 422))
    async def channel(self, channel_id: FromPath[uuid.UUID],
                      messaging: NamedDependency[MessagingRuntime],
                      principal: NamedDependency[Principal],
                      info: NamedDependency[RequestInfo],
                      data: JSONBody[c.Purge | None] = None) -> c.Purged:
        """Its messages, not the channel (which stays, empty); in batches, like a user's."""
        return await purge.purge(messaging, principal.user_id, "channel", channel_id,
                                 data.reason if data else None, info)
