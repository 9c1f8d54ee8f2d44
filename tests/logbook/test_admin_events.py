"""GET /api/admin/events and /api/admin/streams/{id} through HTTP: every filter, cursor
paging both ways, authorization and input validation."""

from __future__ import annotations

from typing import Any

import pytest

from event_store import Position
from tests.accounts.conftest import Api, User


async def log(api: Api, user: User, path: str = "/api/admin/events", **params: Any
              ) -> dict[str, Any]:
    r = await api.client.get(path, params=params, headers=user.auth)
    assert r.status_code == 200, r.text
    return r.json()


async def everything(api: Api, user: User, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await log(api, user, **params, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


@pytest.fixture
async def seeded(api: Api) -> tuple[User, User, User]:
    owner = await api.register()
    alice = await api.register()
    bob = await api.register()
    await api.head()
    return owner, alice, bob


async def test_filters_and_paging(api: Api, seeded: tuple[User, User, User]) -> None:
    owner, alice, _ = seeded
    full = await everything(api, owner, limit=500)
    assert len(full) >= 6
    positions = [e["position"] for e in full]
    assert len(set(positions)) == len(positions)
    assert {"position", "stream_id", "version", "event_id", "type", "data", "metadata",
            "recorded_at", "redacted"} <= full[0].keys()
    # paging in small pages, either way, gives the same events in the same order
    for limit in (1, 2, 5):
        assert await everything(api, owner, limit=limit) == full
        assert await everything(api, owner, limit=limit, order="desc") == full[::-1]
    # stream and category
    mine = await everything(api, owner, stream=f"user-{alice.id}")
    assert mine and {e["stream_id"] for e in mine} == {f"user-{alice.id}"}
    users = await everything(api, owner, category="user")
    assert {e["stream_id"].split("-")[0] for e in users} == {"user"}
    assert {f"user-{u.id}" for u in seeded} <= {e["stream_id"] for e in users}
    # type (repeatable)
    kinds = sorted({e["type"] for e in full})
    one = await everything(api, owner, type=kinds[0])
    assert one == [e for e in full if e["type"] == kinds[0]]
    two = await everything(api, owner, type=kinds[:2])
    assert two == [e for e in full if e["type"] in kinds[:2]]
    # actor and correlation id, from the metadata
    actors = [e for e in full if e["metadata"].get("actor_id")]
    if actors:
        actor = actors[0]["metadata"]["actor_id"]
        assert await everything(api, owner, actor=actor) == [
            e for e in full if e["metadata"].get("actor_id") == actor]
    correlated = [e for e in full if e["metadata"].get("correlation_id")]
    if correlated:
        cid = correlated[-1]["metadata"]["correlation_id"]
        assert await everything(api, owner, correlation_id=cid) == [
            e for e in full if e["metadata"].get("correlation_id") == cid]
    # positions (exclusive) and times (inclusive)
    middle = full[len(full) // 2]["position"]
    assert await everything(api, owner, after=middle) == full[len(full) // 2 + 1:]
    assert await everything(api, owner, before=middle) == full[:len(full) // 2]
    first_time, last_time = full[0]["recorded_at"], full[-1]["recorded_at"]
    assert await everything(api, owner, since=first_time, until=last_time) == full
    assert await everything(api, owner, since="2999-01-01T00:00:00Z") == []
    # a filter with a cursor, newest first
    assert await everything(api, owner, category="user", order="desc", limit=2) == users[::-1]


async def test_one_stream(api: Api, seeded: tuple[User, User, User]) -> None:
    owner, alice, _ = seeded
    page = await log(api, owner, f"/api/admin/streams/user-{alice.id}")
    versions = [e["version"] for e in page["items"]]
    assert versions == list(range(1, len(versions) + 1))
    back = await log(api, owner, f"/api/admin/streams/user-{alice.id}", order="desc", limit=1)
    assert back["items"][0]["version"] == versions[-1]
    r = await api.client.get("/api/admin/streams/user-nobody", headers=owner.auth)
    assert r.status_code == 404 and r.json()["code"] == "not_found"


async def test_staff_only(api: Api, seeded: tuple[User, User, User]) -> None:
    _, alice, _ = seeded
    for path in ("/api/admin/events", f"/api/admin/streams/user-{alice.id}"):
        r = await api.client.get(path, headers=alice.auth)
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
        r = await api.client.get(path)
        assert r.status_code == 401


BAD = [
    {"after": "nope"}, {"before": "1.2"}, {"cursor": "x.y.z"}, {"since": "yesterday"},
    {"until": "2024-01-01T00:00:00"}, {"order": "sideways"}, {"limit": "0"},
    {"limit": "501"}, {"limit": "many"}, {"type": "Drop Table"}, {"stream": "a\x01b"},
    {"category": "x" * 201}, {"actor": ""}, {"after": "1.99999999999999999999.1"},
]


async def test_bad_input_is_400(api: Api, seeded: tuple[User, User, User]) -> None:
    owner = seeded[0]
    for params in BAD:
        for path in ("/api/admin/events", f"/api/admin/streams/user-{owner.id}"):
            r = await api.client.get(path, params=params, headers=owner.auth)
            if path != "/api/admin/events" and not {"cursor", "order", "limit"} & set(params):
                continue  # the stream route takes only these
            assert r.status_code == 400, (params, r.text)
            assert r.json()["code"] == "bad_request"


async def test_audit_log(api: Api, seeded: tuple[User, User, User]) -> None:
    owner, alice, bob = seeded
    r = await api.client.post(f"/api/admin/users/{alice.id}/suspend",
                              json={"reason": "spam"}, headers={
                                  **owner.auth, "User-Agent": "audit-test/1"})
    assert r.status_code == 200, r.text
    suspended = r.json()["position"]
    bad = await api.client.post("/api/auth/login", json={"username": bob.username,
                                                          "password": "wrong password!"})
    assert bad.status_code == 401
    r = await api.client.post(f"/api/admin/users/{alice.id}/unsuspend", headers=owner.auth)
    last = r.json()["position"]
    headers = {**owner.auth, **await api.wait(last)}

    async def audit(**params: Any) -> list[dict[str, Any]]:
        r = await api.client.get("/api/admin/audit-log", params=params, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()["items"]

    entries = await audit()
    actions = [e["action"] for e in entries if e["action"] != "SessionRevoked"]
    assert actions[:3] == ["UserUnsuspended", "LoginFailed", "UserSuspended"]  # newest first
    (suspension,) = [e for e in entries if e["action"] == "UserSuspended"]
    revoked = [e for e in entries if e["action"] == "SessionRevoked"]
    assert revoked and {e["target_user_id"] for e in revoked} == {alice.id}
    assert suspension["actor_id"] == owner.id and suspension["target_user_id"] == alice.id
    assert suspension["reason"] == "spam" and suspension["user_agent"] == "audit-test/1"
    assert suspension["ip"]
    assert Position.parse(suspension["position"]) <= Position.parse(suspended)
    assert [e["action"] for e in await audit(target=alice.id)
            if e["action"] != "SessionRevoked"] == ["UserUnsuspended", "UserSuspended"]
    assert {e["actor_id"] for e in await audit(actor=owner.id)} == {owner.id}
    assert [e["action"] for e in await audit(action=["LoginFailed", "UserSuspended"])] == [
        "LoginFailed", "UserSuspended"]
    assert await audit(since="2999-01-01T00:00:00Z") == []
    # paging: pages of one, both ways
    paged, cursor = [], None
    while True:
        r = await api.client.get("/api/admin/audit-log", headers=headers,
                                 params={"limit": 1, **({"cursor": cursor} if cursor else {})})
        paged += r.json()["items"]
        if (cursor := r.json()["next_cursor"]) is None:
            break
    assert paged == entries
    assert await audit(order="asc", limit=500) == entries[::-1]
    r = await api.client.get("/api/admin/audit-log", headers=alice.auth)
    assert r.status_code in (401, 403)  # alice's session ended with her suspension
    r = await api.client.get("/api/admin/audit-log", headers=bob.auth)
    assert r.status_code == 403
    for params in ({"community_id": "nope"}, {"action": "a b"}, {"order": "up"},
                   {"cursor": "1"}, {"limit": 0}):
        r = await api.client.get("/api/admin/audit-log", params=params, headers=owner.auth)
        assert r.status_code == 400 and r.json()["code"] == "bad_request", params
