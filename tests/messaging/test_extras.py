"""Polls, scheduled messages (their process manager on several nodes at once) and
incoming webhooks, through HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from typing import Any

from chatalot.auth.ratelimit import MemoryRateLimiter
from chatalot.messaging import scheduler
from chatalot.messaging.runtime import MessagingRuntime
from tests.messaging.conftest import Msg, body, text_of


async def test_poll_flow(msg: Msg) -> None:
    space = await msg.space(members=2)
    alice, bob = space.members
    ch = space.channel_id
    r = await msg.post(alice, f"/api/channels/{ch}/polls", {
        "question": "Lunch?", "options": ["pizza", "sushi", "salad"], "multi_select": True})
    assert r.status_code == 201, r.text
    poll = r.json()
    vote = f"/api/polls/{poll['id']}/vote"
    assert (await msg.post(alice, vote, {"option_indexes": [0, 1]})).status_code == 200
    assert (await msg.post(bob, vote, {"option_indexes": [1]})).status_code == 200
    assert (await msg.post(bob, vote, {"option_indexes": [3]})).status_code == 400
    assert (await msg.post(bob, vote, {"option_indexes": [2, 2]})).status_code == 400
    r = await msg.post(bob, vote, {"option_indexes": [2]})  # replaces bob's vote
    [got] = (await msg.get(alice, f"/api/channels/{ch}/polls", r.json()["position"]))\
        .json()["items"]
    assert [(o["votes"], o["voter_ids"]) for o in got["options"]] == [
        (1, [alice.id]), (1, [alice.id]), (1, [bob.id])]
    assert got["my_vote"] == [0, 1] and got["total_voters"] == 2
    r = await msg.client.delete(vote, headers=bob.auth)
    assert r.status_code == 200
    assert (await msg.client.delete(vote, headers=bob.auth)).status_code == 404
    assert (await msg.post(bob, f"/api/polls/{poll['id']}/close")).status_code == 403
    r = await msg.post(alice, f"/api/polls/{poll['id']}/close")
    assert r.status_code == 200
    assert (await msg.post(alice, f"/api/polls/{poll['id']}/close")).status_code == 409
    r = await msg.post(bob, vote, {"option_indexes": [0]})
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    assert (await msg.client.delete(vote, headers=alice.auth)).status_code == 409


async def test_anonymous_single_choice_poll_that_expires(msg: Msg) -> None:
    space = await msg.space(members=1)
    [alice] = space.members
    ch = space.channel_id
    r = await msg.post(alice, f"/api/channels/{ch}/polls", {
        "question": "Ship it?", "options": ["yes", "no"], "anonymous": True,
        "expires_in_minutes": 5})
    poll = r.json()
    vote = f"/api/polls/{poll['id']}/vote"
    assert (await msg.post(alice, vote, {"option_indexes": [0, 1]})).status_code == 400
    r = await msg.post(alice, vote, {"option_indexes": [0]})
    [got] = (await msg.get(alice, f"/api/channels/{ch}/polls", r.json()["position"]))\
        .json()["items"]
    assert got["options"][0] == {"text": "yes", "votes": 1, "voter_ids": None}
    msg.api.clock.advance(5 * 60)
    assert (await msg.post(alice, vote, {"option_indexes": [1]})).status_code == 409

    async def closed() -> bool:
        return [e.type for e in await msg.api.events(f"poll-{poll['id']}")][-1] == "PollClosed"
    await _wait(closed)  # the scheduler closes it, once
    events = await msg.api.events(f"poll-{poll['id']}")
    assert [e.data.closed_by for e in events if e.type == "PollClosed"] == [None]
    for bad in ({"question": "q", "options": ["a"]},
                {"question": "q", "options": ["a", "A"]},
                {"question": "q", "options": ["a", "b"], "expires_in_minutes": 0}):
        assert (await msg.post(alice, f"/api/channels/{ch}/polls", bad)).status_code == 400


async def _wait(check: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_scheduled_messages_are_delivered_once_by_several_nodes(msg: Msg) -> None:
    space = await msg.space(members=1)
    [alice] = space.members
    ch = space.channel_id
    store = await msg.api.db.store()
    runtime = MessagingRuntime(store, store.pool, MemoryRateLimiter(), clock=msg.api.clock)
    ids = []
    for i in range(6):
        r = await msg.post(alice, "/api/messages/schedule", {
            "channel_id": ch, "scheduled_for": msg.at(60 + i), **body(f"later {i}")})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = await msg.client.delete(f"/api/messages/scheduled/{ids[5]}", headers=alice.auth)
    assert r.status_code == 200
    listed = (await msg.get(alice, "/api/messages/scheduled", r.json()["position"])).json()
    assert [s["id"] for s in listed["items"]] == ids[:5]
    async with contextlib.AsyncExitStack() as nodes:
        # two more nodes beside the app's own: a fresh one catches up from the log
        managers = [await nodes.enter_async_context(scheduler.running(runtime))
                    for _ in range(2)]

        async def caught_up() -> bool:
            return all({str(k) for k in m.pending} == set(ids[:5]) for m in managers)
        await _wait(caught_up)
        msg.api.clock.advance(70)

        async def delivered() -> bool:
            events = [e for i in ids[:5] for e in await msg.api.events(f"scheduled-{i}")]
            return sum(e.type == "ScheduledMessageDelivered" for e in events) >= 5
        await _wait(delivered)
        await asyncio.sleep(0.6)  # any second delivery would land meanwhile
    for sid in ids[:5]:
        kinds = [e.type for e in await msg.api.events(f"scheduled-{sid}")]
        assert kinds == ["MessageScheduled", "ScheduledMessageDelivered"], kinds
    page = await msg.history(alice, ch, await msg.api.head())
    assert sorted(text_of(m) for m in page["items"]) == [f"later {i}" for i in range(5)]
    assert (await msg.client.delete(f"/api/messages/scheduled/{ids[0]}",
                                    headers=alice.auth)).status_code == 404


async def test_schedule_refusals(msg: Msg) -> None:
    space = await msg.space(members=1)
    [alice] = space.members
    ch = space.channel_id
    path = "/api/messages/schedule"
    for when in (msg.at(-1), msg.at(30 * 86400 + 1), "tomorrow", "2027-01-01T00:00:00"):
        r = await msg.post(alice, path, {"channel_id": ch, "scheduled_for": when, **body("x")})
        assert r.status_code == 400, (when, r.text)
    outsider = await msg.api.register()
    r = await msg.post(outsider, path, {"channel_id": ch, "scheduled_for": msg.at(60),
                                        **body("x")})
    assert r.status_code == 403
    for i in range(50):
        r = await msg.post(alice, path, {"channel_id": ch, "scheduled_for": msg.at(600 + i),
                                         **body("x")})
        assert r.status_code == 201, r.text
    r = await msg.post(alice, path, {"channel_id": ch, "scheduled_for": msg.at(60),
                                     **body("x")})
    assert r.status_code == 422 and r.json()["code"] == "limit_reached"


async def test_webhooks(msg: Msg) -> None:
    space = await msg.space(members=1)
    [alice] = space.members
    ch, owner = space.channel_id, space.owner
    assert (await msg.post(alice, f"/api/channels/{ch}/webhooks",
                           {"name": "CI"})).status_code == 403
    r = await msg.post(owner, f"/api/channels/{ch}/webhooks",
                       {"name": "CI", "avatar_url": "https://ci.example/a.png"})
    assert r.status_code == 201, r.text
    hook = r.json()
    token = hook["token"]
    stored = await msg.api.db.fetch("SELECT token_hash FROM messaging_webhooks")
    assert bytes(stored[0][0]) == hashlib.sha256(token.encode()).digest()
    assert token not in str([e.data for e in await msg.api.events(f"webhook-{hook['id']}")])
    listed = (await msg.get(owner, f"/api/channels/{ch}/webhooks", hook["position"])).json()
    assert [w["token"] for w in listed] == [None]
    assert (await msg.get(alice, f"/api/channels/{ch}/webhooks")).status_code == 403

    r = await msg.client.post(f"/api/webhooks/execute/{token}", json={"content": "build ok"})
    assert r.status_code == 200, r.text
    [m] = (await msg.history(alice, ch, r.json()["position"]))["items"]
    assert (m["message_type"], m["webhook_name"], m["sender_id"], text_of(m)) == (
        "webhook", "CI", None, "build ok")
    assert m["webhook_avatar"] == "https://ci.example/a.png"
    replies = [await msg.client.post(f"/api/webhooks/execute/{token}",
                                     json={"content": "again"}) for _ in range(6)]
    assert 429 in {r.status_code for r in replies}
    assert (await msg.client.post("/api/webhooks/execute/wrong",
                                  json={"content": "x"})).status_code == 404
    r = await msg.client.patch(f"/api/webhooks/{hook['id']}", headers=owner.auth,
                               json={"active": False})
    assert r.status_code == 200
    assert (await msg.client.post(f"/api/webhooks/execute/{token}",
                                  json={"content": "x"})).status_code == 404
    assert (await msg.client.delete(f"/api/webhooks/{hook['id']}",
                                    headers=alice.auth)).status_code == 403
    assert (await msg.client.delete(f"/api/webhooks/{hook['id']}",
                                    headers=owner.auth)).status_code == 200
