"""Command frames call the same commands as REST (issue 14 item 2); membership decided at
delivery time: a kicked member stops receiving at once, a new member starts without
reconnecting."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.gateway.conftest import METRICS_TOKEN, HttpApi, Node, register, socket_of
from tests.spaces.builders import Space, SpacesBuilder


def body(text: str, **extra: Any) -> dict[str, Any]:
    return {"ciphertext": base64.b64encode(text.encode()).decode(), "encryption": "none",
            **extra}


@pytest.fixture
async def spaces(node: Node) -> AsyncIterator[SpacesBuilder]:
    async with httpx.AsyncClient(base_url=node.http, timeout=30) as http:
        yield SpacesBuilder(HttpApi(node, http))


async def test_every_message_frame_calls_the_command(node: Node, spaces: SpacesBuilder) -> None:
    space: Space = await spaces.community_with_channel(members=2)
    alice, bob = space.members
    stranger = await register(node)
    ch = space.channel_id
    async with socket_of(node, alice) as a, socket_of(node, bob) as b, \
            socket_of(node, stranger) as s:
        client_id = str(uuid.uuid4())
        await a.send(type="send_message", channel_id=ch, ref="m1", client_id=client_id,
                     **body("hello"))
        sent = await a.expect("message_sent")
        assert (sent["ref"], sent["client_id"], sent["channel_id"]) == ("m1", client_id, ch)
        assert sent["id"] and sent["created_at"].endswith("Z") and sent["position"]
        new = await b.expect("new_message")
        assert (new["message_id"], new["position"], new["sender_id"]) == (
            sent["id"], sent["position"], alice.id)
        assert new["created_at"].endswith("Z") and "client_id" not in new
        # a retry with the same client_id has its effect once
        await a.send(type="send_message", channel_id=ch, ref="m1b", client_id=client_id,
                     **body("hello"))
        assert (await a.expect("message_sent", ref="m1b"))["id"] == sent["id"]
        message = sent["id"]
        await a.send(type="edit_message", message_id=message, ref="e",
                     ciphertext=body("hello!")["ciphertext"])
        assert (await a.expect("ack", ref="e"))["position"]
        assert (await b.expect("message_edited"))["message_id"] == message
        await b.send(type="add_reaction", message_id=message, emoji="👍", ref="r")
        await b.expect("ack", ref="r")
        assert (await a.expect("reaction_added"))["emoji"] == "👍"
        await b.send(type="remove_reaction", message_id=message, emoji="👍", ref="r2")
        await b.expect("ack", ref="r2")
        await a.expect("reaction_removed")
        await b.send(type="mark_read", channel_id=ch, message_id=message, ref="mr")
        await b.expect("ack", ref="mr")
        assert (await a.expect("read_receipt"))["user_id"] == bob.id
        await b.send(type="mark_all_read", ref="mar")
        await b.expect("ack", ref="mar")
        await a.send(type="delete_message", message_id=message, ref="d")
        await a.expect("ack", ref="d")
        await b.expect("message_deleted", message_id=message)
        # the same rules as REST: not a member, bad body, not one's own message
        await s.send(type="send_message", channel_id=ch, ref="x", **body("hi"))
        assert (await s.expect("error", ref="x"))["code"] == "forbidden"
        await a.send(type="send_message", channel_id=ch, ref="y", encryption="none")
        assert (await a.expect("error", ref="y"))["code"] == "bad_request"
        await s.silent("new_message", 0.2)


async def test_rest_sends_reach_sockets(node: Node, spaces: SpacesBuilder) -> None:
    space = await spaces.community_with_channel(members=1)
    (bob,) = space.members
    async with socket_of(node, bob) as b:
        r = await spaces.client.post(f"/api/channels/{space.channel_id}/messages",
                                     headers=space.owner.auth, json=body("over REST"))
        assert r.status_code in (200, 201), r.text
        assert (await b.expect("new_message"))["position"] == r.json()["position"]


async def test_kick_cuts_off_at_once_and_a_new_member_starts_without_reconnecting(
        node: Node, spaces: SpacesBuilder) -> None:
    space = await spaces.community_with_channel(members=2)
    alice, bob = space.members
    newcomer = await register(node)
    ch = space.channel_id
    async with socket_of(node, alice) as a, socket_of(node, bob) as b, \
            socket_of(node, newcomer) as n:
        r = await spaces.client.post(f"/api/channels/{ch}/members/{bob.id}/kick",
                                     headers=space.owner.auth, json={"reason": "test"})
        assert r.status_code == 200, r.text
        assert (await b.expect("member_kicked"))["user_id"] == bob.id
        assert (await a.expect("member_kicked"))["user_id"] == bob.id
        await a.expect("sender_key_rotation_required")
        await spaces.join(newcomer, space.community_id)
        await a.send(type="send_message", channel_id=ch, ref="after", **body("after"))
        sent = await a.expect("message_sent", ref="after")
        assert (await n.expect("new_message"))["message_id"] == sent["id"]
        await b.silent("new_message", 0.5)
        # bob's own attempt is refused by the same rule as over REST
        await b.send(type="send_message", channel_id=ch, ref="no", **body("let me in"))
        assert (await b.expect("error", ref="no"))["code"] == "forbidden"


async def test_ban_cuts_off_and_dm_creation_reaches_both(node: Node, spaces: SpacesBuilder
                                                        ) -> None:
    space = await spaces.community_with_channel(members=2)
    alice, bob = space.members
    ch = space.channel_id
    async with socket_of(node, alice) as a, socket_of(node, bob) as b:
        r = await spaces.client.post(f"/api/channels/{ch}/members/{bob.id}/ban",
                                     headers=space.owner.auth, json={})
        assert r.status_code == 200, r.text
        assert (await b.expect("member_banned"))["user_id"] == bob.id
        await a.send(type="send_message", channel_id=ch, **body("after the ban"))
        await a.expect("new_message")
        await b.silent("new_message", 0.5)
        dm = await spaces.dm(alice, bob)
        assert (await a.expect("new_dm_channel"))["channel_id"] == dm
        assert (await b.expect("new_dm_channel"))["channel_id"] == dm
        await a.send(type="typing", channel_id=dm)
        await b.expect("user_typing", channel_id=dm)


async def test_a_vote_on_an_anonymous_poll_names_the_voter_to_the_voter_only(
        node: Node, spaces: SpacesBuilder) -> None:
    space = await spaces.community_with_channel(members=2)
    alice, bob = space.members
    http, ch = spaces.client, space.channel_id

    async def poll(anonymous: bool) -> str:
        r = await http.post(f"/api/channels/{ch}/polls", headers=alice.auth, json={
            "question": "lunch?", "options": ["yes", "no"], "anonymous": anonymous})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async with socket_of(node, alice) as a, socket_of(node, bob) as b:
        start = a.position  # type: ignore[attr-defined]
        secret, public = await poll(True), await poll(False)
        for poll_id in (secret, public):
            r = await http.post(f"/api/polls/{poll_id}/vote", headers=bob.auth,
                                json={"option_indexes": [1]})
            assert r.status_code == 200, r.text
        r = await http.delete(f"/api/polls/{secret}/vote", headers=bob.auth)
        assert r.status_code == 200, r.text
        seen = await a.expect("poll_voted", poll_id=secret)
        assert seen["user_id"] is None and seen["option_indexes"] == [1], seen
        assert (await a.expect("poll_vote_removed", poll_id=secret))["user_id"] is None
        assert (await a.expect("poll_voted", poll_id=public))["user_id"] == bob.id
        assert (await b.expect("poll_voted", poll_id=secret))["user_id"] == bob.id
        assert (await b.expect("poll_vote_removed", poll_id=secret))["user_id"] == bob.id
    # the replay of a resume hides the voter too
    async with socket_of(node, alice, resume_after=start) as a:
        await a.expect("resumed")
        replayed = [f for f in a.frames if f["type"] in ("poll_voted", "poll_vote_removed")]
        assert [(f["poll_id"], f["user_id"]) for f in replayed] == [
            (secret, None), (public, bob.id), (secret, None)], replayed


async def _membership_questions(node: Node) -> float:
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{node.http}/metrics",
                           headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert r.status_code == 200
    return sum(float(line.rsplit(" ", 1)[1]) for line in r.text.splitlines()
               if line.startswith("chatalot_ws_membership_questions_total "))


async def test_remembered_memberships_end_at_a_kick_and_a_join(
        node: Node, spaces: SpacesBuilder) -> None:
    """The live feed remembers who is a member between batches of messages (no question
    to the database per message), and forgets it at a membership change in the log: a
    member kicked while it is remembered receives nothing after the kick, a newcomer who
    joins while it is remembered receives what follows the join."""
    space = await spaces.community_with_channel(members=2)
    alice, bob = space.members
    newcomer = await register(node)
    ch = space.channel_id
    async with socket_of(node, alice) as a, socket_of(node, bob) as b, \
            socket_of(node, newcomer) as n:
        await a.send(type="send_message", channel_id=ch, ref="warm", **body("warm"))
        await b.expect("new_message")
        before = await _membership_questions(node)
        for i in range(5):
            await a.send(type="send_message", channel_id=ch, ref=f"m{i}", **body(f"m{i}"))
            sent = await a.expect("message_sent", ref=f"m{i}")
            await b.expect("new_message", message_id=sent["id"])
        assert await _membership_questions(node) == before
        r = await spaces.client.post(f"/api/channels/{ch}/members/{bob.id}/kick",
                                     headers=space.owner.auth, json={})
        assert r.status_code == 200, r.text
        await b.expect("member_kicked")
        await a.send(type="send_message", channel_id=ch, ref="k", **body("after the kick"))
        sent = await a.expect("message_sent", ref="k")
        await a.expect("new_message", message_id=sent["id"])
        await b.silent("new_message", 0.5)
        await spaces.join(newcomer, space.community_id)
        await a.send(type="send_message", channel_id=ch, ref="j", **body("after the join"))
        sent = await a.expect("message_sent", ref="j")
        assert (await n.expect("new_message"))["message_id"] == sent["id"]
