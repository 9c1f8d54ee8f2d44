"""SDK tests: SDK clients against a real `chatalot serve` process (its own port in
18700-18799, a fresh database copied from the migrated template), over HTTP.

Channels are made through the SDK itself (a public community with one channel that the
members join).
"""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from chatalot.db import drop_database, ensure_database, with_database
from chatalot_sdk import Client
from tests.gateway.conftest import Node, start_node

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

    def __init__(self, node: Node, database_url: str, tmp: Path) -> None:
        self.node = node
        self.url = node.http
        self.database_url = database_url
        self.tmp = tmp
        self._names = 0

    def restart(self) -> None:
        """Stop the process and start a new one on the same port and database."""
        self.node.stop()
        self.node = start_node(self.database_url, self.tmp, port=self.node.port)

    def key_file(self, name: str) -> Path:
        return self.tmp / f"{name}.keys"

    def name(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}{self._names}"

    async def register(self, prefix: str, **options: object) -> Client:
        name = self.name(prefix)
        return await Client.register(self.url, name, PASSWORD, self.key_file(name),
                                     PASSPHRASE, scrypt_n=SCRYPT_N, **options)

    async def channel(self, owner: Client, *members: Client) -> uuid.UUID:
        """A text channel in a new public community of `owner`, which `members` join
        (and with it the channel), through the SDK."""
        community = await owner.spaces.create_community(self.name("c"), public=True)
        group = await owner.spaces.create_group(community, "general")
        channel = await owner.spaces.create_channel(group, "chat")
        for member in members:
            await member.spaces.join_community(community)
        return channel


@contextlib.contextmanager
def running_server(pg_admin_url: str, template_db: str, tmp: Path) -> Iterator[Server]:
    """A fresh database and one `chatalot serve` node on it (the gateway tests' launcher)."""
    url = with_database(pg_admin_url, f"chatalot_sdk_{uuid.uuid4().hex[:12]}")
    ensure_database(url, template=template_db)
    server = Server(start_node(url, tmp, port=free_port()), url, tmp)
    try:
        yield server
    finally:
        server.node.stop()
        with contextlib.suppress(Exception):
            drop_database(url)


@pytest.fixture(scope="package")
def server(pg_admin_url: str, template_db: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Server]:
    """One node for the SDK tests (each registers its own users), stopped after the last
    of them: a node holds database connections the rest of the suite needs."""
    with running_server(pg_admin_url, template_db, tmp_path_factory.mktemp("sdk")) as s:
        yield s


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    """Clients a test opened, closed after it (append to the list)."""
    opened: list[Client] = []
    yield opened
    for client in opened:
        await client.close()
