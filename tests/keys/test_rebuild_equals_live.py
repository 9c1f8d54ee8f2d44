"""The log is the truth: every real read model rebuilt from position 0 answers exactly as
the live one did, after a flow that touches them all (account deletion's redactions and
sender-key copies included).

Channel membership rows are fixture data (there is no channels command yet)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from typing import Any

import psycopg

from chatalot.ids import uuid7
from event_store import Position
from tests.keys.conftest import KeysApi, b64
from tests.keys.test_sender_keys import message_envelope

READ_MODELS = {"audit_log", "event_type_counts", "registration_invites", "reports", "sender_keys",
               "sessions", "stream_heads", "user_blocks", "user_preferences", "users"}


async def _views(database_url: str, only: Collection[str] | None = None
                 ) -> dict[str, list[tuple[Any, ...]]]:
    """The read models named in `only` (every one when None), as the queries see them
    (through the read_models views), sorted. Each context's test names its own."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT table_name FROM information_schema.views WHERE table_schema = 'read_models'"
            " ORDER BY table_name")
        names = [row[0] for row in await cur.fetchall() if only is None or row[0] in only]
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


async def _answers(kapi: KeysApi, owner: Any, alice: Any, bob: Any, channel: Any
                   ) -> dict[str, Any]:
    """What the list queries answer, in the order they answer it (their ORDER BY runs
    over projected columns: a rebuild that orders rows differently shows here)."""
    get = kapi.client.get
    reads = {
        "admin_users": get("/api/admin/users", headers=owner.auth),
        "reports": get("/api/admin/reports", headers=owner.auth),
        "audit_log": get("/api/admin/audit-log?limit=500", headers=owner.auth),
        "invites": get("/api/admin/invites", headers=owner.auth),
        "sessions": get("/api/account/sessions", headers=bob.auth),
        "blocked": get("/api/users/blocked", headers=alice.auth),
        "search": get("/api/users/search?q=bo", headers=owner.auth),
        "profile": get(f"/api/users/{alice.id}", headers=owner.auth),
        "preferences": get("/api/account/preferences", headers=alice.auth),
        "sender_keys_bob": get(f"/api/channels/{channel}/sender-keys", headers=bob.auth),
    }
    answers: dict[str, Any] = {}
    for name, request in reads.items():
        r = await request
        assert r.status_code == 200, (name, r.text)
        answers[name] = r.json()
        assert answers[name], name  # an empty answer would compare equal to anything empty
    return answers


async def test_every_read_model_rebuilt_from_the_log_answers_the_same(kapi: KeysApi) -> None:
    api, client = kapi.api, kapi.client
    owner = await api.register("owner")
    alice, bob, carol = [await kapi.register(n) for n in ("alice", "bob", "carol")]

    async def ok(status: int, request: Any) -> Any:
        """Every setup request must do what it says: a failing command would leave the
        live and the rebuilt read models equally empty, and the comparison would pass."""
        r = await request
        assert r.status_code == status, r.text
        return r.json()

    # profiles, preferences, blocks, reports, invites, sessions
    await ok(200, client.patch("/api/account/profile", headers=alice.auth, json={
        "display_name": "Alice A.", "bio": "hello", "pronouns": "she/her"}))
    await ok(200, client.put("/api/account/preferences", headers=alice.auth,
                             json={"preferences": {"theme": "dark"}}))
    await ok(200, client.post("/api/users/block", headers=alice.auth,
                              json={"user_id": bob.id}))
    await ok(200, client.post("/api/users/block", headers=alice.auth,
                              json={"user_id": owner.id}))
    for target in (carol, alice):
        report = await ok(201, client.post("/api/reports", headers=bob.auth, json={
            "report_type": "user", "target_id": target.id, "reason": "spam"}))
    await ok(200, client.post(f"/api/admin/reports/{report['id']}/review",
                              headers=owner.auth, json={"status": "dismissed"}))
    invite = await ok(201, client.post("/api/admin/invites", headers=owner.auth, json={}))
    for uses in (3, 4):
        await ok(201, client.post("/api/admin/invites", headers=owner.auth,
                                  json={"max_uses": uses}))
    await ok(200, client.delete(f"/api/admin/invites/{invite['id']}", headers=owner.auth))
    await api.relogin(bob.user)
    await api.relogin(bob.user)
    await ok(200, client.post(f"/api/admin/users/{bob.id}/suspend", headers=owner.auth,
                              json={"reason": "cool down"}))
    await ok(200, client.post(f"/api/admin/users/{bob.id}/unsuspend", headers=owner.auth))
    await api.relogin(bob.user)  # the suspension ended bob's sessions
    await api.relogin(bob.user)
    # key traffic: claims, and sender-key copies in a channel
    for _ in range(3):
        assert (await kapi.bundle(alice, carol)).status_code == 200
    channel = uuid7()
    await kapi.join(channel, alice, bob, carol)
    for sender, recipients in ((alice, (bob, carol)), (carol, (bob, alice))):
        for chain_id in (11, 12):
            await ok(200, client.post(
                f"/api/channels/{channel}/sender-keys", headers=sender.auth, json={
                    "chain_id": chain_id, "distributions": [
                        {"recipient_id": r.id, "envelope": b64(message_envelope())}
                        for r in recipients]}))
    # and a deletion, whose redactions rewrite earlier events in place
    await ok(200, client.delete(f"/api/admin/users/{carol.id}", headers=owner.auth))
    head = await api.head()  # the deletion's redaction records come after its reply

    await _settled(kapi, owner.auth, at=head, after={})
    live = await _views(api.db.database_url, READ_MODELS)
    assert set(live) == READ_MODELS  # other contexts' read models are theirs to test
    empty = [name for name in READ_MODELS if not live[name]]
    assert not empty, f"read models the flow left empty: {empty}"
    # the deleted user's name is gone from the read model
    assert not [row for row in live["users"] if "carol" in row]
    live_answers = await _answers(kapi, owner, alice, bob, channel)

    before = await _active_builds(api.db.database_url)
    assert set(before) >= {"users", "sessions", "sender_keys", "event_stats"}
    for name in before:
        r = await client.post(f"/api/admin/projections/{name}/rebuild", headers=owner.auth)
        assert (r.status_code, r.json()["requested"]) == (202, True), r.text
    await _settled(kapi, owner.auth, at=head, after=before)
    rebuilt = await _views(api.db.database_url, READ_MODELS)
    assert rebuilt.keys() == live.keys()
    for name in live:
        assert rebuilt[name] == live[name], name
    assert await _answers(kapi, owner, alice, bob, channel) == live_answers
