"""Messaging as the composition root sees it (chatalot/bootstrap.py)."""

from __future__ import annotations

from chatalot.api.admin_purge import AdminPurgeController
from chatalot.api.message_extras import (
    ChannelExtrasController,
    PollsController,
    ScheduledController,
    WebhooksController,
)
from chatalot.api.messages import (
    AdminMessagesController,
    ChannelMessagesController,
    MessagesController,
)
from chatalot.api.reads import BookmarksController, ReadsController
from chatalot.bounded_context import BoundedContext
from chatalot.domain.messaging.events import MESSAGING_EVENTS
from chatalot.messaging import scheduler
from chatalot.messaging.runtime import MessagingRuntime
from projections.read_models import messaging, messaging_extras, messaging_search

MESSAGING = BoundedContext(
    name="messaging",
    events=MESSAGING_EVENTS,
    projectors=[*messaging.PROJECTORS, *messaging_search.PROJECTORS,
                *messaging_extras.PROJECTORS],
    controllers=[ChannelMessagesController, MessagesController, ReadsController,
                 BookmarksController, ChannelExtrasController, PollsController,
                 ScheduledController, WebhooksController, AdminMessagesController,
                 AdminPurgeController],
    runtimes={"messaging": MessagingRuntime.of},
    processes=[lambda services: scheduler.running(MessagingRuntime.of(services))],
)
