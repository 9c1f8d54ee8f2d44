"""The log as a product, as the composition root sees it (chatalot/bootstrap.py)."""

from __future__ import annotations

from chatalot.api.admin_log import AdminLogController
from chatalot.bounded_context import BoundedContext
from chatalot.logbook.runtime import LogbookRuntime

LOGBOOK = BoundedContext(
    name="logbook",
    events=[],
    projectors=[],
    controllers=[AdminLogController],
    runtimes={"logbook": lambda services: LogbookRuntime(services.store, services.pool)},
)
