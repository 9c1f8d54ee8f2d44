"""Messaging tests: the real app on a fresh PostgreSQL database per test (the accounts
fixtures); communities, channels and members are built through HTTP by the spaces
builders (tests/spaces/builders.py)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.accounts.conftest import (  # noqa: F401 - fixtures
    Api,
    User,
    api,
    clock,
    fast_database_url,
    settings,
)
from tests.spaces.builders import Space, SpacesBuilder


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def text_of(message: dict[str, Any]) -> str:
    return base64.b64decode(message["ciphertext"]).decode()


def body(text: str, **extra: Any) -> dict[str, Any]:
    return {"ciphertext": b64(text), "encryption": "none", **extra}


def e2e_body(**extra: Any) -> dict[str, Any]:
    return {"ciphertext": b64(b"\x01opaque"), "nonce": b64(b"n" * 12),
            "encryption": "sender_key", **extra}


class Msg:
    """The accounts Api plus what messaging tests need."""

    def __init__(self, base: Api) -> None:
        self.api = base
        self.client = base.client
        self.spaces = SpacesBuilder(base)

    def at(self, seconds_from_now: float) -> str:
        """An RFC 3339 time on the test's clock."""
        moment = datetime.fromtimestamp(self.api.clock.now + seconds_from_now, UTC)
        return moment.isoformat().replace("+00:00", "Z")

    async def space(self, members: int = 2) -> Space:
        return await self.spaces.community_with_channel(members=members)

    async def send(self, user: Any, channel_id: str, text: str = "hello", *,
                   status: int = 201, **extra: Any) -> dict[str, Any]:
        r = await self.client.post(f"/api/channels/{channel_id}/messages",
                                   json=body(text, **extra), headers=user.auth)
        assert r.status_code == status, r.text
        result: dict[str, Any] = r.json()
        return result

    async def post(self, user: Any, path: str, json: Any = None) -> httpx.Response:
        return await self.client.post(path, json=json, headers=user.auth)

    async def get(self, user: Any, path: str, position: str | None = None,
                  **params: Any) -> httpx.Response:
        headers = dict(user.auth)
        if position:
            headers["Chatalot-Min-Position"] = position
        return await self.client.get(path, headers=headers, params=params)

    async def history(self, user: Any, channel_id: str, position: str | None = None,
                      **params: Any) -> dict[str, Any]:
        r = await self.get(user, f"/api/channels/{channel_id}/messages", position, **params)
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        return result

    async def patch_channel(self, user: Any, channel_id: str, **fields: Any) -> str:
        r = await self.client.patch(f"/api/channels/{channel_id}", json=fields,
                                    headers=user.auth)
        assert r.status_code == 200, r.text
        return str(r.json()["position"])

    async def unread(self, user: Any, position: str | None = None) -> dict[str, Any]:
        r = await self.get(user, "/api/channels/unread", position)
        assert r.status_code == 200, r.text
        return {item["channel_id"]: item for item in r.json()}


@pytest.fixture
def msg(api: Api) -> Msg:  # noqa: F811 - the accounts fixture
    return Msg(api)


def uid(value: str) -> uuid.UUID:
    return uuid.UUID(value)
