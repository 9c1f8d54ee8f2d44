"""Announcement tests: the real app on a fresh PostgreSQL database per test (the accounts
fixtures). The first user registered is the instance owner (staff); `admin` is granted
instance admin through HTTP; `alice` and `bob` are plain members."""

from __future__ import annotations

from dataclasses import dataclass
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
from tests.spaces.conftest import make_admin


@dataclass
class Cast:
    owner: User
    admin: User
    alice: User
    bob: User


@pytest.fixture
async def cast(api: Api) -> Cast:  # noqa: F811 - the accounts fixture
    owner = await api.register("root")
    admin, alice, bob = [await api.register(n) for n in ("staffer", "alice", "bob")]
    return Cast(owner, await make_admin(api, owner, admin), alice, bob)


async def publish(api: Api, by: User, title: str = "Maintenance",  # noqa: F811
                  body: str = "Down at 22:00") -> dict[str, Any]:
    r = await api.client.post("/api/admin/announcements", headers=by.auth,
                              json={"title": title, "body": body})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def listed(app: Api, user: User, position: str | None = None,
                 path: str = "/api/announcements") -> list[dict[str, Any]]:
    headers = {**user.auth, **({"Chatalot-Min-Position": position} if position else {})}
    r: httpx.Response = await app.client.get(path, headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json())


async def dismiss(app: Api, user: User, announcement_id: str) -> httpx.Response:
    return await app.client.post(f"/api/announcements/{announcement_id}/dismiss",
                                 headers=user.auth)
