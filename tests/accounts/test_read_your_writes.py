"""Read-your-writes by default: a session's queries see its own last command without the
Chatalot-Min-Position header (issue 9 item 7)."""

from __future__ import annotations

import uuid

import pytest

from chatalot.session_positions import InProcessSessionPositions, RedisSessionPositions
from event_store import Position


async def test_me_right_after_registering_is_there_without_a_header(api):
    """It answered 404 in about 3 of 8 tries when the projector had not caught up yet."""
    for _ in range(8):
        user = await api.register()
        r = await api.client.get("/api/account/me", headers=user.auth)
        assert r.status_code == 200, r.text
        assert r.json()["id"] == user.id


async def test_a_profile_change_is_seen_by_the_next_query_of_the_same_session(api):
    user = await api.register()
    for n in range(6):
        r = await api.client.patch("/api/account/profile", headers=user.auth,
                                 json={"display_name": f"name {n}"})
        assert r.status_code == 200, r.text
        me = await api.client.get("/api/account/me", headers=user.auth)
        assert me.json()["display_name"] == f"name {n}"


async def test_login_starts_a_session_whose_queries_wait_for_the_login(api):
    user = await api.register()
    for _ in range(4):
        user = await api.relogin(user)
        sessions = await api.client.get("/api/account/sessions", headers=user.auth)
        assert sessions.status_code == 200, sessions.text
        assert any(s["current"] for s in sessions.json()), sessions.json()


def _positions() -> list[Position]:
    return [Position(1, 700, 9), Position(1, 701, 2), Position(1, 699, 50), Position(2, 5, 1)]


async def test_in_process_positions_keep_the_newest():
    kept = InProcessSessionPositions()
    session = uuid.uuid4()
    assert await kept.last(session) is None
    for position in _positions():
        await kept.remember(session, position)
    assert await kept.last(session) == Position(2, 5, 1)
    await kept.remember(session, Position(1, 1, 1))
    assert await kept.last(session) == Position(2, 5, 1)
    expired = InProcessSessionPositions(ttl_secs=0)
    await expired.remember(session, Position(1, 1, 1))
    assert await expired.last(session) is None


@pytest.mark.redis
async def test_redis_positions_keep_the_newest_across_nodes(redis_url):
    """Two nodes remember positions of one session in any order: the newest stays, with a
    TTL, so a query on either node waits for it."""
    import redis.asyncio as redis

    a, b = redis.Redis.from_url(redis_url), redis.Redis.from_url(redis_url)
    try:
        node_a, node_b = RedisSessionPositions(a), RedisSessionPositions(b)
        session = uuid.uuid4()
        assert await node_b.last(session) is None
        for i, position in enumerate(_positions()):
            await (node_a if i % 2 else node_b).remember(session, position)
        assert await node_a.last(session) == Position(2, 5, 1)
        await node_a.remember(session, Position(1, 10**15, 10**15))  # older epoch
        assert await node_b.last(session) == Position(2, 5, 1)
        ttl = await a.ttl(f"chatalot:session-position:{session}")
        assert 0 < ttl <= 30
    finally:
        await a.aclose()
        await b.aclose()
