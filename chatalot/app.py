"""The Litestar application around the routes the composition root gives it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.types import ControllerRouterHandler

from chatalot import __version__
from chatalot.api.context import DEPENDENCIES as REQUEST_DEPENDENCIES
from chatalot.api.correlation import correlation_middleware
from chatalot.api.errors import exception_handlers
from chatalot.api.idempotency import idempotency_middleware
from chatalot.api.perimeter import (
    cors_config,
    head_limit_middleware,
    rate_limit_middleware,
    security_headers,
)
from chatalot.api.read_your_writes import remember_writes_middleware
from chatalot.api.request import ChatalotRequest
from chatalot.config import Settings
from chatalot.metrics import http_config
from chatalot.services import Services

ServicesFactory = Callable[[], AbstractAsyncContextManager[Services]]


def build_app(settings: Settings, route_handlers: Sequence[ControllerRouterHandler],
              services_factory: ServicesFactory) -> Litestar:
    """The HTTP app around the given routes: what every route shares (the process's
    services, who is calling, errors, perimeter, Idempotency-Key, read-your-writes,
    OpenAPI). chatalot/bootstrap.py says which routes."""
    factory = services_factory

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with factory() as services:
            app.state.services = services
            yield

    def provide_services(state: State) -> Services:
        services: Services = state.services
        return services

    return Litestar(
        route_handlers=list(route_handlers),
        dependencies={
            "services": Provide(provide_services, sync_to_thread=False),
            **REQUEST_DEPENDENCIES,
        },
        exception_handlers=exception_handlers,
        request_class=ChatalotRequest,
        # outermost first: the correlation id and the request metrics see every answer,
        # the perimeter's 400s and 429s included
        middleware=[correlation_middleware, http_config().middleware, head_limit_middleware,
                    rate_limit_middleware, idempotency_middleware, remember_writes_middleware],
        before_send=[security_headers(settings)],
        cors_config=cors_config(settings),
        lifespan=[lifespan],
        request_max_body_size=settings.limits.max_request_body_bytes,
        openapi_config=OpenAPIConfig(title="Chatalot", version=__version__, path="/schema"),
        debug=False,
        # logging is the process's (chatalot/logs.py): Litestar's own config would replace
        # the root handler with its plain-text one
        logging_config=None,
    )
