"""/api/announcements (a user's undismissed announcements, dismissing one) and
/api/admin/announcements (instance staff: list every one, publish). The rules are in
docs/announcements.md; a publication reaches every live socket as `announcement`."""

from __future__ import annotations

import uuid

from litestar import Controller
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from chatalot.announcements import commands, queries
from chatalot.announcements import contracts as c
from chatalot.announcements.runtime import AnnouncementsRuntime
from chatalot.api.context import errors
from chatalot.api.guards import require_authenticated, require_instance_admin
from chatalot.api.read_your_writes import read_your_writes
from chatalot.api.routes import get, post
from chatalot.auth.principal import Principal
from chatalot.request_info import RequestInfo
from event_store import Position

BODY_LIMIT = 64 * 1024


class AnnouncementsController(Controller):
    path = "/api/announcements"
    tags = ["announcements"]
    guards = [require_authenticated]
    request_max_body_size = BODY_LIMIT

    @get("/", summary="The announcements I have not dismissed", cache=False,
         responses=errors(401, 503), dependencies={"consistent": read_your_writes("announcements")})
    async def mine(self, announcements: NamedDependency[AnnouncementsRuntime],
                   principal: NamedDependency[Principal],
                   consistent: NamedDependency[Position | None]) -> list[c.Announcement]:
        """Newest first; a dismissed one no longer appears (for the caller alone)."""
        return await queries.undismissed(announcements.pool, principal.user_id)

    @post("/{announcement_id:str}/dismiss", status_code=200, summary="Dismiss an announcement",
          responses=errors(401, 404, 409, 422))
    async def dismiss(self, announcement_id: FromPath[uuid.UUID],
                      announcements: NamedDependency[AnnouncementsRuntime],
                      principal: NamedDependency[Principal],
                      info: NamedDependency[RequestInfo]) -> c.Dismissed:
        """For the caller only. Unknown announcement: 404. Dismissing again changes nothing
        and answers 200 with a null position."""
        position = await commands.dismiss(announcements, principal.user_id, announcement_id,
                                          info)
        return c.Dismissed(id=announcement_id, position=position)


class AdminAnnouncementsController(Controller):
    path = "/api/admin/announcements"
    tags = ["admin", "announcements"]
    guards = [require_instance_admin]
    request_max_body_size = BODY_LIMIT

    @get("/", summary="Every announcement (instance staff)", cache=False,
         responses=errors(401, 403, 503),
         dependencies={"consistent": read_your_writes("announcements")})
    async def every(self, announcements: NamedDependency[AnnouncementsRuntime],
                    consistent: NamedDependency[Position | None]) -> list[c.Announcement]:
        """Newest first, dismissed or not; `created_by` is who published each."""
        return await queries.everything(announcements.pool)

    @post("/", status_code=201, summary="Publish an announcement to every user",
          responses=errors(401, 403, 409, 413, 422))
    async def publish(self, data: JSONBody[c.NewAnnouncement],
                      announcements: NamedDependency[AnnouncementsRuntime],
                      principal: NamedDependency[Principal],
                      info: NamedDependency[RequestInfo]) -> c.Announcement:
        """Title 1-200 and body 1-5000 characters, not blank (400). Every live socket gets
        `announcement` at once; a socket resuming from before it gets it on replay."""
        announcement_id, _ = await commands.publish(
            announcements, principal.user_id, principal.is_staff, data.title, data.body, info)
        return await queries.published(announcements.store, announcement_id)
