"""Spaces tests: the real app on a fresh PostgreSQL database per test (the accounts
fixtures); spaces data is built through HTTP (tests/spaces/builders.py)."""

from __future__ import annotations

import pytest

from tests.accounts.conftest import (  # noqa: F401 - fixtures
    Api,
    api,
    clock,
    fast_database_url,
    settings,
)
from tests.spaces.builders import SpacesBuilder


@pytest.fixture
def spaces(api: Api) -> SpacesBuilder:  # noqa: F811 - the accounts fixture
    return SpacesBuilder(api)
