"""/ws (the WebSocket gateway, chatalot/ws/) and GET /api/voice/ice-servers.

The socket authenticates in its first frame (protocol.md), not in the upgrade request:
browsers cannot set an Authorization header on a WebSocket, and a token in the URL would
land in proxy logs.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Controller, WebSocket, websocket
from litestar.di import NamedDependency

from chatalot.api.context import errors
from chatalot.api.guards import require_authenticated
from chatalot.api.routes import get
from chatalot.auth.principal import Principal
from chatalot.services import Services
from chatalot.ws.connection import serve
from chatalot.ws.runtime import gateway_of
from chatalot.ws.turn import IceServer, ice_servers

log = logging.getLogger(__name__)


@websocket("/ws", opt={"exclude_from_auth": True})
async def gateway_socket(socket: WebSocket[Any, Any, Any]) -> None:
    services: Services = socket.app.state.services
    try:
        await serve(gateway_of(services), socket)
    except Exception:  # Litestar would close 4500 without a word in the log
        log.exception("the gateway failed on a socket")
        raise


class VoiceController(Controller):
    path = "/api/voice"
    tags = ["voice"]
    guards = [require_authenticated]

    @get("/ice-servers", summary="STUN/TURN servers with time-limited TURN credentials",
         cache=False, responses=errors(401))
    async def ice(self, principal: NamedDependency[Principal],
                  services: NamedDependency[Services]) -> list[IceServer]:
        return ice_servers(services.settings.voice, principal.user_id,
                           services.accounts.clock())
