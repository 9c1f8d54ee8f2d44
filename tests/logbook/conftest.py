"""Logbook tests: the real app on a fresh database per test (the accounts fixtures); the
first account registered is the instance owner."""

from __future__ import annotations

from tests.accounts.conftest import (  # noqa: F401 - fixtures
    Api,
    User,
    api,
    clock,
    fast_database_url,
    settings,
)
