"""The gateway as the composition root sees it (chatalot/bootstrap.py): no read models or
events of its own (it delivers everyone else's), a WebSocket route and the voice
ICE-server route."""

from __future__ import annotations

from chatalot.api.gateway import VoiceController, gateway_socket
from chatalot.bounded_context import BoundedContext

GATEWAY = BoundedContext(
    name="gateway",
    events=[],
    projectors=[],
    controllers=[gateway_socket, VoiceController],
)
