"""Random interleavings of send / edit / delete / react / pin / vote / mark-read by several
users (hypothesis), then: unread and mention counts equal a count computed from the log
itself; and every messaging read model rebuilt from the log equals the live one."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from hypothesis import given
from hypothesis import strategies as st

from event_store import Position
from tests.messaging.conftest import Msg, b64, body
from tests.spaces.builders import Space

OPS = ("send", "send", "send", "edit", "delete", "react", "unreact", "pin", "mark", "vote")
Op = tuple[str, int, int, frozenset[int]]
op_strategy = st.tuples(st.sampled_from(OPS), st.integers(0, 3), st.integers(0, 10_000),
                        st.frozensets(st.integers(0, 3), max_size=2))


@dataclass
class World:
    msg: Msg
    space: Space
    poll_id: str
    sent: list[str] = field(default_factory=list)

    @property
    def users(self) -> list[Any]:
        return self.space.everyone

    async def run(self, op: Op) -> None:
        kind, who, target, mentioned = op
        user, ch, client = self.users[who], self.space.channel_id, self.msg.client
        pick = self.sent[target % len(self.sent)] if self.sent else None
        if kind == "send" or pick is None:
            r = await client.post(f"/api/channels/{ch}/messages", headers=user.auth, json=body(
                f"message {len(self.sent)}", mentions=[self.users[i].id for i in mentioned]))
            assert r.status_code == 201, r.text
            self.sent.append(r.json()["id"])
            return
        if kind == "edit":
            r = await client.patch(f"/api/messages/{pick}", headers=user.auth, json={
                "ciphertext": b64(f"edited {target}"),
                "mentions": [self.users[i].id for i in mentioned]})
            ok = {200, 403, 404}
        elif kind == "delete":
            r = await client.delete(f"/api/messages/{pick}", headers=user.auth)
            ok = {200, 403, 404}
        elif kind == "react":
            r = await client.post(f"/api/messages/{pick}/reactions", headers=user.auth,
                                  json={"emoji": "👍🎉"[target % 2]})
            ok = {200, 404, 409}
        elif kind == "unreact":
            r = await client.delete(f"/api/messages/{pick}/reactions/{'👍🎉'[target % 2]}",
                                    headers=user.auth)
            ok = {200, 404}
        elif kind == "pin":
            r = await client.post(f"/api/channels/{ch}/pins/{pick}", headers=user.auth)
            ok = {200, 403, 404, 409}
        elif kind == "vote":
            r = await client.post(f"/api/polls/{self.poll_id}/vote", headers=user.auth,
                                  json={"option_indexes": [target % 2]})
            ok = {200}
        else:
            r = await client.post(f"/api/channels/{ch}/read", headers=user.auth,
                                  json={"message_id": pick})
            ok = {200}
        assert r.status_code in ok, (op, r.status_code, r.text)


async def world(msg: Msg) -> World:
    space = await msg.space(members=3)
    r = await msg.post(space.owner, f"/api/channels/{space.channel_id}/polls",
                       {"question": "Which?", "options": ["a", "b"]})
    assert r.status_code == 201, r.text
    return World(msg, space, r.json()["id"])


async def truth(msg: Msg, channel_id: str, users: list[str]) -> dict[str, tuple[int, int]]:
    """(unread, mentions) per user, from the log alone."""
    store = await msg.api.db.store()
    events, after = [], Position(0, 0, 0)
    while True:
        batch = await store.read_all(after, limit=1000)
        if not batch:
            break
        events += batch
        after = batch[-1].position
    order: list[str] = []
    senders: dict[str, str] = {}
    mentions: dict[str, set[str]] = {}
    deleted: set[str] = set()
    cursor: dict[str, str] = {}
    for e in events:
        d = e.data
        if str(getattr(d, "channel_id", "")) != channel_id:
            continue
        if e.type == "MessageSent":
            mid = str(d.message_id)
            order.append(mid)
            senders[mid] = str(d.sender_id)
            mentions[mid] = {str(u) for u in d.mentions}
        elif e.type == "MessageEdited":
            mentions[str(d.message_id)] = {str(u) for u in d.mentions}
        elif e.type == "MessageDeleted":
            deleted.add(str(d.message_id))
        elif e.type == "ReadCursorMoved":
            cursor[str(d.user_id)] = str(d.message_id)
    result = {}
    for user in users:
        start = order.index(cursor[user]) + 1 if user in cursor else 0
        unread = [m for m in order[start:] if senders[m] != user and m not in deleted]
        result[user] = (len(unread), sum(user in mentions[m] for m in unread))
    return result


async def check_unreads(w: World) -> None:
    head = await w.msg.api.head()
    expected = await truth(w.msg, w.space.channel_id, [u.id for u in w.users])
    for user in w.users:
        got = (await w.msg.unread(user, head))[w.space.channel_id]
        assert (got["unread_count"], got["mention_count"]) == expected[user.id], user.id


@given(ops=st.lists(op_strategy, min_size=1, max_size=14))
async def test_unread_counts_equal_the_logs_truth(msg: Msg, ops: list[Op]) -> None:
    w = await world(msg)
    for op in ops:
        await w.run(op)
    await check_unreads(w)


async def test_unread_counts_under_concurrent_sends_and_marks(msg: Msg) -> None:
    w = await world(msg)
    for i in range(4):
        await w.run(("send", i, 0, frozenset({(i + 1) % 4})))
    ch = w.space.channel_id
    requests = []
    for i in range(12):
        user = w.users[i % 4]
        if i % 3 == 2:
            requests.append(("POST", f"/api/channels/{ch}/read", {
                "headers": user.auth, "json": {"message_id": w.sent[i % len(w.sent)]}}))
        else:
            requests.append(("POST", f"/api/channels/{ch}/messages", {
                "headers": user.auth, "json": body("x", mentions=[w.users[0].id])}))
    replies = await msg.api.concurrently(*requests)
    assert all(r.status_code in (200, 201) for r in replies), [r.text for r in replies]
    await check_unreads(w)


# -- rebuild equals live ----------------------------------------------------------------------

MINE = ("messages", "bookmarks", "message_search", "polls", "scheduled_messages", "webhooks")
TABLES = ("messages", "channel_heads", "message_edits", "reactions", "pins", "read_cursors",
          "bookmarks", "message_search", "polls", "poll_votes", "scheduled_messages",
          "webhooks")


async def _views(url: str) -> dict[str, list[tuple[Any, ...]]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        state = {}
        for name in TABLES:
            cur = await conn.execute(f'SELECT * FROM read_models."{name}"'.encode())
            state[name] = sorted(await cur.fetchall(), key=repr)
        return state


async def _builds(url: str) -> dict[str, int]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute("SELECT name, active_build FROM projection_versions")
        return {row[0]: row[1] for row in await cur.fetchall() if row[0] in MINE}


async def _settled(msg: Msg, owner: Any, head: str, after: dict[str, int]) -> None:
    target, deadline = Position.parse(head), time.monotonic() + 60
    while time.monotonic() < deadline:
        items = [i for i in (await msg.get(owner, "/api/admin/projections")).json()
                 if i["name"] in MINE]
        builds = await _builds(msg.api.db.database_url)
        if len(items) == len(MINE) and all(
                i["state"] == "live" and i["position"] and Position.parse(i["position"]) >= target
                and builds.get(i["name"]) != after.get(i["name"]) for i in items):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("projections did not settle")


async def test_messaging_read_models_rebuilt_from_the_log_equal_the_live_ones(msg: Msg) -> None:
    w = await world(msg)
    rng = random.Random(13)
    for _ in range(60):
        await w.run((rng.choice(OPS), rng.randrange(4), rng.randrange(10_000),
                     frozenset(rng.sample(range(4), rng.randrange(3)))))
    owner, ch = w.space.owner, w.space.channel_id
    alice = w.space.members[0]
    sent = await msg.send(alice, ch, "to keep")
    for r in (await msg.post(alice, "/api/bookmarks", {"message_id": sent["id"], "note": "n"}),
              await msg.post(alice, "/api/messages/schedule", {
                  "channel_id": ch, "scheduled_for": msg.at(86_400),
                  **body("later")}),
              await msg.post(owner, f"/api/channels/{ch}/webhooks", {"name": "CI"})):
        assert r.status_code == 201, r.text
    r = await msg.post(owner, f"/api/admin/messages/{sent['id']}/quarantine", {"reason": "r"})
    assert r.status_code == 200, r.text
    head = await msg.api.head()
    await _settled(msg, owner, head, {})
    live = await _views(msg.api.db.database_url)
    assert all(live[t] for t in ("messages", "message_edits", "reactions", "read_cursors",
                                 "bookmarks", "message_search", "polls", "poll_votes",
                                 "webhooks")), {t: len(v) for t, v in live.items()}
    before = await _builds(msg.api.db.database_url)
    for name in MINE:
        r = await msg.post(owner, f"/api/admin/projections/{name}/rebuild")
        assert r.status_code == 202, r.text
    await _settled(msg, owner, head, before)
    assert await _views(msg.api.db.database_url) == live
