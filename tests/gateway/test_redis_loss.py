"""A node that loses Redis (issue 14 item 5): it keeps serving its own sockets (signals
and log events), catches up from the log without wake-ups, and its signals reach the other
node again when Redis returns. Node A talks to Redis through a proxy the test can cut."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import pytest

from tests.gateway.conftest import REDIS, Cluster, HttpApi, Node, free_port, socket_of
from tests.spaces.builders import SpacesBuilder

pytestmark = pytest.mark.redis


class CuttableProxy:
    """A TCP proxy in a thread: `cut()` drops every connection and refuses new ones until
    `restore()` (Redis "goes away" for the node behind it)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.open = True
        self._conns: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.open = False
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._conns.clear()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self._listener.close()


@pytest.fixture(scope="module")
def proxy() -> Iterator[CuttableProxy]:
    if not REDIS:
        pytest.skip("CHATALOT_TEST_REDIS_URL not set")
    parsed = urlparse(REDIS)
    p = CuttableProxy(parsed.hostname or "127.0.0.1", parsed.port or 6379)
    yield p
    p.close()


@pytest.fixture(scope="module")
def nodes(cluster: Cluster, proxy: CuttableProxy) -> Iterator[list[Node]]:
    assert REDIS is not None
    db = urlparse(REDIS).path or "/0"
    a = cluster.add(redis=f"redis://127.0.0.1:{proxy.port}{db}")
    b = cluster.add(redis=REDIS)
    yield [a, b]
    cluster.retire(a, b)


async def test_a_node_without_redis_keeps_serving_and_rejoins(
        nodes: list[Node], proxy: CuttableProxy) -> None:
    a_node, b_node = nodes
    async with httpx.AsyncClient(base_url=a_node.http, timeout=30) as http:
        space = await SpacesBuilder(HttpApi(a_node, http)).community_with_channel(members=2)
    alice, bob, carol = space.everyone
    ch = space.channel_id
    async with socket_of(a_node, alice) as a, socket_of(a_node, bob) as b, \
            socket_of(b_node, carol) as c:
        proxy.cut()
        await asyncio.sleep(0.5)
        # its own sockets: signals between them, a new socket, and log events committed
        # through the other node (no wake-up reaches A: it polls the log)
        await a.send(type="typing", channel_id=ch)
        await b.expect("user_typing", user_id=alice.id)
        async with socket_of(a_node, bob) as b2:
            await b2.send(type="ping", timestamp=1)
            await b2.expect("pong")
        async with httpx.AsyncClient(base_url=b_node.http) as http:
            r = await http.patch("/api/account/profile", headers=carol.auth,
                                 json={"display_name": f"c {uuid.uuid4().hex[:6]}"})
            assert r.status_code == 200, r.text
        assert (await b.expect("user_profile_updated", timeout=10))["position"] == (
            r.json()["position"])
        # Redis returns: A's signals reach B's sockets again
        proxy.restore()
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            await a.send(type="stop_typing", channel_id=ch)
            try:
                await c.expect("user_stopped_typing", user_id=alice.id, timeout=1)
                break
            except AssertionError:
                assert asyncio.get_running_loop().time() < deadline, "signals never returned"
