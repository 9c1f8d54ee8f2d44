"""Every HTTP route is a `Route` (chatalot/api/routes.py): its guards get the handler
itself, not Litestar's copy of it, and still refuse what they refuse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from chatalot.api.routes import Route, get, post
from chatalot.bootstrap import create_app
from tests.accounts.conftest import make_settings

seen: list[BaseRouteHandler] = []


async def only_with_pass(connection: ASGIConnection[Any, Any, Any, Any],
                         handler: BaseRouteHandler) -> None:
    seen.append(handler)
    if connection.headers.get("x-pass") != handler.opt["password"]:
        raise NotAuthorizedException("no pass")


@get("/read", guards=[only_with_pass], opt={"password": "open"})
async def read() -> str:
    return "read"


@post("/write", guards=[only_with_pass], opt={"password": "sesame"})
async def write() -> str:
    return "written"


def test_every_http_route_of_the_app_is_a_route(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path), "postgresql://unused/none")
    # ours: not Litestar's own (its answers to OPTIONS, the OpenAPI documents under
    # /schema, the web client's static files), whose functions live in litestar
    ours = [h for route in app.routes if isinstance(route, HTTPRoute)
            for h in route.route_handlers if h.fn.__module__.startswith("chatalot.")]
    assert len(ours) > 100
    assert [h for h in ours if not isinstance(h, Route)] == []


def test_guards_get_the_handler_itself_and_still_refuse() -> None:
    seen.clear()
    with TestClient(Litestar([read, write])) as client:
        assert client.get("/read", headers={"x-pass": "open"}).text == "read"
        assert client.get("/read").status_code == 401
        assert client.post("/write", headers={"x-pass": "sesame"}).status_code == 201
        assert client.post("/write", headers={"x-pass": "open"}).status_code == 401
    assert len(seen) == 4
    assert seen[0] is seen[1] and seen[2] is seen[3] and seen[0] is not seen[2]
    assert all(isinstance(h, Route) for h in seen)
