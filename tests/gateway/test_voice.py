"""Voice rooms, WebRTC relay, ICE servers (issue 14 item 4) and a slow consumer (item 6)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.gateway.conftest import Cluster, HttpApi, Node, RawClient, User, register, socket_of
from tests.spaces.builders import SpacesBuilder


@pytest.fixture(scope="module")
def node(cluster: Cluster) -> Iterator[Node]:
    mine = cluster.add(CHATALOT_VOICE_MAX_PARTICIPANTS="2", CHATALOT_WS_SEND_QUEUE_FRAMES="16",
                       CHATALOT_WS_FRAMES_BURST="1000", CHATALOT_WS_FRAMES_PER_SEC="1000")
    yield mine
    cluster.retire(mine)


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
