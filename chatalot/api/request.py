"""The app's request class."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ClientException


class ChatalotRequest(Request[Any, Any, Any]):
    """JSON bodies msgspec refuses with an error Litestar does not turn into a 400 (it lets
    them through, and they answered 500): nesting deeper than the decoder recurses (about a
    thousand levels), and strings that are not UTF-8."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise ClientException("request body is nested too deeply") from None
        except UnicodeDecodeError:
            raise ClientException("request body is not valid UTF-8") from None
