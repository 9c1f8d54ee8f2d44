"""The Litestar application: controllers, dependencies, error handling, lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from chatalot import __version__
from chatalot.api.admin_projections import AdminProjectionsController
from chatalot.api.errors import exception_handlers
from chatalot.api.health import HealthController
from chatalot.config import Settings
from chatalot.services import Services, open_services

ServicesFactory = Callable[[], AbstractAsyncContextManager[Services]]


def create_app(settings: Settings, database_url: str,
               services_factory: ServicesFactory | None = None) -> Litestar:
    factory = services_factory or (lambda: open_services(settings, database_url))

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with factory() as services:
            app.state.services = services
            yield

    def provide_services(state: State) -> Services:
        services: Services = state.services
        return services

    return Litestar(
        route_handlers=[HealthController, AdminProjectionsController],
        dependencies={"services": Provide(provide_services, sync_to_thread=False)},
        exception_handlers=exception_handlers,
        lifespan=[lifespan],
        request_max_body_size=settings.limits.max_request_body_bytes,
        openapi_config=OpenAPIConfig(title="Chatalot", version=__version__, path="/schema"),
        debug=False,
    )
