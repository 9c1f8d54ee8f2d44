"""Read-your-writes (protocol.md, "Our changes" 3): a query sent with
`Chatalot-Min-Position: <position>` answers only once the projections it reads have applied
that position, waiting at most `limits.read_your_writes_wait_ms`, else 503 `projection_lag`.
A malformed position is 400 `bad_request`.

Either call the helper from a handler:

    await wait_for_position(request, ["messages", "channels"])

or declare it as a dependency, which also documents the header in the OpenAPI schema:

    @get("/channels/{id:str}/messages",
         dependencies={"consistent": read_your_writes("messages")})
    async def history(self, consistent: NamedDependency[Position | None], ...) -> ...

The wait sleeps on an asyncio signal that the projection runtime fires when checkpoints
advance (in this process, or in another one through NOTIFY): no polling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.params import HeaderParameter

from chatalot.api.errors import ApiError
from event_store import InvalidPosition, Position

HEADER = "Chatalot-Min-Position"
POSITION_PATTERN = r"^[0-9]{1,9}\.[0-9]{1,19}\.[0-9]{1,19}$"  # event_store.Position


async def wait_for_position(
    connection: ASGIConnection[Any, Any, Any, Any], projectors: Sequence[str]
) -> Position | None:
    """Wait until every named projector has applied the request's minimum position (if
    it sent one); return that position."""
    raw = connection.headers.get(HEADER)
    if raw is None:
        return None
    try:
        position = Position.parse(raw.strip())
    except InvalidPosition as exc:
        raise ApiError(400, "bad_request", f"{HEADER}: {exc}") from None
    services = connection.app.state.services
    host = getattr(services, "projections", None)
    wait = services.settings.limits.read_your_writes_wait_ms / 1000
    if host is None or not await host.wait_for(projectors, position, wait):
        raise ApiError(
            503, "projection_lag", "the read models have not reached that position yet",
            headers={"Retry-After": "1"},
        )
    return position


def read_your_writes(*projectors: str) -> Provide:
    """A dependency that waits for `projectors` and provides the position (or None)."""

    async def dependency(
        request: Request[Any, Any, Any],
        min_position: Annotated[
            str | None,
            HeaderParameter(
                name=HEADER,
                required=False,
                pattern=POSITION_PATTERN,
                description="Answer only from read models that have applied this position"
                " (a command reply's `position`); 503 projection_lag after "
                "limits.read_your_writes_wait_ms.",
            ),
        ] = None,
    ) -> Position | None:
        return await wait_for_position(request, projectors)

    return Provide(dependency)
