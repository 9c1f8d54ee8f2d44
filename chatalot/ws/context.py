"""The gateway as the composition root sees it (chatalot/bootstrap.py): no read models of
its own (it delivers everyone else's), a WebSocket route and the voice ICE-server route.
It registers the announcement event (chatalot/domain/announcements.py) until the admin
announcement routes that append it have a context of their own."""

from __future__ import annotations

from chatalot.api.gateway import VoiceController, gateway_socket
from chatalot.bounded_context import BoundedContext
from chatalot.domain.announcements import EVENTS as ANNOUNCEMENT_EVENTS

GATEWAY = BoundedContext(
    name="gateway",
    events=[*ANNOUNCEMENT_EVENTS],
    projectors=[],
    controllers=[gateway_socket, VoiceController],
)
