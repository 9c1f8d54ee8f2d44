"""Handshake, limits and refusals (issue 14 items 1 and 7), against a real server process."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx
from websockets.asyncio.client import connect

from tests.gateway.conftest import (
    METRICS_TOKEN,
    Client,
    Cluster,
    Node,
    RawClient,
    register,
    socket_of,
)


async def test_authenticate_then_ping(node: Node) -> None:
    user = await register(node)
    async with connect(node.ws) as ws:
        c = Client(ws)
        await c.send(type="authenticate", token=user.access)
        auth = await c.recv()
        assert auth["type"] == "authenticated"
        assert auth["user_id"] == user.id
        assert auth["server_version"] and auth["position"].count(".") == 2
        await c.send(type="ping", timestamp=12345)
        assert (await c.expect("pong"))["timestamp"] == 12345


async def test_no_authenticate_in_time_closes_4001(node: Node) -> None:
    async with connect(node.ws) as ws:
        c = Client(ws)
        assert await c.closed() == 4001


async def test_another_first_frame_closes_4001(node: Node) -> None:
    async with connect(node.ws) as ws:
        c = Client(ws)
        await c.send(type="ping", timestamp=1)
        assert (await c.recv())["code"] == "bad_request"
        assert await c.closed() == 4001


async def test_a_bad_token_is_refused_4003(node: Node) -> None:
    async with connect(node.ws) as ws:
        c = Client(ws)
        await c.send(type="authenticate", token="not.a.jwt")
        assert (await c.recv())["code"] == "unauthorized"
        assert await c.closed() == 4003


async def test_a_malformed_resume_after_is_bad_request_4003(node: Node) -> None:
    user = await register(node)
    async with connect(node.ws) as ws:
        c = Client(ws)
        await c.send(type="authenticate", token=user.access, resume_after="yesterday")
        assert (await c.recv())["code"] == "bad_request"
        assert await c.closed() == 4003


async def test_the_ninth_socket_is_refused_4008(node: Node) -> None:
    user = await register(node)
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(8):
            await stack.enter_async_context(socket_of(node, user))
        async with connect(node.ws) as ws:
            c = Client(ws)
            await c.send(type="authenticate", token=user.access)
            assert (await c.recv())["code"] == "too_many_connections"
            assert await c.closed() == 4008
    # all eight closed: a new one is accepted (the count follows closes)
    await asyncio.sleep(0.3)
    async with socket_of(node, user):
        pass


async def test_malformed_frames_get_bad_request_and_the_socket_stays(node: Node) -> None:
    user, other = await register(node), await register(node)
    async with socket_of(node, user) as c, socket_of(node, other) as bystander:
        for raw in ["{not json", "[1,2]", json.dumps({"type": "nope"}),
                    json.dumps({"type": "typing", "channel_id": "not-a-uuid", "ref": "r1"}),
                    json.dumps({"type": "ping", "extra": 1}), "\x00\xff", "null",
                    json.dumps({"type": "subscribe", "channel_ids": []})]:
            await c.ws.send(raw)
            error = await c.expect("error")
            assert error["code"] == "bad_request", (raw, error)
        await c.ws.send(json.dumps({"type": "typing", "channel_id": "x", "ref": "r9"}))
        assert (await c.expect("error"))["ref"] == "r9"
        await c.send(type="ping", timestamp=1)
        await c.expect("pong")
        await bystander.send(type="ping", timestamp=2)
        await bystander.expect("pong")


async def test_an_oversize_frame_closes_1009(node: Node) -> None:
    user = await register(node)
    async with socket_of(node, user) as c:
        await c.ws.send(json.dumps({"type": "ping", "timestamp": "x" * (1024 * 1024 + 10)}))
        assert await c.closed() == 1009


async def test_the_rate_limit_drops_frames_over_the_bucket(node: Node) -> None:
    user = await register(node)
    async with socket_of(node, user) as c:
        for i in range(60):
            await c.send(type="ping", timestamp=i)
        pongs = limited = 0
        while pongs + limited < 60:
            frame = await c.recv()
            pongs += frame["type"] == "pong"
            limited += frame.get("code") == "rate_limited"
        assert 30 <= pongs < 50 and limited >= 10, (pongs, limited)


async def test_revoking_the_session_closes_its_socket_4003(node: Node) -> None:
    user = await register(node)
    async with httpx.AsyncClient(base_url=node.http) as http:
        r = await http.post("/api/auth/login", json={"username": user.username,
                                                     "password": "correct horse battery staple"})
        other_session = r.json()["access_token"]
        async with socket_of(node, user) as c:
            r = await http.post("/api/account/sessions/revoke-all",
                                headers={"Authorization": f"Bearer {other_session}"})
            assert r.status_code == 200, r.text
            assert await c.closed() == 4003


async def test_suspending_the_user_closes_their_sockets_4003(cluster: Cluster, node: Node
                                                            ) -> None:
    owner = cluster.owner
    assert owner is not None
    user = await register(node)
    async with socket_of(node, user) as c, httpx.AsyncClient(base_url=node.http) as http:
        r = await http.post(f"/api/admin/users/{user.id}/suspend", json={"reason": "test"},
                            headers=owner.auth)
        assert r.status_code == 200, r.text
        assert await c.closed() == 4003
    async with connect(node.ws) as ws:
        c = Client(ws)
        await c.send(type="authenticate", token=user.access)
        assert (await c.recv())["code"] == "unauthorized"
        assert await c.closed() == 4003



async def test_a_client_that_answers_no_ping_is_dropped(cluster: Cluster) -> None:
    """Pings every second on this node (30 s by default): a socket that stops reading, so
    never answers one, is closed 1011 when the next one is due."""
    pinging = cluster.add(CHATALOT_WS_PING_INTERVAL_SECS="1")
    user = await register(pinging)
    raw = RawClient(pinging)
    try:
        raw.send(type="authenticate", token=user.access)
        await asyncio.sleep(3.5)
        assert await asyncio.to_thread(raw.close_code, 10) == 1011
    finally:
        raw.sock.close()
        cluster.retire(pinging)


def _metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


async def test_metrics_count_open_sockets_and_frames_sent(node: Node) -> None:
    """Issue 12's gateway figures: sockets open on the node and frames it sent."""
    user = await register(node)

    async def scrape() -> str:
        async with httpx.AsyncClient() as http:
            r = await http.get(f"{node.http}/metrics",
                               headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
            assert r.status_code == 200
            return r.text

    before = await scrape()
    async with socket_of(node, user) as c:
        await c.send(type="ping", timestamp=1)
        await c.expect("pong")
        during = await scrape()
        assert _metric(during, "chatalot_ws_connections") \
            >= _metric(before, "chatalot_ws_connections") + 1
        assert _metric(during, "chatalot_ws_frames_sent_total") \
            >= _metric(before, "chatalot_ws_frames_sent_total") + 2  # authenticated, pong
    for _ in range(100):
        after = await scrape()
        if _metric(after, "chatalot_ws_connections") == _metric(before, "chatalot_ws_connections"):
            break
        await asyncio.sleep(0.05)
    assert _metric(after, "chatalot_ws_connections") == _metric(before, "chatalot_ws_connections")
