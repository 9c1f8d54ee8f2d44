"""Instance announcements as the composition root sees them (chatalot/bootstrap.py)."""

from __future__ import annotations

from chatalot.announcements.runtime import AnnouncementsRuntime
from chatalot.api.announcements import AdminAnnouncementsController, AnnouncementsController
from chatalot.bounded_context import BoundedContext
from chatalot.domain.announcements.events import ANNOUNCEMENT_EVENTS
from projections.read_models.announcements import PROJECTORS

ANNOUNCEMENTS = BoundedContext(
    name="announcements",
    events=ANNOUNCEMENT_EVENTS,
    projectors=PROJECTORS,
    controllers=[AnnouncementsController, AdminAnnouncementsController],
    runtimes={"announcements": lambda services: AnnouncementsRuntime(
        services.store, services.pool, services.accounts.clock)},
)
