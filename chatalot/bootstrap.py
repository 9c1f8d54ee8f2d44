"""The composition root: the one place that lists the bounded contexts and builds, from
what each exports (chatalot/bounded_context.py), the event registry, the read models the
projection runtime runs, the process's services and the HTTP app. Adding a context is
adding it to CONTEXTS (docs/architecture.md, "Adding a context")."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable

import msgspec
from litestar import Litestar

from chatalot.accounts.context import ACCOUNTS
from chatalot.announcements.context import ANNOUNCEMENTS
from chatalot.api.admin_projections import AdminProjectionsController
from chatalot.api.health import HealthController
from chatalot.api.metrics import MetricsController
from chatalot.api.webapp import web_build_dir, webapp_router
from chatalot.app import ServicesFactory, build_app
from chatalot.bounded_context import BoundedContext
from chatalot.config import Settings
from chatalot.files.context import FILES
from chatalot.keys.context import KEYS
from chatalot.logbook.context import LOGBOOK
from chatalot.messaging.context import MESSAGING
from chatalot.services import Services, open_services
from chatalot.spaces.context import SPACES
from chatalot.ws.context import GATEWAY
from event_store import EventRedacted, EventRegistry
from projections.projector import Projector
from projections.read_models.event_stats import EventStats

CONTEXTS: tuple[BoundedContext, ...] = (ACCOUNTS, KEYS, SPACES, MESSAGING, FILES, LOGBOOK,
                                        ANNOUNCEMENTS, GATEWAY)


def event_types() -> list[type[msgspec.Struct]]:
    return [event for context in CONTEXTS for event in context.events]


def build_registry() -> EventRegistry:
    """Every context's event types, and the store's own redaction record (which every
    EventStore registers anyway; the audit log handles it, so start-up checks know it)."""
    return EventRegistry([*event_types(), EventRedacted])


def default_projectors() -> list[Projector]:
    """Every read model the projection runtime runs (EventStats counts the whole log)."""
    return [EventStats(), *(make() for context in CONTEXTS for make in context.projectors)]


@contextlib.asynccontextmanager
async def services(settings: Settings, database_url: str, *,
                   clock: Callable[[], float] = time.time) -> AsyncIterator[Services]:
    """The process's services, with every context's background processes running."""
    async with open_services(settings, database_url, registry=build_registry(),
                             projectors=default_projectors(), clock=clock) as opened, \
            contextlib.AsyncExitStack() as stack:
        for context in CONTEXTS:
            for process in context.processes:
                await stack.enter_async_context(process(opened))
        yield opened


def create_app(settings: Settings, database_url: str,
               services_factory: ServicesFactory | None = None) -> Litestar:
    web = web_build_dir()
    return build_app(
        settings,
        [HealthController, MetricsController, AdminProjectionsController,
         *(context.router() for context in CONTEXTS),
         *([webapp_router(web)] if web is not None else [])],
        services_factory or (lambda: services(settings, database_url)),
    )
