"""Operators' view of the projections: status of every projector, and rebuild on demand
(zero downtime: the current version answers until the new one has caught up)."""

from __future__ import annotations

import msgspec
from litestar import Controller, Response
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath

from chatalot.api.context import errors
from chatalot.api.errors import ApiError
from chatalot.api.guards import require_instance_admin
from chatalot.api.routes import get, post
from chatalot.services import Services
from projections import ProjectionHost, ProjectionStatus, RebuildProgress


class ProjectionItem(msgspec.Struct):
    name: str
    version: int | None
    state: str
    """live | rebuilding <n>% | failed | stopped (behind, and no node runs it)"""
    position: str | None
    lag_events: int
    lag_seconds: float
    error: str | None
    """`at position <p>: <error>` while failed"""
    rebuild: RebuildProgress | None = None
    """While a build is in progress: its version, events done and total, rate (events/s)
    and ETA (seconds)"""


class RebuildReply(msgspec.Struct):
    name: str
    requested: bool
    """false when a rebuild was already under way (nothing new was started)"""
    state: str


def item(status: ProjectionStatus) -> ProjectionItem:
    return ProjectionItem(
        name=status.name,
        version=status.version,
        state=status.label,
        position=status.position,
        lag_events=status.lag_events,
        lag_seconds=status.lag_seconds,
        error=status.error,
        rebuild=status.rebuild,
    )


def _host(services: Services) -> ProjectionHost:
    host: ProjectionHost | None = getattr(services, "projections", None)
    if host is None:
        raise ApiError(503, "internal", "projections are not available in this process")
    return host


_ERRORS = errors(401, 403)


class AdminProjectionsController(Controller):
    path = "/api/admin/projections"
    tags = ["admin"]
    guards = [require_instance_admin]

    @get("/", summary="Every projector's position, lag and state", cache=False,
         responses=_ERRORS)
    async def list_projections(self, services: NamedDependency[Services]) -> list[ProjectionItem]:
        return [item(s) for s in await _host(services).status()]

    @post("/{name:str}/rebuild", summary="Rebuild a projector beside the current version",
          status_code=202,
          responses={**errors(401, 403, 404, 409, 422),
                     200: ResponseSpec(RebuildReply, description="already rebuilding")})
    async def rebuild(self, services: NamedDependency[Services], name: FromPath[str]
                      ) -> Response[RebuildReply]:
        host = _host(services)
        if name not in host.projectors:
            raise ApiError(404, "not_found", f"no projector named {name!r}")
        requested = await host.request_rebuild(name)
        status = next(s for s in await host.status() if s.name == name)
        return Response(
            RebuildReply(name=name, requested=requested, state=item(status).state),
            status_code=202 if requested else 200,
        )
