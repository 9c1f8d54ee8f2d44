"""Who receives what (issue 14 items 2 and 4): log events to the right users only, with
membership decided at delivery time; typing, presence, subscriptions."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from chatalot.db import make_pool
from chatalot.ws.audience import Audience
from chatalot.ws.hub import Members
from event_store import Metadata, Position, RecordedEvent
from tests.gateway.conftest import (
    Cluster,
    HttpApi,
    Node,
    join,
    leave,
    register,
    socket_of,
    space_on,
)
from tests.keys.test_sender_keys import message_envelope
from tests.spaces.builders import SpacesBuilder


async def distribute(node: Node, sender, channel: uuid.UUID, recipient) -> str:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=node.http) as http:
        r = await http.post(f"/api/channels/{channel}/sender-keys", headers=sender.auth, json={
            "chain_id": 1, "distributions": [{
                "recipient_id": recipient.id,
                "envelope": base64.b64encode(message_envelope()).decode()}]})
        assert r.status_code == 200, r.text
        return str(r.json()["position"])


@pytest.fixture
async def spaces(node: Node) -> AsyncIterator[SpacesBuilder]:
    async with httpx.AsyncClient(base_url=node.http, timeout=30) as http:
        yield SpacesBuilder(HttpApi(node, http))


async def test_a_sender_key_reaches_its_recipient_only(spaces: SpacesBuilder, node: Node
                                                      ) -> None:
    space = await spaces.community_with_channel(members=2)
    alice, bob, carol = space.everyone
    channel = uuid.UUID(space.channel_id)
    async with socket_of(node, alice) as a, socket_of(node, bob) as b, \
            socket_of(node, carol) as c:
        position = await distribute(node, alice, channel, bob)
        frame = await b.expect("sender_key_updated")
        assert frame["channel_id"] == str(channel) and frame["sender_id"] == alice.id
        assert frame["chain_id"] == 1 and frame["position"] == position
        assert "recipient_id" not in frame
        await a.silent("sender_key_updated", 0.3)
        await c.silent("sender_key_updated", 0.1)


async def test_a_member_who_left_stops_receiving_at_once(spaces: SpacesBuilder, node: Node
                                                        ) -> None:
    """Authorization at delivery time: the row is gone when the event is delivered, so a
    copy addressed before the removal is not handed out after it."""
    space = await spaces.community_with_channel(members=1)
    alice, bob = space.everyone
    channel = uuid.UUID(space.channel_id)
    async with socket_of(node, bob) as b:
        await distribute(node, alice, channel, bob)
        await b.expect("sender_key_updated")
        position = b.position  # type: ignore[attr-defined]
        await distribute(node, alice, channel, bob)
        r = await spaces.client.post(f"/api/channels/{channel}/members/{bob.id}/kick",
                                     headers=alice.auth, json={})
        assert r.status_code == 200, r.text
    # the copy addressed while bob was a member is not replayed now that he is not
    async with socket_of(node, bob, resume_after=position) as b:
        await b.expect("resumed")
        kinds = [f["type"] for f in b.frames]
        assert "sender_key_updated" not in kinds


async def test_profile_changes_reach_those_who_share_a_channel(cluster: Cluster, node: Node
                                                              ) -> None:
    alice, bob, stranger = [await register(node) for _ in range(3)]
    await join(cluster.database_url, uuid.uuid4(), alice, bob)
    async with socket_of(node, alice) as a, socket_of(node, bob) as b, \
            socket_of(node, stranger) as s, httpx.AsyncClient(base_url=node.http) as http:
        r = await http.patch("/api/account/profile", headers=alice.auth,
                             json={"display_name": "Alice A."})
        assert r.status_code == 200, r.text
        for sock in (a, b):
            frame = await sock.expect("user_profile_updated")
            assert frame["user_id"] == alice.id and frame["display_name"] == "Alice A."
        await s.silent("user_profile_updated", 0.3)


async def test_typing_goes_to_other_members_once_per_window(node: Node) -> None:
    space = await space_on(node, 1)
    alice, bob = space.everyone
    channel = space.channel_id
    stranger = await register(node)
    async with socket_of(node, alice) as a, socket_of(node, bob) as b, \
            socket_of(node, stranger) as s:
        await a.send(type="typing", channel_id=str(channel), ref="t1")
        assert (await a.expect("ack"))["ref"] == "t1"
        frame = await b.expect("user_typing")
        assert frame == {"type": "user_typing", "channel_id": str(channel), "user_id": alice.id}
        await a.send(type="typing", channel_id=str(channel))  # within 3 s: a duplicate
        await b.silent("user_typing", 0.3)
        await a.send(type="stop_typing", channel_id=str(channel))
        await b.expect("user_stopped_typing", user_id=alice.id)
        await a.silent("user_typing", 0.1)
        await s.silent("user_typing", 0.1)
        await s.send(type="typing", channel_id=str(channel), ref="no")
        error = await s.expect("error")
        assert (error["code"], error["ref"]) == ("forbidden", "no")


async def test_typing_expires_after_five_seconds(node: Node) -> None:
    space = await space_on(node, 1)
    alice, bob = space.everyone
    channel = space.channel_id
    async with socket_of(node, alice) as a, socket_of(node, bob) as b:
        await a.send(type="typing", channel_id=str(channel))
        await b.expect("user_typing")
        started = asyncio.get_running_loop().time()
        await b.expect("user_stopped_typing", timeout=8)
        assert 4.0 <= asyncio.get_running_loop().time() - started <= 7.0


async def test_unsubscribe_narrows_and_subscribe_needs_membership(node: Node) -> None:
    space, elsewhere = await space_on(node, 1), await space_on(node, 0)
    alice, bob = space.everyone
    channel, other = space.channel_id, elsewhere.channel_id
    async with socket_of(node, alice) as a, socket_of(node, bob) as b:
        await b.send(type="unsubscribe", channel_ids=[str(channel)], ref="u")
        await b.expect("ack", ref="u")
        await a.send(type="typing", channel_id=str(channel))
        await b.silent("user_typing", 0.4)
        await b.send(type="subscribe", channel_ids=[str(other)], ref="s1")
        assert (await b.expect("error", ref="s1"))["code"] == "forbidden"
        await b.send(type="subscribe", channel_ids=[str(channel)], ref="s2")
        await b.expect("ack", ref="s2")
        await a.send(type="stop_typing", channel_id=str(channel))
        await b.expect("user_stopped_typing")


async def test_presence_online_status_invisible_and_offline(cluster: Cluster, node: Node
                                                           ) -> None:
    alice, bob, stranger = [await register(node) for _ in range(3)]
    await join(cluster.database_url, uuid.uuid4(), alice, bob)
    async with socket_of(node, alice) as a, socket_of(node, stranger) as s:
        async with socket_of(node, bob) as b:
            assert (await a.expect("presence_update", user_id=bob.id))["status"] == "online"
            bulk = await b.expect("presence_bulk")
            assert {"user_id": alice.id, "status": "online"} in bulk["users"]
            assert all(u["user_id"] != stranger.id for u in bulk["users"])
            await b.send(type="update_presence", status="dnd", ref="p")
            await b.expect("ack", ref="p")
            assert (await a.expect("presence_update", user_id=bob.id))["status"] == "dnd"
            await b.send(type="update_presence", status="invisible")
            assert (await a.expect("presence_update", user_id=bob.id))["status"] == "offline"
            await b.send(type="update_presence", status="online")
            assert (await a.expect("presence_update", user_id=bob.id))["status"] == "online"
        # the last socket closed: offline after the grace (1 s in these tests)
        assert (await a.expect("presence_update", user_id=bob.id, timeout=5))["status"] == (
            "offline")
        # a stranger hears nothing of bob (its own presence is its own business)
        await s.silent("presence_update", 0.1, user_id=bob.id)


async def test_new_groups_and_channels_reach_those_who_may_see_them(
        spaces: SpacesBuilder, node: Node) -> None:
    """Without a reload: a public group goes to the community's members, a private one
    to its creator alone; a channel to its group's members, never to a stranger."""
    space = await spaces.community_with_channel(members=1)
    alice, bob = space.everyone
    stranger = await register(node)
    async with socket_of(node, alice) as a, socket_of(node, bob) as b, \
            socket_of(node, stranger) as s:
        public = await spaces.create_group(alice, space.community_id, "Open")
        frame = await b.expect("group_created", group_id=public)
        assert frame["community_id"] == space.community_id and frame["user_id"] == alice.id
        await a.expect("group_created", group_id=public)
        private = await spaces.create_group(alice, space.community_id, "Staff", public=False)
        await a.expect("group_created", group_id=private)
        hidden = await spaces.create_channel(alice, private, "secret")
        await a.expect("channel_created", channel_id=hidden)
        channel = await spaces.create_channel(alice, public, "news")
        frame = await b.expect("channel_created", channel_id=channel)
        assert (frame["group_id"], frame["name"], frame["kind"]) == (public, "news", "text")
        # frames arrive in log order: bob got the later channel, so the private group
        # and its channel, recorded before it, were never sent to him
        assert not [f for f in b.frames if private in (f.get("group_id"), f.get("channel_id"))
                    or f.get("channel_id") == hidden]
        await a.expect("channel_created", channel_id=channel)
        with contextlib.suppress(TimeoutError):
            while True:  # whatever reached the stranger meanwhile
                await s.recv(0.5)
        assert not [f for f in s.frames if f.get("type") in ("group_created",
                                                             "channel_created")]


async def test_an_announcement_reaches_every_socket_and_its_replay(
        cluster: Cluster, node: Node) -> None:
    """protocol.md's `announcement` frame: addressed to every user, whoever they share a
    channel with (here: two strangers), and replayed on resume like any log event."""
    from chatalot.bootstrap import build_registry
    from chatalot.db import make_pool
    from chatalot.domain.announcements.events import AnnouncementPublished
    from chatalot.domain.streams import announcement_stream
    from event_store import NO_STREAM, EventStore, InProcessBus, NewEvent

    alice, bob = await register(node), await register(node)
    announcement = uuid.uuid4()
    async with socket_of(node, alice) as a, socket_of(node, bob) as b:
        start = b.position  # type: ignore[attr-defined]
        pool = make_pool(cluster.database_url, min_size=1, max_size=1)
        await pool.open(wait=True)
        try:
            store = EventStore(pool, build_registry(), InProcessBus())
            result = await store.append(announcement_stream(announcement), [NewEvent(
                AnnouncementPublished(announcement_id=announcement, title="Maintenance",
                                      body="Down at 22:00", created_by=alice.uuid))],
                NO_STREAM)
        finally:
            await pool.close()
        for c in (a, b):
            got = await c.expect("announcement", id=str(announcement))
            assert (got["title"], got["body"], got["created_by"]) == (
                "Maintenance", "Down at 22:00", alice.id)
            assert got["created_at"].endswith("Z")
            assert got["position"] == result.positions[-1].encode()
    async with socket_of(node, bob, resume_after=start) as b:
        await b.expect("resumed")
        assert [f["id"] for f in b.frames if f["type"] == "announcement"] == [
            str(announcement)]


def _event(type_name: str) -> RecordedEvent:
    return RecordedEvent(Position(1, 2, 3), "s-1", 1, uuid.uuid4(), type_name, None,
                         Metadata(), datetime.now(UTC))


async def test_the_live_feed_remembers_members_until_the_log_shows_a_change(
        cluster: Cluster, node: Node) -> None:
    """chatalot/ws/hub.Members: answers from the table, kept while only membership-neutral
    events pass (a row changed behind its back stays unseen), forgotten at any other
    event; past its limit it answers without keeping anything."""
    alice, bob, carol = [await register(node) for _ in range(3)]
    channel = uuid.uuid4()
    await join(cluster.database_url, channel, alice)
    pool = make_pool(cluster.database_url, min_size=1, max_size=2)
    await pool.open(wait=True)
    try:
        audience = Audience(pool)
        members = Members()
        users = {alice.uuid, bob.uuid}
        assert await members.pairs(audience, {channel}, users) == {(channel, alice.uuid)}
        await join(cluster.database_url, channel, bob)
        members.observe([_event("MessageSent"), _event("ReactionAdded")])
        assert await members.pairs(audience, {channel}, users) == {(channel, alice.uuid)}
        # a user not asked about yet is asked about (alone)
        await join(cluster.database_url, channel, carol)
        assert await members.pairs(audience, {channel}, {*users, carol.uuid}) == {
            (channel, alice.uuid), (channel, carol.uuid)}
        members.observe([_event("MessageSent"), _event("ChannelMemberKicked")])
        assert await members.pairs(audience, {channel}, users) == {
            (channel, alice.uuid), (channel, bob.uuid)}
        await leave(cluster.database_url, channel, bob)
        tiny = Members(limit=1)
        assert await tiny.pairs(audience, {channel}, users) == {(channel, alice.uuid)}
        await leave(cluster.database_url, channel, alice)
        assert await tiny.pairs(audience, {channel}, users) == set()
    finally:
        await pool.close()
