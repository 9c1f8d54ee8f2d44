"""Admin purge (issue 11 item 5) through HTTP: after purging a message, a user's messages
or a channel's, their text is nowhere in the database (a raw scan of every table: the log,
edit history, search index, threads, pins...), the purge and its redactions are in the
audit log with actor, reason and address, the hash chains still verify, a purge
interrupted half-way finishes when retried, and every projection rebuilt from the log
answers the same."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import psycopg
import pytest

from chatalot.auth.ratelimit import MemoryRateLimiter
from chatalot.messaging.commands import purge as purge_command
from chatalot.messaging.runtime import MessagingRuntime
from chatalot.request_info import RequestInfo
from event_store import Position
from event_store.integrity import verify
from tests.logbook.test_redaction_flows import scan
from tests.messaging.conftest import Msg, b64, body

REASON = "illegal content"
HEADERS = {"User-Agent": "purge-test/1"}


@pytest.fixture
def msg(api: Any) -> Msg:
    return Msg(api)


async def _gone(msg: Msg, *needles: str) -> None:
    """No table holds any needle, once the projections caught up with the log."""
    await msg.api.head()
    for _ in range(100):
        leftovers = {n: await scan(msg.api.db.database_url, n) for n in needles}
        if not any(leftovers.values()):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(leftovers)


async def _purge(msg: Msg, staff: Any, path: str, status: int = 200) -> dict[str, Any]:
    r = await msg.client.post(f"/api/admin/purge/{path}", json={"reason": REASON},
                              headers={**staff.auth, **HEADERS})
    assert r.status_code == status, r.text
    result: dict[str, Any] = r.json()
    return result


async def _runtime(msg: Msg) -> MessagingRuntime:
    store = await msg.api.db.store()
    return MessagingRuntime(store, store.pool, MemoryRateLimiter(), clock=msg.api.clock)


async def _verified(msg: Msg) -> None:
    store = await msg.api.db.store()
    async with store.pool.connection() as conn:
        report = await verify(conn)
    assert report.ok, report


async def test_purging_a_message_removes_its_text_everywhere(msg: Msg) -> None:
    staff = await msg.api.register()  # the instance owner
    space = await msg.space(members=2)
    alice, bob = space.members
    ch = space.channel_id
    first, second = "zebrafish one", "zebrafish two"
    sent = await msg.send(alice, ch, first)
    r = await msg.client.patch(f"/api/messages/{sent['id']}", json={"ciphertext": b64(second)},
                               headers=alice.auth)
    assert r.status_code == 200, r.text
    kept = await msg.send(bob, ch, "a kept message", thread_id=sent["id"])
    assert (await msg.post(space.owner, f"/api/channels/{ch}/pins/{sent['id']}")
            ).status_code in (200, 201)
    r = await msg.post(bob, "/api/bookmarks", {"message_id": sent["id"]})
    assert r.status_code == 201, r.text
    await msg.api.head()
    assert "public.events" in await scan(msg.api.db.database_url, b64(first))
    assert await scan(msg.api.db.database_url, "zebrafish")  # the search index has it

    # only instance staff; a community owner is not
    await _purge(msg, space.owner, f"message/{sent['id']}", 403)
    await _purge(msg, staff, "message/00000000-0000-0000-0000-000000000001", 404)
    done = await _purge(msg, staff, f"message/{sent['id']}")
    assert done["purged"] == 1 and done["redacted"] == 2
    await _gone(msg, b64(first), b64(second), "zebrafish")
    again = await _purge(msg, staff, f"message/{sent['id']}")
    assert again["purged"] == 0 and again["redacted"] == 0

    pos = done["position"]
    [m, k] = sorted((await msg.history(bob, ch, pos))["items"],
                    key=lambda i: i["id"] != sent["id"])
    assert m["id"] == sent["id"] and m["deleted"] and k["id"] == kept["id"]
    r = await msg.get(bob, f"/api/channels/{ch}/pins", pos)
    assert r.json() == [] or r.json().get("items") == []
    r = await msg.get(bob, "/api/messages/search", pos, q="zebrafish")
    assert r.status_code == 200 and r.json()["items"] == []

    # audited: the purge (who, whom, why, from where) and each redaction
    headers = {**staff.auth, **await msg.api.wait(await msg.api.head())}
    r = await msg.client.get("/api/admin/audit-log", headers=headers,
                             params={"action": "MessagePurged"})
    [entry] = r.json()["items"]
    assert entry["actor_id"] == staff.id and entry["target_user_id"] == alice.id
    assert entry["reason"] == REASON and entry["ip"]
    assert entry["user_agent"] == "purge-test/1"
    assert entry["channel_id"] == ch
    r = await msg.client.get("/api/admin/audit-log", headers=headers,
                             params={"action": "EventRedacted", "actor": staff.id})
    assert len(r.json()["items"]) == 2
    await _verified(msg)
    # messaging's quarantine is audited too
    r = await msg.client.post(f"/api/admin/messages/{kept['id']}/quarantine",
                              json={"reason": "spam"}, headers={**staff.auth, **HEADERS})
    assert r.status_code == 200, r.text
    r = await msg.client.post(f"/api/admin/messages/{kept['id']}/unquarantine",
                              headers={**staff.auth, **HEADERS})
    assert r.status_code == 200, r.text
    headers = {**staff.auth, **await msg.api.wait(r.json()["position"])}
    r = await msg.client.get("/api/admin/audit-log", headers=headers, params={
        "action": ["MessageQuarantined", "MessageUnquarantined"], "order": "asc"})
    assert [(e["action"], e["actor_id"], e["reason"], e["user_agent"]) for e in r.json()[
        "items"]] == [("MessageQuarantined", staff.id, "spam", "purge-test/1"),
                      ("MessageUnquarantined", staff.id, None, "purge-test/1")]
    # time travel: before the purge the message counted and was pinned; now neither
    state = (await msg.client.get(f"/api/admin/channels/{ch}/state", headers=headers)).json()
    assert state["message_count"] == 1 and state["pins"] == []
    state = (await msg.client.get(f"/api/admin/channels/{ch}/state", headers=headers,
                                  params={"at_position": kept["position"]})).json()
    assert state["message_count"] == 2


async def test_user_and_channel_purges_in_batches_survive_an_interruption(
        msg: Msg, monkeypatch: pytest.MonkeyPatch) -> None:
    staff = await msg.api.register()
    space = await msg.space(members=2)
    alice, bob = space.members
    ch = space.channel_id
    monkeypatch.setattr(purge_command, "PURGE_BATCH", 2)
    texts = [f"quagga {i}" for i in range(5)]
    for text in texts:
        await msg.send(alice, ch, text)
    await msg.send(bob, ch, "bob stays")
    # a scheduled message, delivered: its body is in its scheduled- stream too
    r = await msg.post(alice, "/api/messages/schedule", {
        "channel_id": ch, "scheduled_for": msg.at(60), **body("quagga later")})
    assert r.status_code == 201, r.text
    texts.append("quagga later")
    scheduled = f"scheduled-{r.json()['id']}"
    for _ in range(200):
        msg.api.clock.advance(70)
        if len(await msg.api.events(scheduled)) == 2:
            break
        await asyncio.sleep(0.05)
    assert [e.type for e in await msg.api.events(scheduled)][-1] == "ScheduledMessageDelivered"
    # the first run dies after its first batch's events, before any body is redacted
    real = purge_command._redact_bodies

    async def crash(*args: Any) -> Any:
        raise RuntimeError("killed")

    monkeypatch.setattr(purge_command, "_redact_bodies", crash)
    with pytest.raises(RuntimeError):
        await purge_command.purge(await _runtime(msg), uuid.UUID(staff.id), "user",
                                  uuid.UUID(alice.id), REASON, RequestInfo())
    monkeypatch.setattr(purge_command, "_redact_bodies", real)
    done = await _purge(msg, staff, f"user/{alice.id}/messages")
    # 2 were purged by the first run; 6 MessageSent and the MessageScheduled redacted now
    assert done["purged"] == 4 and done["redacted"] == 7
    await _gone(msg, *map(b64, texts), "quagga")
    headers = {**staff.auth, **await msg.api.wait(await msg.api.head())}
    state = (await msg.client.get(f"/api/admin/channels/{ch}/state", headers=headers)).json()
    assert state["message_count"] == 1

    await msg.send(alice, ch, "okapi after")
    done = await _purge(msg, staff, f"channel/{ch}")
    assert done["purged"] == 2  # bob's and alice's new one; the purged ones are done
    await _gone(msg, b64("bob stays"), b64("okapi after"), "okapi")
    headers = {**staff.auth, **await msg.api.wait(await msg.api.head())}
    state = (await msg.client.get(f"/api/admin/channels/{ch}/state", headers=headers)).json()
    assert state["message_count"] == 0
    r = await msg.client.get("/api/admin/audit-log", headers=headers,
                             params={"action": "MessagePurged", "limit": 100})
    assert len(r.json()["items"]) == 8
    await _verified(msg)
    await _rebuilt_equal(msg, staff)


# every projection, rebuilt from the (redacted) log, answers the same as the live one
async def _tables(url: str) -> dict[str, list[Any]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute("SELECT table_name FROM information_schema.tables"
                                 " WHERE table_schema = 'read_models' ORDER BY 1")
        names = [row[0] for row in await cur.fetchall()]
        views = {}
        for name in names:
            rows = await conn.execute(f'SELECT * FROM read_models."{name}"'.encode())
            views[name] = sorted(await rows.fetchall(), key=repr)
        return views


async def _settled(msg: Msg, staff: Any, head: str, rebuilt: set[str]) -> list[str]:
    target, deadline = Position.parse(head), time.monotonic() + 60
    while time.monotonic() < deadline:
        items = (await msg.get(staff, "/api/admin/projections")).json()
        if all(i["state"] == "live" and i["position"]
               and Position.parse(i["position"]) >= target for i in items) and (
                not rebuilt or await _builds(msg) != rebuilt):
            return [i["name"] for i in items]
        await asyncio.sleep(0.1)
    raise AssertionError("projections did not settle")


async def _builds(msg: Msg) -> set[str]:
    rows = await msg.api.db.fetch("SELECT name || ':' || active_build FROM projection_versions")
    return {row[0] for row in rows}


async def _rebuilt_equal(msg: Msg, staff: Any) -> None:
    head = await msg.api.head()
    names = await _settled(msg, staff, head, set())
    live = await _tables(msg.api.db.database_url)
    before = await _builds(msg)
    for name in names:
        r = await msg.post(staff, f"/api/admin/projections/{name}/rebuild")
        assert r.status_code == 202, r.text
    await _settled(msg, staff, head, before)
    for _ in range(100):
        if not (await _builds(msg)) & before:
            break
        await asyncio.sleep(0.1)
    rebuilt = await _tables(msg.api.db.database_url)
    assert rebuilt.keys() == live.keys()
    for name in live:
        assert rebuilt[name] == live[name], name


async def test_a_purge_racing_edits_leaves_no_edited_text(msg: Msg) -> None:
    """Edits sent at the same moment as the purge either land before it (and their bodies
    are redacted with the rest) or are refused after it; none survives in any table."""
    staff = await msg.api.register()
    space = await msg.space(members=1)
    [alice] = space.members
    sent = await msg.send(alice, space.channel_id, "wombat zero")
    edits = [("PATCH", f"/api/messages/{sent['id']}",
              {"json": {"ciphertext": b64(f"wombat {i}")}, "headers": alice.auth})
             for i in range(1, 5)]
    replies = await msg.api.concurrently(
        *edits[:2], ("POST", f"/api/admin/purge/message/{sent['id']}",
                     {"json": {"reason": REASON}, "headers": staff.auth}), *edits[2:])
    assert replies[2].status_code == 200, replies[2].text
    assert {r.status_code for r in replies[:2] + replies[3:]} <= {200, 404, 409}
    await _gone(msg, *(b64(f"wombat {i}") for i in range(5)), "wombat")
    await _verified(msg)
