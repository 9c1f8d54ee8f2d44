"""Spaces tests: the real app on a fresh PostgreSQL database per test (the accounts
fixtures); spaces data is built through HTTP (tests/spaces/builders.py)."""

from __future__ import annotations

import pytest

from tests.accounts.conftest import (  # noqa: F401 - fixtures
    Api,
    User,
    api,
    clock,
    fast_database_url,
    settings,
)
from tests.spaces.builders import SpacesBuilder


@pytest.fixture
def spaces(api: Api) -> SpacesBuilder:  # noqa: F811 - the accounts fixture
    return SpacesBuilder(api)


@pytest.fixture
async def root(api: Api) -> User:  # noqa: F811 - the accounts fixture
    """The first registered user: the instance owner. Registered first so that the users a
    test creates afterwards are plain members."""
    return await api.register("root")


async def make_admin(api: Api, root: User, user: User) -> User:  # noqa: F811
    """Grant instance admin and sign in again (the token's claim must say so too)."""
    r = await api.client.put(f"/api/admin/users/{user.id}/admin", json={"is_admin": True},
                             headers=root.auth)
    assert r.status_code == 200, r.text
    return await api.relogin(user)
