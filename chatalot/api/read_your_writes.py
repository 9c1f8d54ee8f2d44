"""Read-your-writes (docs/architecture.md, "The life of a query"): a query sent with
`Chatalot-Min-Position: <position>` answers only once the projections it reads have applied
that position, waiting at most `limits.read_your_writes_wait_ms`, else 503 `projection_lag`.
A malformed position is 400 `bad_request`.

By default, without the header, a query sent with a session's access token waits for that
session's last command (chatalot/session_positions.py): the middleware below remembers it
before the command's reply goes out. The header wins when it names a later position.

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

import logging
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.params import HeaderParameter
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from chatalot.api.context import cached_principal, principal_of
from chatalot.api.errors import ApiError
from chatalot.session_positions import RequestWrites, SessionPositions, current_writes
from event_store import InvalidPosition, Position

log = logging.getLogger(__name__)

HEADER = "Chatalot-Min-Position"
POSITION_PATTERN = r"^[0-9]{1,9}\.[0-9]{1,19}\.[0-9]{1,19}$"  # event_store.Position


async def wait_for_position(
    connection: ASGIConnection[Any, Any, Any, Any], projectors: Sequence[str]
) -> Position | None:
    """Wait until every named projector has applied the request's minimum position (the
    header's, or the later of it and the session's last command); return that position."""
    raw = connection.headers.get(HEADER)
    position: Position | None = None
    if raw is not None:
        try:
            position = Position.parse(raw.strip())
        except InvalidPosition as exc:
            raise ApiError(400, "bad_request", f"{HEADER}: {exc}") from None
    services = connection.app.state.services
    if connection.headers.get("authorization"):
        principal = await principal_of(connection)
        own = await _last_of(services.session_positions, principal.session_id)
        if own is not None and (position is None or own > position):
            position = own
    if position is None:
        return None
    host = getattr(services, "projections", None)
    wait = services.settings.limits.read_your_writes_wait_ms / 1000
    if host is None or not await host.wait_for(projectors, position, wait):
        raise ApiError(
            503, "projection_lag", "the read models have not reached that position yet",
            headers={"Retry-After": "1"},
        )
    return position


async def _last_of(positions: SessionPositions, session_id: uuid.UUID) -> Position | None:
    try:
        return await positions.last(session_id)
    except Exception as exc:  # Redis away: answer as without the default, never fail
        log.warning("session position unavailable: %s", type(exc).__name__)
        return None


def writes_of_session(session_id: uuid.UUID) -> None:
    """For commands that start a session (register, login, refresh): what they committed
    is that session's to read, not the (anonymous) caller's."""
    writes = current_writes.get()
    if writes is not None:
        writes.session_id = session_id


def remember_writes_middleware(app: ASGIApp) -> ASGIApp:
    """Remember the position of a request's last committed command for its session, before
    the reply's first byte: the client cannot send its next query any earlier."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await app(scope, receive, send)
            return
        writes = RequestWrites()

        async def remember_then_send(message: Message) -> None:
            if message["type"] == "http.response.start" and writes.position is not None:
                session = writes.session_id or getattr(cached_principal(scope),
                                                       "session_id", None)
                if session is not None:
                    positions = scope["litestar_app"].state.services.session_positions
                    try:
                        await positions.remember(session, writes.position)
                    except Exception as exc:  # best effort: the header still works
                        log.warning("session position not kept: %s", type(exc).__name__)
            await send(message)

        token = current_writes.set(writes)
        try:
            await app(scope, receive, remember_then_send)
        finally:
            current_writes.reset(token)

    return middleware


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
