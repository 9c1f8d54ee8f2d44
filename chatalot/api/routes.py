"""The route decorators of every controller: Litestar's, except that a guard is handed
the route handler itself.

Litestar's `authorize_connection` hands each guard `copy(handler)`, so that a guard cannot
change the handler for later requests. Ours only read it (chatalot/api/guards.py), and
the copy of a handler (some sixty attributes) was about 2 % of a send's server CPU under
16 senders. Litestar's own per-method decorators are thin wrappers of HTTPRouteHandler
that set `http_method`; these are the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import HttpMethod
from litestar.handlers import HTTPRouteHandler


class Route(HTTPRouteHandler):
    __slots__ = ()

    async def authorize_connection(self, connection: ASGIConnection[Any, Any, Any, Any]
                                   ) -> None:
        for guard in self.resolve_guards():
            await guard(connection, self)  # type: ignore[arg-type]


def _decorator(method: HttpMethod) -> Callable[..., Route]:
    def decorator(path: str | None = None, **kwargs: Any) -> Route:
        return Route(path, http_method=method, **kwargs)
    decorator.__name__ = method.value.lower()
    return decorator


get = _decorator(HttpMethod.GET)
post = _decorator(HttpMethod.POST)
put = _decorator(HttpMethod.PUT)
patch = _decorator(HttpMethod.PATCH)
delete = _decorator(HttpMethod.DELETE)
