"""How the app answers errors that reach it from below the controllers."""

from __future__ import annotations

from litestar import Litestar, post
from litestar.testing import AsyncTestClient

from chatalot.api.errors import exception_handlers
from event_store import ConcurrencyError, StreamOrderConflict


async def test_a_command_that_lost_every_race_is_409_with_retry_after():
    """run_command retries a lost race; one lost on every attempt is a hot stream, not a
    fault: 409 conflict with Retry-After (it was a 500)."""

    @post("/lost")
    async def lost() -> None:
        raise ConcurrencyError("hot-1", 3, 4)

    @post("/order")
    async def order() -> None:
        raise StreamOrderConflict("hot-1", 4)

    app = Litestar(route_handlers=[lost, order], exception_handlers=exception_handlers)
    async with AsyncTestClient(app=app) as client:
        for path in ("/lost", "/order"):
            r = await client.post(path)
            assert r.status_code == 409, r.text
            assert r.json()["code"] == "conflict"
            assert r.headers["retry-after"] == "1"
