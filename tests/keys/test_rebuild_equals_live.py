"""The log is the truth: every real read model rebuilt from position 0 answers exactly as
the live one did, after a flow that touches them all (account deletion's redactions and
sender-key copies included).

Channel membership rows are fixture data (there is no channels command yet)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg

from chatalot.ids import uuid7
from event_store import Position
from tests.keys.conftest import KeysApi, b64
from tests.keys.test_sender_keys import message_envelope


async def _views(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every read model, as the queries see it (through the read_models views), sorted."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT table_name FROM information_schema.views WHERE table_schema = 'read_models'"
            " ORDER BY table_name")
        names = [row[0] for row in await cur.fetchall()]
        state: dict[str, list[tuple[Any, ...]]] = {}
        for name in names:
            cur = await conn.execute(f'SELECT * FROM read_models."{name}"'.encode())
            state[name] = sorted(await cur.fetchall(), key=repr)
        return state


async def _active_builds(database_url: str) -> dict[str, int]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cur = await conn.execute("SELECT name, active_build FROM projection_versions")
        return {row[0]: row[1] for row in await cur.fetchall()}


async def _settled(kapi: KeysApi, owner_auth: dict[str, str], *, at: str,
                   after: dict[str, int]) -> None:
    """Every projector live and at position `at` or beyond, on a build other than
    `after`'s."""
    target = Position.parse(at)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = await kapi.client.get("/api/admin/projections", headers=owner_auth)
        items = r.json()
        builds = await _active_builds(kapi.api.db.database_url)
        if (all(i["state"] == "live" and i["position"]
                and Position.parse(i["position"]) >= target for i in items)
                and all(builds.get(i["name"]) != after.get(i["name"]) for i in items)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"projections did not settle: {items}")


async def _ordered_answers(kapi: KeysApi, owner: Any, alice: Any) -> dict[str, Any]:
    """The answers of the queries that list rows in an order, in that order."""
    paths = {"blocked": ("/api/users/blocked", alice), "sessions": ("/api/account/sessions",
             alice), "search": ("/api/users/search?q=bo", owner),
             "users": ("/api/admin/users", owner), "invites": ("/api/admin/invites", owner),
             "reports": ("/api/admin/reports", owner)}
    answers = {}
    for name, (path, who) in paths.items():
        r = await kapi.client.get(path, headers=who.auth)
        assert r.status_code == 200, (path, r.text)
        answers[name] = r.json()
    return answers


async def test_every_read_model_rebuilt_from_the_log_answers_the_same(kapi: KeysApi) -> None:
    api, client = kapi.api, kapi.client
    owner = await api.register("owner")
    alice, bob, carol = [await kapi.register(n) for n in ("alice", "bob", "carol")]
    # profiles, preferences, blocks, reports, invites, sessions
    await client.patch("/api/account/profile", headers=alice.auth,
                       json={"display_name": "Alice A.", "bio": "hello", "pronouns": "she/her"})
    await client.put("/api/account/preferences", headers=alice.auth,
                     json={"preferences": {"theme": "dark"}})
    await client.post("/api/users/block", headers=alice.auth, json={"user_id": bob.id})
    await client.post("/api/users/block", headers=alice.auth, json={"user_id": owner.id})
    r = await client.post("/api/reports", headers=bob.auth,
                          json={"report_type": "user", "target_id": carol.id, "reason": "spam"})
    await client.post(f"/api/admin/reports/{r.json()['id']}/review", headers=owner.auth,
                      json={"status": "dismissed"})
    invite = (await client.post("/api/admin/invites", headers=owner.auth, json={})).json()
    await client.post("/api/admin/invites", headers=owner.auth, json={"max_uses": 3})
    await client.delete(f"/api/admin/invites/{invite['id']}", headers=owner.auth)
    await api.relogin(bob.user)
    await client.post(f"/api/admin/users/{bob.id}/suspend", headers=owner.auth,
                      json={"reason": "cool down"})
    await client.post(f"/api/admin/users/{bob.id}/unsuspend", headers=owner.auth)
    # key traffic: claims, and sender-key copies in a channel
    for _ in range(3):
        assert (await kapi.bundle(alice, carol)).status_code == 200
    channel = uuid7()
    await kapi.join(channel, alice, bob, carol)
    for chain_id in (11, 12):
        r = await client.post(f"/api/channels/{channel}/sender-keys", headers=alice.auth, json={
            "chain_id": chain_id, "distributions": [
                {"recipient_id": bob.id, "envelope": b64(message_envelope())},
                {"recipient_id": carol.id, "envelope": b64(message_envelope())}]})
        assert r.status_code == 200, r.text
    # and a deletion, whose redactions rewrite earlier events in place
    r = await client.delete(f"/api/admin/users/{carol.id}", headers=owner.auth)
    assert r.status_code == 200, r.text
    head = await api.head()  # the deletion's redaction records come after its reply

    await _settled(kapi, owner.auth, at=head, after={})
    live = await _views(api.db.database_url)
    live_answers = await _ordered_answers(kapi, owner, alice)
    assert live["users"] and live["sessions"] and live["sender_keys"]
    # the deleted user's name is gone from the read model
    assert not [row for row in live["users"] if "carol" in row]

    before = await _active_builds(api.db.database_url)
    for name in before:
        r = await client.post(f"/api/admin/projections/{name}/rebuild", headers=owner.auth)
        assert r.status_code in (200, 202), r.text
    await _settled(kapi, owner.auth, at=head, after=before)
    rebuilt = await _views(api.db.database_url)
    assert rebuilt.keys() == live.keys()
    for name in live:
        assert rebuilt[name] == live[name], name
    # and the ordered queries list the same rows in the same order
    assert await _ordered_answers(kapi, owner, alice) == live_answers
