"""Real PostgreSQL for every test: CHATALOT_TEST_DATABASE_URL, else one embedded server.

Migrations are applied once to a template database; each test gets its own copy, so tests
never see each other's events.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatalot.db import (
    MIGRATIONS_DIR,
    drop_database,
    embedded_postgres,
    ensure_database,
    make_pool,
    with_database,
)
from event_store.migrations import migrate
from tests import hypothesis_budget  # noqa: F401 - loads the profile HYPOTHESIS_PROFILE names

if not os.environ.get("XDG_RUNTIME_DIR"):
    # pgserver asks platformdirs for a runtime directory when it is imported; without one,
    # platformdirs warns (RuntimeDirWarning) and falls back to /tmp/runtime-<uid>. Give this
    # run (and the processes it starts) a private one instead.
    _runtime_dir = tempfile.mkdtemp(prefix="chatalot-test-run-")
    os.environ["XDG_RUNTIME_DIR"] = _runtime_dir
    atexit.register(shutil.rmtree, _runtime_dir, ignore_errors=True)

_RUN = uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    given = os.environ.get("CHATALOT_TEST_DATABASE_URL")
    if given:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="chatalot-test-pg-") as tmp:
        os.chmod(tmp, 0o755)  # pgserver may run postgres as an unprivileged user
        with embedded_postgres(Path(tmp)) as url:
            yield url


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str) -> Iterator[str]:
    name = f"chatalot_tpl_{_RUN}"
    url = with_database(pg_admin_url, name)
    ensure_database(url)
    asyncio.run(migrate(url, MIGRATIONS_DIR))
    yield name
    with contextlib.suppress(Exception):
        drop_database(url)


@pytest.fixture
def database_url(pg_admin_url: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database for this test alone."""
    url = with_database(pg_admin_url, f"chatalot_t_{_RUN}_{uuid.uuid4().hex[:10]}")
    ensure_database(url, template=template_db)
    yield url
    with contextlib.suppress(Exception):
        drop_database(url)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Any]:
    pool = make_pool(database_url, min_size=1, max_size=12)
    await pool.open(wait=True)
    yield pool
    await pool.close()


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("CHATALOT_TEST_REDIS_URL")
    if not url:
        if os.environ.get("CHATALOT_REQUIRE_REDIS"):
            pytest.fail("CHATALOT_TEST_REDIS_URL is required here but not set")
        pytest.skip("CHATALOT_TEST_REDIS_URL not set")
    return url

