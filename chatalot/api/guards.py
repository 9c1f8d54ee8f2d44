"""Route guards: the one place that decides who may call what."""

from __future__ import annotations

import hmac
import os
from typing import Any, Final

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

ADMIN_TOKEN_ENV: Final = "CHATALOT_ADMIN_TOKEN"  # noqa: S105 - a variable name


async def require_instance_admin(
    connection: ASGIConnection[Any, Any, Any, Any], route_handler: BaseRouteHandler
) -> None:
    """Instance admins only.

    Until accounts exist this is an operator token: `Authorization: Bearer <token>` equal to
    CHATALOT_ADMIN_TOKEN (unset: nobody is admin, always 401). The accounts work replaces
    this body with the check of the access token's admin claim.
    """
    expected = os.environ.get(ADMIN_TOKEN_ENV, "")
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), expected.encode()
    ):
        raise NotAuthorizedException("instance admin only")
