"""Route guards."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from chatalot.domain.errors import DomainError


async def require_instance_admin(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Instance admins and the owner only: a valid access token whose `is_admin` or
    `is_owner` claim is set and still true in the account's current state (401 without a
    valid token, 403 for everyone else)."""
    from chatalot.api.context import principal_of

    principal = await principal_of(connection)
    if not principal.is_staff:
        raise DomainError("forbidden", "instance admin only")


async def require_authenticated(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    from chatalot.api.context import principal_of

    await principal_of(connection)
