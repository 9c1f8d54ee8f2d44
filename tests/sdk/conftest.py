"""SDK tests: SDK clients against a real `chatalot serve` process (its own port in
18700-18799, a fresh database copied from the migrated template), over HTTP.

Until the spaces context lands, channel membership is fixture data: rows in the
`channel_members` decision table (as tests/keys does).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from chatalot.db import drop_database, ensure_database, with_database
from chatalot_sdk import Client

PASSWORD = "correct horse battery staple"
PASSPHRASE = "a passphrase for the key file"
PORTS = range(18700, 18800)
SCRYPT_N = 2**10  # the key file's KDF made cheap for tests (kept in the file)


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18700-18799")


class Server:
    """A running `chatalot serve` and its database."""

    def __init__(self, url: str, database_url: str, tmp: Path) -> None:
        self.url = url
        self.database_url = database_url
        self.tmp = tmp
        self._names = 0

    def key_file(self, name: str) -> Path:
        return self.tmp / f"{name}.keys"

    def name(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}{self._names}"

    async def register(self, prefix: str, **options: object) -> Client:
        name = self.name(prefix)
        return await Client.register(self.url, name, PASSWORD, self.key_file(name),
                                     PASSPHRASE, scrypt_n=SCRYPT_N, **options)

    async def join(self, channel_id: uuid.UUID, *clients: Client) -> None:
        """Fixture data: membership rows (the spaces context's decision table)."""
        async with await psycopg.AsyncConnection.connect(self.database_url,
                                                         autocommit=True) as conn:
            for client in clients:
                await conn.execute(
                    "INSERT INTO channel_members (channel_id, user_id, role)"
                    " VALUES (%s, %s, 'member')", (channel_id, client.user_id))


@contextlib.contextmanager
def running_server(pg_admin_url: str, template_db: str, tmp: Path) -> Iterator[Server]:
    url = with_database(pg_admin_url, f"chatalot_sdk_{uuid.uuid4().hex[:12]}")
    ensure_database(url, template=template_db)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "PORT": str(port), "HOST": "127.0.0.1",
           "CHATALOT_DATA_DIR": str(tmp / "data"), "REGISTRATION_MODE": "open",
           "CHATALOT_ARGON2_MEMORY_KIB": "64", "CHATALOT_ARGON2_TIME_COST": "1",
           "CHATALOT_ARGON2_PARALLELISM": "1",
           "CHATALOT_RATE_LIMIT_GENERAL_PER_SEC": "10000",
           "CHATALOT_RATE_LIMIT_GENERAL_BURST": "10000",
           "CHATALOT_RATE_LIMIT_AUTH_PER_SEC": "10000",
           "CHATALOT_RATE_LIMIT_AUTH_BURST": "10000"}
    env.pop("REDIS_URL", None)
    log = open(tmp / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "chatalot.cli.main", "serve", "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/health", timeout=2) as r:
                    if json.loads(r.read())["db_healthy"]:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not come up:\n"
                                   + (tmp / "server.log").read_text()[-3000:])
            time.sleep(0.2)
        yield Server(base, url, tmp)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        with contextlib.suppress(Exception):
            drop_database(url)


@pytest.fixture(scope="module")
def server(pg_admin_url: str, template_db: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Server]:
    with running_server(pg_admin_url, template_db, tmp_path_factory.mktemp("sdk")) as s:
        yield s


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    """Clients a test opened, closed after it (append to the list)."""
    opened: list[Client] = []
    yield opened
    for client in opened:
        await client.close()
