"""Messaging as the composition root sees it (chatalot/bootstrap.py)."""

from __future__ import annotations

from chatalot.api.messages import ChannelMessagesController, MessagesController
from chatalot.api.reads import BookmarksController, ReadsController
from chatalot.bounded_context import BoundedContext
from chatalot.domain.messaging.events import MESSAGING_EVENTS
from chatalot.messaging.runtime import MessagingRuntime
from projections.read_models import messaging, messaging_search

MESSAGING = BoundedContext(
    name="messaging",
    events=MESSAGING_EVENTS,
    projectors=[*messaging.PROJECTORS, *messaging_search.PROJECTORS],
    controllers=[ChannelMessagesController, MessagesController, ReadsController,
                 BookmarksController],
    runtimes={"messaging": lambda services: MessagingRuntime(
        services.store, services.pool, services.limiter,
        max_message_bytes=services.settings.limits.max_message_bytes,
        edit_window_secs=services.settings.limits.edit_window_secs,
        clock=services.accounts.clock)},
)
