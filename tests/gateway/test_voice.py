"""Voice rooms, WebRTC relay, ICE servers (issue 14 item 4) and a slow consumer (item 6)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.client import ClientProtocol
from websockets.frames import Close, Opcode
from websockets.uri import parse_uri

from tests.gateway.conftest import Cluster, HttpApi, Node, User, register, socket_of
from tests.spaces.builders import SpacesBuilder


@pytest.fixture(scope="module")
def node(cluster: Cluster) -> Node:
    return cluster.add(CHATALOT_VOICE_MAX_PARTICIPANTS="2", CHATALOT_WS_SEND_QUEUE_FRAMES="16",
                       CHATALOT_WS_FRAMES_BURST="1000", CHATALOT_WS_FRAMES_PER_SEC="1000")


@pytest.fixture
async def spaces(node: Node) -> AsyncIterator[SpacesBuilder]:
    async with httpx.AsyncClient(base_url=node.http, timeout=30) as http:
        yield SpacesBuilder(HttpApi(node, http))


async def voice_room(spaces: SpacesBuilder, members: int) -> tuple[uuid.UUID, list[User]]:
    space = await spaces.community_with_channel(members=members, kind="voice")
    return uuid.UUID(space.channel_id), [space.owner, *space.members]


async def test_join_leave_relay_and_kick(spaces: SpacesBuilder, node: Node) -> None:
    channel, (mod, alice, bob, carol) = await voice_room(spaces, 3)
    async with socket_of(node, alice) as a, socket_of(node, bob) as b, \
            socket_of(node, carol) as c, socket_of(node, mod) as m:
        await a.send(type="join_voice", channel_id=str(channel), ref="j")
        await a.expect("ack", ref="j")
        assert (await b.expect("user_joined_voice"))["user_id"] == alice.id
        await b.send(type="join_voice", channel_id=str(channel))
        state = await a.expect("voice_state_update", participants=sorted([alice.id, bob.id]))
        assert state["channel_id"] == str(channel)
        # full at 2 (this node's limit; 25 by default)
        await c.send(type="join_voice", channel_id=str(channel), ref="full")
        assert (await c.expect("error", ref="full"))["code"] == "limit_reached"
        # relay between participants only
        await a.send(type="rtc_offer", target_user_id=bob.id, session_id="s1", sdp="v=0")
        offer = await b.expect("rtc_offer")
        assert (offer["from_user_id"], offer["sdp"], offer["session_id"]) == (alice.id, "v=0",
                                                                             "s1")
        await a.send(type="rtc_ice_candidate", target_user_id=bob.id, session_id="s1",
                     candidate="candidate:1 1 udp 1 10.0.0.1 9 typ host")
        await b.expect("rtc_ice_candidate")
        await c.send(type="rtc_offer", target_user_id=bob.id, session_id="s2", sdp="v=0",
                     ref="x")
        assert (await c.expect("error", ref="x"))["code"] == "forbidden"
        await b.silent("rtc_offer", 0.2)
        # only moderators kick
        await c.send(type="kick_from_voice", channel_id=str(channel), user_id=bob.id, ref="k")
        assert (await c.expect("error", ref="k"))["code"] == "forbidden"
        await m.send(type="kick_from_voice", channel_id=str(channel), user_id=bob.id, ref="k")
        await m.expect("ack", ref="k")
        await b.expect("kicked_from_voice")
        assert (await a.expect("user_left_voice"))["user_id"] == bob.id
        await a.expect("voice_state_update", participants=[alice.id])
        # closing the socket leaves the call
    async with socket_of(node, carol) as c:
        await c.send(type="join_voice", channel_id=str(channel), ref="j2")
        await c.expect("ack", ref="j2")
        await c.expect("voice_state_update", participants=[carol.id])


async def test_voice_needs_membership_and_a_voice_channel(spaces: SpacesBuilder, node: Node
                                                         ) -> None:
    channel, _ = await voice_room(spaces, 0)
    text = await spaces.community_with_channel(members=0)
    stranger = await register(node)
    async with socket_of(node, stranger) as s, socket_of(node, text.owner) as t:
        await s.send(type="join_voice", channel_id=str(channel), ref="j")
        assert (await s.expect("error", ref="j"))["code"] == "forbidden"
        await s.send(type="join_voice", channel_id=str(uuid.uuid4()), ref="k")
        assert (await s.expect("error", ref="k"))["code"] == "not_found"
        await t.send(type="join_voice", channel_id=text.channel_id, ref="l")
        assert (await t.expect("error", ref="l"))["code"] == "bad_request"


async def test_ice_servers_with_turn_rest_credentials(node: Node) -> None:
    user = await register(node)
    async with httpx.AsyncClient(base_url=node.http) as http:
        assert (await http.get("/api/voice/ice-servers")).status_code == 401
        r = await http.get("/api/voice/ice-servers", headers=user.auth)
    assert r.status_code == 200, r.text
    stun, turn = r.json()
    assert stun == {"urls": ["stun:stun.example:3478"]}
    expiry, _, who = turn["username"].partition(":")
    assert who == user.id and 0 < int(expiry) - time.time() <= 86400 + 5
    expected = base64.b64encode(hmac.new(b"turn-test-secret", turn["username"].encode(),
                                         hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected


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


async def test_a_slow_consumer_is_closed_and_the_others_are_not_stalled(
        spaces: SpacesBuilder, node: Node) -> None:
    """A socket that stops reading: once the TCP buffers are full its queue passes the
    bound (16 here) and it is closed 1013; the sender and a reading peer keep working."""
    channel, (alice, slow, peer) = await voice_room(spaces, 2)
    raw = RawClient(node)
    raw.send(type="authenticate", token=slow.access)
    raw.send(type="join_voice", channel_id=str(channel))
    async with socket_of(node, alice) as a, socket_of(node, peer) as p:
        await a.send(type="join_voice", channel_id=str(channel))
        await a.expect("voice_state_update", participants=sorted([alice.id, slow.id]))
        big = "v" * 60_000
        for i in range(200):
            await a.send(type="rtc_offer", target_user_id=slow.id, session_id=str(i), sdp=big)
            if i % 10 == 0:  # alice reads too (her queue is 16 frames here as well)
                await a.send(type="ping", timestamp=i)
                await a.expect("pong", timestamp=i, timeout=5)
        await a.send(type="typing", channel_id=str(channel))
        await p.expect("user_typing", timeout=5)
    try:
        assert await asyncio.to_thread(raw.close_code, 10) == 1013
    finally:
        raw.sock.close()
