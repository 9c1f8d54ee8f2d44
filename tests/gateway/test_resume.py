"""Resume from the log (issue 14 items 3 and 7): no gap and no duplicate at
Hypothesis-chosen disconnect points, across a server restart, for a client that missed
more than a page of events; and two `chatalot serve` nodes on one PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatalot.bootstrap import build_registry
from chatalot.db import make_pool
from chatalot.domain.accounts.events import ProfileUpdated
from chatalot.domain.streams import user_stream
from event_store import ANY, EventStore, InProcessBus, NewEvent
from tests.gateway.conftest import (
    REDIS,
    Cluster,
    Node,
    User,
    join,
    register,
    socket_of,
    space_on,
    start_node,
)


@pytest.fixture(scope="module")
def nodes(cluster: Cluster) -> Iterator[list[Node]]:
    """Two nodes sharing Redis when a test Redis is given, else one node."""
    mine = [cluster.add(redis=REDIS) for _ in range(2 if REDIS else 1)]
    yield mine
    cluster.retire(*mine)


async def update_profile(http: httpx.AsyncClient, user: User, n: int) -> str:
    r = await http.patch("/api/account/profile", headers=user.auth,
                         json={"display_name": f"name {n}"})
    assert r.status_code == 200, r.text
    return str(r.json()["position"])


async def pair(cluster: Cluster, node: Node) -> tuple[User, User]:
    alice, bob = await register(node), await register(node)
    await join(cluster.database_url, uuid.uuid4(), alice, bob)
    return alice, bob


async def append_profile_changes(database_url: str, user: User, count: int) -> list[str]:
    """Many events at once, as test data: appended straight to the log (what the profile
    command records), so the test does not spend its time in 520 HTTP requests."""
    pool = make_pool(database_url, min_size=1, max_size=2)
    await pool.open(wait=True)
    try:
        store = EventStore(pool, build_registry(), InProcessBus())
        positions = []
        for first in range(0, count, 500):  # an append takes at most MAX_BATCH events
            result = await store.append(user_stream(user.uuid), [
                NewEvent(ProfileUpdated(user_id=user.uuid, display_name=f"n{n}"))
                for n in range(first, min(count, first + 500))], ANY)
            positions += result.positions
    finally:
        await pool.close()
    return [p.encode() for p in positions]


class Observer:
    """Bob's view: the positions of alice's profile events, across reconnects."""

    def __init__(self, bob: User, alice: User) -> None:
        self.bob, self.alice = bob, alice
        self.seen: list[str] = []
        self.last: str | None = None

    async def session(self, node: Node, stop_after: int | None, total: int) -> None:
        async with socket_of(node, self.bob, resume_after=self.last) as c:
            if self.last is None:
                self.last = c.position  # type: ignore[attr-defined]
            while len(self.seen) < total and (stop_after is None or len(self.seen) < stop_after):
                frame = await c.recv(15)
                self._take(frame)

    def _take(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "user_profile_updated" and frame["user_id"] == self.alice.id:
            self.seen.append(frame["position"])
            self.last = frame["position"]
        elif frame["type"] == "resumed":
            self.last = frame["position"]


async def scenario(cluster: Cluster, nodes: list[Node], cuts: list[int],
                   hops: list[bool]) -> None:
    total = 5
    alice, bob = await pair(cluster, nodes[0])
    observer = Observer(bob, alice)
    sent: list[str] = []

    async def write() -> None:
        async with httpx.AsyncClient(base_url=nodes[0].http, timeout=30) as http:
            for n in range(total):
                sent.append(await update_profile(http, alice, n))
                await asyncio.sleep(0.01)

    # bob is live before the first event: everything after his first position is his
    at = 0
    await observer.session(nodes[0], 0, total)
    writer = asyncio.create_task(write())
    for i, cut in enumerate([*sorted(set(cuts)), None]):
        at = (at + (1 if hops[i % len(hops)] else 0)) % len(nodes)
        await observer.session(nodes[at], cut, total)
    await writer
    assert observer.seen == sent


@given(cuts=st.lists(st.integers(1, 4), max_size=4), hops=st.lists(st.booleans(), min_size=1,
                                                                    max_size=5))
def test_resume_has_no_gap_and_no_duplicate(cluster: Cluster, nodes: list[Node],
                                            cuts: list[int], hops: list[bool]) -> None:
    asyncio.run(scenario(cluster, nodes, cuts, hops))


async def test_a_client_that_missed_more_than_a_page_gets_everything(
        cluster: Cluster, nodes: list[Node]) -> None:
    node = nodes[0]
    alice, bob = await pair(cluster, node)
    async with socket_of(node, bob) as c:
        start = c.position  # type: ignore[attr-defined]
    sent = await append_profile_changes(cluster.database_url, alice, 520)
    async with socket_of(node, bob, resume_after=start) as c:
        resumed = await c.expect("resumed", timeout=30)
        got = [f["position"] for f in c.frames if f["type"] == "user_profile_updated"]
    assert sorted(got) == sorted(sent) and len(got) == len(set(got)) == 520
    assert got == sorted(got, key=lambda p: tuple(int(x) for x in p.split(".")))
    assert resumed["position"] == got[-1]


async def test_replies_do_not_wait_behind_a_long_replay(
        cluster: Cluster, nodes: list[Node]) -> None:
    """A socket resuming after thousands of events is answered at once: its own frames are
    read during the replay and their replies jump the queue (before, the reader started
    only after `resumed`)."""
    node = nodes[0]
    alice, bob = await pair(cluster, node)
    async with socket_of(node, bob) as c:
        start = c.position  # type: ignore[attr-defined]
    await append_profile_changes(cluster.database_url, alice, 3000)
    async with socket_of(node, bob, resume_after=start) as c:
        await c.send(type="ping", ref="p", timestamp=7)
        order = []
        while not order or order[-1] != "resumed":
            order.append((await c.recv(timeout=60))["type"])
    assert "pong" in order, order[-3:]  # before `resumed`, not after it
    assert order.count("user_profile_updated") == 3000


async def test_resume_across_a_server_restart(cluster: Cluster, nodes: list[Node]) -> None:
    node = nodes[-1]
    alice, bob = await pair(cluster, node)
    async with socket_of(node, bob) as c:
        last = c.position  # type: ignore[attr-defined]
    async with httpx.AsyncClient(base_url=nodes[0].http) as http:
        sent = [await update_profile(http, alice, n) for n in range(3)]
    node.stop()
    restarted = start_node(cluster.database_url, cluster.data_dir, redis=REDIS, port=node.port)
    cluster.nodes[cluster.nodes.index(node)] = restarted
    nodes[nodes.index(node)] = restarted
    async with httpx.AsyncClient(base_url=restarted.http) as http:
        sent.append(await update_profile(http, alice, 3))
    async with socket_of(restarted, bob, resume_after=last) as c:
        await c.expect("resumed")
        got = [f["position"] for f in c.frames if f["type"] == "user_profile_updated"]
        if len(got) < 4:
            got.append((await c.expect("user_profile_updated"))["position"])
    assert got == sent


@pytest.mark.redis
async def test_two_nodes_share_events_signals_presence_and_the_socket_limit(
        cluster: Cluster, nodes: list[Node]) -> None:
    if len(nodes) < 2:
        pytest.skip("CHATALOT_TEST_REDIS_URL not set: one node only")
    a_node, b_node = nodes
    space = await space_on(a_node, 1)
    alice, bob = space.everyone
    channel = space.channel_id
    async with socket_of(b_node, bob) as b, socket_of(a_node, alice) as a:
        # presence crosses nodes
        assert (await b.expect("presence_update", user_id=alice.id))["status"] == "online"
        # a log event committed through node A reaches a socket on node B
        async with httpx.AsyncClient(base_url=a_node.http) as http:
            position = await update_profile(http, alice, 99)
        assert (await b.expect("user_profile_updated"))["position"] == position
        # an ephemeral signal from a socket on A reaches B over Redis
        await a.send(type="typing", channel_id=str(channel))
        await b.expect("user_typing", user_id=alice.id)
    # the per-user socket limit counts sockets on both nodes
    async with contextlib.AsyncExitStack() as stack:
        for i in range(8):
            await stack.enter_async_context(socket_of(nodes[i % 2], bob))
        async with socket_of(a_node, bob, authenticate=False) as extra:
            await extra.send(type="authenticate", token=bob.access)
            assert (await extra.recv())["code"] == "too_many_connections"
            assert await extra.closed() == 4008


async def test_a_resume_that_moves_to_the_other_node(cluster: Cluster, nodes: list[Node]
                                                    ) -> None:
    a_node, b_node = nodes[0], nodes[-1]
    alice, bob = await pair(cluster, a_node)
    async with socket_of(a_node, bob) as c:
        last = c.position  # type: ignore[attr-defined]
        async with httpx.AsyncClient(base_url=a_node.http) as http:
            first = await update_profile(http, alice, 1)
        assert (await c.expect("user_profile_updated"))["position"] == first
        last = first
    async with httpx.AsyncClient(base_url=a_node.http) as http:
        sent = [await update_profile(http, alice, n) for n in range(2, 5)]
    async with socket_of(b_node, bob, resume_after=last) as c:
        await c.expect("resumed")
        got = [f["position"] for f in c.frames if f["type"] == "user_profile_updated"]
    assert got == sent

