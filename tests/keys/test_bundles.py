"""GET /api/keys/{user_id}/bundle over HTTP: what it hands out, the one-time prekey claimed
once and only once (also under concurrent fetches, through the app and through the
command with separate connections), KeysLow once per crossing, the events with their
metadata, and the refusals (unknown or deleted user 404, blocked 403)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from chatalot.bootstrap import build_registry
from chatalot.db import make_pool
from chatalot.keys import commands
from chatalot.request_info import RequestInfo
from event_store import EventStore
from tests.keys.conftest import KeysApi, b64, random_public_keys, unb64


async def test_bundle_hands_out_identity_signed_and_one_one_time_prekey(kapi: KeysApi) -> None:
    # three requesters: each may take one of an owner's last five (test_drain.py)
    fetchers = [await kapi.register(one_time=0) for _ in range(3)]
    alice = await kapi.register("alice")
    bob = await kapi.register("bob", one_time=3)
    seen = []
    for fetcher in fetchers:
        r = await kapi.bundle(fetcher, bob)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["user_id"] == bob.id
        assert unb64(body["identity_key"]) == bob.keys.identity.public
        spk = bob.keys.signed_prekeys[1]
        assert body["signed_prekey"] == {"key_id": 1, "public_key": b64(spk.public),
                                         "signature": b64(spk.signature)}
        opk = body["one_time_prekey"]
        assert unb64(opk["public_key"]) == bob.keys.one_time_prekeys[opk["key_id"]].public
        assert body["position"]
        seen.append(opk["key_id"])
    assert sorted(seen) == [1, 2, 3]
    assert await kapi.count(bob) == 0
    r = await kapi.bundle(alice, bob)
    assert r.status_code == 200
    assert r.json()["one_time_prekey"] is None
    assert r.json()["position"] is None  # nothing claimed, KeysLow already sent
    rows = await kapi.api.db.fetch("SELECT count(*) FROM account_one_time_prekeys")
    assert rows == [(len(alice.keys.one_time_prekeys),)]
    del alice


async def test_claims_are_events_with_the_actor(kapi: KeysApi) -> None:
    alice = await kapi.register("alice")
    bob = await kapi.register("bob", one_time=25)
    headers = {**alice.auth, "User-Agent": "KeysClient/2.0", "X-Request-Id": "fetch-1"}
    r = await kapi.client.get(f"/api/keys/{bob.id}/bundle", headers=headers)
    assert r.status_code == 200, r.text
    claimed = [e for e in await kapi.events(f"keys-{bob.id}")
               if e.type == "OneTimePrekeyClaimed"]
    assert len(claimed) == 1
    event = claimed[0]
    assert event.data.user_id == bob.uuid and event.data.claimed_by == alice.uuid
    assert event.data.key_id == r.json()["one_time_prekey"]["key_id"]
    assert event.data.remaining == 24
    m = event.metadata
    assert m.actor_id == alice.id and m.command == "fetch_prekey_bundle"
    assert m.user_agent == "KeysClient/2.0" and m.correlation_id == "fetch-1" and m.ip
    assert r.json()["position"] == event.position.encode()


async def test_keys_low_once_per_crossing(kapi: KeysApi) -> None:
    # a new requester each time (one requester's fetches of one owner are rate limited)
    fetchers = iter([await kapi.register(one_time=0) for _ in range(16)])
    bob = await kapi.register("bob", one_time=22)

    async def fetch(times: int) -> list[str | None]:
        out = []
        for _ in range(times):
            alice = next(fetchers)
            r = await kapi.bundle(alice, bob)
            assert r.status_code == 200, r.text
            out.append(r.json()["position"])
        return out

    async def keys_low() -> list[Any]:
        return [e for e in await kapi.events(f"user-{bob.id}") if e.type == "KeysLow"]

    await fetch(2)  # 22 -> 20: not below the threshold
    assert await keys_low() == []
    await fetch(1)  # 19: crossing
    [first] = await keys_low()
    assert first.data.user_id == bob.uuid and first.data.remaining == 19
    assert first.metadata.actor_id == claims_by(await kapi.events(f"keys-{bob.id}"))[-1]
    claims = [e for e in await kapi.events(f"keys-{bob.id}")
              if e.type == "OneTimePrekeyClaimed"]
    assert first.metadata.causation_id == str(claims[-1].event_id)
    await fetch(4)  # 15: still below, no second notification
    assert len(await keys_low()) == 1
    r = await kapi.upload_one_time(bob, random_public_keys(1000, 3))  # 18: still below
    assert r.status_code == 200 and r.json()["count"] == 18
    await fetch(1)
    assert len(await keys_low()) == 1
    r = await kapi.upload_one_time(bob, random_public_keys(2000, 10))  # 27: re-armed
    assert r.json()["count"] == 27
    await fetch(7)  # 20
    assert len(await keys_low()) == 1
    await fetch(1)  # 19: a new crossing
    assert [e.data.remaining for e in await keys_low()] == [19, 19]


def claims_by(events: list[Any]) -> list[str]:
    return [str(e.data.claimed_by) for e in events if e.type == "OneTimePrekeyClaimed"]


async def test_few_keys_from_the_start_notify_at_the_first_fetch(kapi: KeysApi) -> None:
    alice = await kapi.register("alice")
    bob = await kapi.register("bob", one_time=0)
    r = await kapi.bundle(alice, bob)
    assert r.status_code == 200 and r.json()["one_time_prekey"] is None
    [low] = [e for e in await kapi.events(f"user-{bob.id}") if e.type == "KeysLow"]
    assert low.data.remaining == 0 and r.json()["position"] == low.position.encode()


async def test_own_bundle_claims_nothing(kapi: KeysApi) -> None:
    bob = await kapi.register("bob", one_time=5)
    r = await kapi.bundle(bob, bob)
    assert r.status_code == 200
    assert r.json()["one_time_prekey"] is None and r.json()["position"] is None
    assert await kapi.count(bob) == 5


async def test_unknown_deleted_and_blocked(kapi: KeysApi) -> None:
    await kapi.register("owner")
    alice = await kapi.register("alice")
    bob = await kapi.register("bob", one_time=5)
    carol = await kapi.register("carol")
    r = await kapi.bundle(alice, str(uuid.uuid4()))
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = await kapi.client.post("/api/users/block", json={"user_id": alice.id}, headers=bob.auth)
    assert r.status_code == 200, r.text
    r = await kapi.bundle(alice, bob)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert await kapi.count(bob) == 5
    assert (await kapi.bundle(carol, bob)).status_code == 200
    # blocking someone does not stop oneself from fetching their bundle
    assert (await kapi.bundle(bob, alice)).status_code == 200
    r = await kapi.client.request("DELETE", "/api/account/delete",
                                  json={"password": carol.user.password}, headers=carol.auth)
    assert r.status_code == 200, r.text
    r = await kapi.bundle(alice, carol)
    assert r.status_code == 404


async def test_concurrent_fetches_through_the_app(kapi: KeysApi) -> None:
    bob = await kapi.register("bob", one_time=10)
    # one fetch per requester: each may take one of bob's last five (test_drain.py)
    fetchers = [await kapi.register(one_time=0) for _ in range(20)]
    responses = await kapi.api.concurrently(*(
        ("GET", f"/api/keys/{bob.id}/bundle", {"headers": fetchers[i].auth})
        for i in range(20)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    handed = [r.json()["one_time_prekey"] for r in responses]
    ids = [opk["key_id"] for opk in handed if opk is not None]
    assert sorted(ids) == list(range(1, 11))  # ten distinct prekeys, none twice
    assert handed.count(None) == 10
    assert await kapi.count(bob) == 0
    claims = [e for e in await kapi.events(f"keys-{bob.id}")
              if e.type == "OneTimePrekeyClaimed"]
    assert sorted(e.data.key_id for e in claims) == list(range(1, 11))
    keys_low = [e for e in await kapi.events(f"user-{bob.id}") if e.type == "KeysLow"]
    assert len(keys_low) == 1


async def granted() -> bool:
    """The command alone: every reserve grant allowed (the app's buckets: test_drain.py)."""
    return True


@dataclass
class _Runtime:
    store: EventStore

    def now(self) -> datetime:
        return datetime.now(UTC)


async def test_concurrent_claims_on_separate_connections(kapi: KeysApi) -> None:
    """The command itself, 20 at once on 20 connections of the test's own pool."""
    bob = await kapi.register("bob", one_time=10)
    fetchers = [await kapi.register() for _ in range(5)]
    pool = make_pool(kapi.api.db.database_url, min_size=20, max_size=20)
    await pool.open(wait=True)
    store = EventStore(pool, build_registry())
    await store.start()
    try:
        rt = _Runtime(store)
        bundles = await asyncio.gather(*(
            commands.fetch_bundle(rt, fetchers[i % 5].uuid, bob.uuid, RequestInfo(ip="10.0.0.1"),
                                  take_reserve=granted)
            for i in range(20)))
    finally:
        await store.close()
        await pool.close()
    ids = [b.one_time_prekey[0] for b in bundles if b.one_time_prekey is not None]
    assert sorted(ids) == list(range(1, 11))
    assert sum(b.one_time_prekey is None for b in bundles) == 10


async def test_the_claim_statement_alone_never_hands_out_a_prekey_twice(kapi: KeysApi) -> None:
    """Without the per-user lock: 20 transactions that claim and hold their row a while."""
    bob = await kapi.register("bob", one_time=10)
    url = kapi.api.db.database_url

    holding = 0
    all_holding = asyncio.Event()

    async def claim() -> int | None:
        nonlocal holding
        async with await psycopg.AsyncConnection.connect(url) as conn:
            cur = await conn.execute(commands.CLAIM_ONE_TIME_PREKEY, (bob.uuid,))
            row = await cur.fetchone()
            holding += 1
            if holding == 20:
                all_holding.set()
            # they really overlap: every transaction holds its claim until all 20 do (a
            # claim that blocked behind another's row lock would never get here)
            await asyncio.wait_for(all_holding.wait(), timeout=30)
            await conn.commit()
            return None if row is None else int(row[0])

    got = await asyncio.gather(*(claim() for _ in range(20)))
    counts = Counter(k for k in got if k is not None)
    assert sorted(counts) == list(range(1, 11)) and set(counts.values()) == {1}
    assert got.count(None) == 10
