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
from chatalot.api.account import AccountController, TotpController
from chatalot.api.admin_projections import AdminProjectionsController
from chatalot.api.admin_users import (
    AdminInvitesController,
    AdminReportsController,
    AdminUsersController,
)
from chatalot.api.auth import AuthController
from chatalot.api.context import DEPENDENCIES as REQUEST_DEPENDENCIES
from chatalot.api.errors import exception_handlers
from chatalot.api.health import HealthController
from chatalot.api.idempotency import idempotency_middleware
from chatalot.api.keys import KeysController, SenderKeysController
from chatalot.api.perimeter import (
    cors_config,
    head_limit_middleware,
    rate_limit_middleware,
    security_headers,
)
from chatalot.api.read_your_writes import remember_writes_middleware
from chatalot.api.request import ChatalotRequest
from chatalot.api.users import ReportsController, UsersController
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
        route_handlers=[
            HealthController,
            AdminProjectionsController,  # projections (issue 3)
            # accounts, authentication, administration of users (issue 4)
            AuthController, AccountController, TotpController, UsersController,
            ReportsController, AdminUsersController, AdminInvitesController,
            AdminReportsController,
            KeysController, SenderKeysController,  # the key server (issue 5)
        ],
        dependencies={
            "services": Provide(provide_services, sync_to_thread=False),
            **REQUEST_DEPENDENCIES,
        },
        exception_handlers=exception_handlers,
        request_class=ChatalotRequest,
        middleware=[head_limit_middleware, rate_limit_middleware, idempotency_middleware,
                    remember_writes_middleware],
        before_send=[security_headers(settings)],
        cors_config=cors_config(settings),
        lifespan=[lifespan],
        request_max_body_size=settings.limits.max_request_body_bytes,
        openapi_config=OpenAPIConfig(title="Chatalot", version=__version__, path="/schema"),
        debug=False,
    )
