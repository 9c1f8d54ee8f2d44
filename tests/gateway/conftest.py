"""Gateway tests: real sockets against real `chatalot serve` processes.

One database for the directory (a copy of the migrated template) and the server
processes on it (ports 18500-18599): a default node, plus the nodes a module needs with
other settings. Users register over HTTP; channel membership is
seeded in the `channel_members` decision table (fixture data) until the spaces context's
commands are merged.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.frames import Close, Opcode
from websockets.uri import parse_uri

from chatalot.db import drop_database, ensure_database, with_database
from tests.accounts.conftest import PASSWORD, TOTP_KEY, key_fields
from tests.spaces.builders import Space, SpacesBuilder

# CHATALOT_TEST_PORTS="low-high": a range of one's own when several runs share a machine
_PORT_RANGE = [int(p) for p in os.environ.get("CHATALOT_TEST_PORTS", "18500-18599").split("-")]
_ports = itertools.count(_PORT_RANGE[0] + (os.getpid() % 10) * 8
                         % max(1, _PORT_RANGE[1] - _PORT_RANGE[0] - 40))
_names = itertools.count(1)
REDIS = os.environ.get("CHATALOT_TEST_REDIS_URL")


def free_port() -> int:
    for _ in range(100):
        port = next(_ports)
        if port > _PORT_RANGE[1]:
            raise RuntimeError(f"out of ports {_PORT_RANGE[0]}-{_PORT_RANGE[1]}")
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


@dataclass
class Node:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_node(database_url: str, data_dir: Path, *, redis: str | None = None,
               port: int | None = None, **env: str) -> Node:
    port = port or free_port()
    log = data_dir / f"node-{port}.log"
    environment = {
        **os.environ,
        "DATABASE_URL": database_url, "PORT": str(port), "HOST": "127.0.0.1",
        "CHATALOT_DATA_DIR": str(data_dir), "REGISTRATION_MODE": "open",
        "PUBLIC_URL": "https://chat.example", "TOTP_ENCRYPTION_KEY": TOTP_KEY,
        "CHATALOT_ARGON2_MEMORY_KIB": "64", "CHATALOT_ARGON2_TIME_COST": "1",
        "CHATALOT_ARGON2_PARALLELISM": "1",
        "CHATALOT_RATE_LIMIT_GENERAL_PER_SEC": "10000",
        "CHATALOT_RATE_LIMIT_GENERAL_BURST": "10000",
        "CHATALOT_RATE_LIMIT_AUTH_PER_SEC": "10000", "CHATALOT_RATE_LIMIT_AUTH_BURST": "10000",
        "CHATALOT_PRESENCE_GRACE_SECS": "1",
        "STUN_URLS": "stun:stun.example:3478",
        "TURN_URLS": "turn:turn.example:3478?transport=udp",
        "TURN_SECRET": "turn-test-secret",
        **env,
    }
    environment.pop("REDIS_URL", None)
    if redis:
        environment["REDIS_URL"] = redis
    process = subprocess.Popen(
        [sys.executable, "-m", "chatalot.cli.main", "serve", "--log-level", "warning"],
        env=environment, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    node = Node(port, process, log)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"node exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{node.http}/api/health", timeout=2).status_code == 200:
                return node
        if time.monotonic() > deadline:
            node.stop()
            raise RuntimeError(f"node did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)


@dataclass
class Cluster:
    database_url: str
    data_dir: Path
    nodes: list[Node] = field(default_factory=list)
    owner: User | None = None
    """The instance's first account (its owner), registered when the first node starts."""

    def retire(self, *nodes: Node) -> None:
        """Stop nodes a module no longer needs (each holds dozens of connections)."""
        for node in nodes:
            if node.process.poll() is None:
                node.process.terminate()
        for node in nodes:
            node.stop()
            if node in self.nodes:
                self.nodes.remove(node)

    def add(self, **kwargs: Any) -> Node:
        node = start_node(self.database_url, self.data_dir, **kwargs)
        self.nodes.append(node)
        if self.owner is None:
            self.owner = register_sync(node)
        return node


@pytest.fixture(scope="module")
def cluster(pg_admin_url: str, template_db: str) -> Iterator[Cluster]:
    """One database and its nodes for a module (a node costs seconds to start; a module
    that needs other settings adds its own nodes). Not for the whole session: every node
    holds pools of connections, and the suites after this one need them back."""
    url = with_database(pg_admin_url, f"chatalot_ws_{uuid.uuid4().hex[:10]}")
    ensure_database(url, template=template_db)
    with tempfile.TemporaryDirectory(prefix="chatalot-ws-") as tmp:
        cluster = Cluster(url, Path(tmp))
        try:
            yield cluster
        finally:
            for node in cluster.nodes:  # all at once, then wait for each
                if node.process.poll() is None:
                    node.process.terminate()
            for node in cluster.nodes:
                node.stop()
            with contextlib.suppress(Exception):
                drop_database(url)


METRICS_TOKEN = "gateway-metrics-token"


@pytest.fixture(scope="module")
def default_node(cluster: Cluster) -> Node:
    """No Redis; `authenticate` within 1 s (the handshake tests wait for the deadline)."""
    return cluster.add(CHATALOT_WS_HANDSHAKE_TIMEOUT_SECS="1",
                       CHATALOT_METRICS_TOKEN=METRICS_TOKEN)


@pytest.fixture(scope="module")
def node(default_node: Node) -> Node:
    return default_node


@dataclass
class User:
    id: str
    username: str
    access: str
    session_id: str = ""

    @property
    def uuid(self) -> uuid.UUID:
        return uuid.UUID(self.id)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


def _user(r: httpx.Response, name: str) -> User:
    assert r.status_code == 201, r.text
    body = r.json()
    return User(body["user"]["id"], name, body["access_token"])


def register_sync(node: Node) -> User:
    name = f"ws{os.getpid()}x{next(_names)}"
    return _user(httpx.post(f"{node.http}/api/auth/register", timeout=30, json={
        "username": name, "password": PASSWORD, **key_fields()}), name)


async def register(node: Node) -> User:
    name = f"ws{os.getpid()}x{next(_names)}"
    async with httpx.AsyncClient(base_url=node.http, timeout=30) as http:
        return _user(await http.post("/api/auth/register", json={
            "username": name, "password": PASSWORD, **key_fields()}), name)


async def join(database_url: str, channel: uuid.UUID, *users: User, role: str = "member"
               ) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for user in users:
            await conn.execute(
                "INSERT INTO channel_members (channel_id, user_id, role) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING", (channel, user.uuid, role))


async def leave(database_url: str, channel: uuid.UUID, user: User) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("DELETE FROM channel_members WHERE channel_id = %s AND user_id = %s",
                           (channel, user.uuid))


class HttpApi:
    """What tests.spaces.builders needs of an API: a client and a way to register."""

    def __init__(self, node: Node, client: httpx.AsyncClient) -> None:
        self.node, self.client = node, client

    async def register(self) -> User:
        return await register(self.node)


async def space_on(node: Node, members: int, kind: str = "text") -> Space:
    """A community with one channel (spaces commands over HTTP): its owner and `members`
    more users are members of the channel."""
    async with httpx.AsyncClient(base_url=node.http, timeout=30) as http:
        return await SpacesBuilder(HttpApi(node, http)).community_with_channel(
            members=members, kind=kind)


class Client:
    """A socket with a mailbox: `expect(type)` waits for the next frame of that type and
    keeps the others in order (`frames`)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, timeout: float = 10) -> dict[str, Any]:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.frames.append(frame)
        return frame

    async def expect(self, kind: str, timeout: float = 10, **match: Any) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for frame in self.frames:
                if frame.get("type") == kind and all(frame.get(k) == v
                                                     for k, v in match.items()):
                    self.frames.remove(frame)
                    return frame
            left = deadline - asyncio.get_running_loop().time()
            try:
                if left <= 0:
                    raise TimeoutError
                await self.recv(left)
            except TimeoutError:
                raise AssertionError(f"no {kind} {match} within {timeout} s; got"
                                     f" {self.frames}") from None

    async def silent(self, kind: str, wait: float = 0.5, **match: Any) -> None:
        """No frame of this type (with these fields) arrives within `wait` seconds."""
        try:
            frame = await self.expect(kind, wait, **match)
        except AssertionError:  # expect's "none within the wait": what this asserts
            return
        raise AssertionError(f"unexpected {frame}")  # outside the try: it must fail the test

    async def closed(self, timeout: float = 10) -> int | None:
        """Wait for the server to close; the close code."""
        with contextlib.suppress(TimeoutError, websockets.ConnectionClosed):
            while True:
                await self.recv(timeout)
        return self.ws.close_code


@contextlib.asynccontextmanager
async def socket_of(node: Node, user: User, *, resume_after: str | None = None,
                    authenticate: bool = True, **kwargs: Any) -> AsyncIterator[Client]:
    async with connect(node.ws, max_size=4 * 1024 * 1024, open_timeout=20, **kwargs) as ws:
        client = Client(ws)
        if authenticate:
            frame: dict[str, Any] = {"type": "authenticate", "token": user.access}
            if resume_after is not None:
                frame["resume_after"] = resume_after
            await client.send(**frame)
            auth = await client.recv()
            assert auth["type"] == "authenticated", auth
            client.position = auth["position"]  # type: ignore[attr-defined]
        yield client


class RawClient:
    """A WebSocket client that reads only when told to (websockets' sans-I/O protocol over
    a plain socket with a small receive buffer): a consumer that really stops reading."""

    def __init__(self, node: Node) -> None:
        self.proto = ClientProtocol(parse_uri(node.ws), max_size=None)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", node.port))
        self.proto.send_request(self.proto.connect())
        self._flush()
        while self.proto.handshake_exc is None and not self.proto.events_received() and (
                self.proto.state.name == "CONNECTING"):
            self.proto.receive_data(self.sock.recv(65536))

    def _flush(self) -> None:
        for data in self.proto.data_to_send():
            if data:
                self.sock.sendall(data)

    def send(self, **frame: object) -> None:
        self.proto.send_text(json.dumps(frame).encode())
        self._flush()

    def close_code(self, timeout: float) -> int | None:
        """Read everything now; the code of the server's close frame, if one came."""
        self.sock.settimeout(timeout)
        with contextlib.suppress(OSError):
            while data := self.sock.recv(1 << 20):
                self.proto.receive_data(data)
                for event in self.proto.events_received():
                    if event.opcode == Opcode.CLOSE:
                        return Close.parse(event.data).code
        return None
