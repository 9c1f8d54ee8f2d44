"""The probe of issue 18: any user could drain another's one-time prekeys by fetching
bundles (5 fetches emptied one). Fetches are rate limited per requester and per
(requester, owner), and a requester gets at most one of an owner's last few prekeys."""

from __future__ import annotations

from chatalot.domain.keys import rules
from tests.keys.conftest import KeysApi


async def test_one_requester_cannot_drain_an_owners_last_prekeys(kapi: KeysApi) -> None:
    mallory = await kapi.register("mallory", one_time=0)
    bob = await kapi.register("bob", one_time=rules.ONE_TIME_RESERVE)
    answers = [await kapi.bundle(mallory, bob) for _ in range(5)]
    statuses = [r.status_code for r in answers]
    pair_burst = rules.BUNDLE_FETCHES_PER_PAIR[1]
    assert statuses == [200] * pair_burst + [429] * (5 - pair_burst), statuses
    assert answers[-1].json()["code"] == "rate_limited" and answers[-1].headers["retry-after"]
    handed = [r.json()["one_time_prekey"] for r in answers[:pair_burst]]
    assert handed[0] is not None and handed[1:] == [None] * (pair_burst - 1)
    # the bundles without one still carry the signed prekey: a session can start
    assert all(r.json()["signed_prekey"]["key_id"] == 1 for r in answers[:pair_burst])
    assert await kapi.count(bob) == rules.ONE_TIME_RESERVE - 1
    # another requester still gets one
    carol = await kapi.register("carol", one_time=0)
    assert (await kapi.bundle(carol, bob)).json()["one_time_prekey"] is not None


async def test_bundle_fetches_are_limited_per_pair_and_per_requester(kapi: KeysApi) -> None:
    burst = rules.BUNDLE_FETCHES_PER_REQUESTER[1]
    owners = [await kapi.register(one_time=0) for _ in range(burst)]  # before any fetch
    mallory = await kapi.register("mallory", one_time=0)
    bob = await kapi.register("bob", one_time=50)
    pair_burst = rules.BUNDLE_FETCHES_PER_PAIR[1]
    statuses = [(await kapi.bundle(mallory, bob)).status_code for _ in range(pair_burst + 2)]
    assert statuses == [200] * pair_burst + [429, 429]
    assert await kapi.count(bob) == 50 - pair_burst  # above the reserve: one each time
    # many owners: the requester's own bucket (5 taken above) runs out; it refills one
    # token per 3 s, so allow for a slow machine
    statuses = [(await kapi.bundle(mallory, owner)).status_code for owner in owners]
    assert statuses.count(429) >= 3, statuses
