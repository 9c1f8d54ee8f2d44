"""Search through HTTP: full-text match, ranking and snippets, filters, cursor paging,
only readable channels, E2E never indexed, edits and deletions leave the index."""

from __future__ import annotations

import uuid

import msgspec

from tests.messaging.conftest import Msg, b64, e2e_body


async def _search(msg: Msg, user: object, path: str = "/api/messages/search", **params: object
                  ) -> dict:  # type: ignore[type-arg]
    r = await msg.get(user, path, await msg.api.head(), **params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_search_flow(msg: Msg) -> None:
    space = await msg.space(members=2)
    alice, bob = space.members
    ch = space.channel_id
    a = await msg.send(alice, ch, "The deployment pipeline failed again")
    b = await msg.send(bob, ch, "deploying the pipeline now; the pipeline is green")
    await msg.send(bob, ch, "lunch?")
    got = await _search(msg, alice, q="pipeline")
    assert [h["message_id"] for h in got["items"]] == [b["id"], a["id"]]  # ranked
    assert "<mark>pipeline</mark>" in got["items"][0]["snippet"].lower()
    got = await _search(msg, alice, q='"pipeline failed"')
    assert [h["message_id"] for h in got["items"]] == [a["id"]]
    got = await _search(msg, alice, q="pipeline -green")
    assert [h["message_id"] for h in got["items"]] == [a["id"]]
    got = await _search(msg, alice, q="pipeline", sender=bob.id)
    assert [h["message_id"] for h in got["items"]] == [b["id"]]
    got = await _search(msg, alice, q="pipeline", sender_name=alice.username.upper())
    assert [h["message_id"] for h in got["items"]] == [a["id"]]
    got = await _search(msg, alice, f"/api/channels/{ch}/messages/search", q="deploy")
    assert {h["message_id"] for h in got["items"]} == {a["id"], b["id"]}  # stemmed
    assert (await _search(msg, alice, q="pipeline", has_file="true"))["items"] == []
    assert (await _search(msg, alice, q="pipeline", after="2999-01-01T00:00:00Z"))["items"] \
        == []
    # paging: one at a time, never a repeat
    page = await _search(msg, alice, q="pipeline", limit=1)
    second = await _search(msg, alice, q="pipeline", limit=1, cursor=page["next_cursor"])
    assert [h["message_id"] for h in page["items"] + second["items"]] == [b["id"], a["id"]]
    assert second["next_cursor"] is None


async def test_search_sees_only_readable_server_readable_text(msg: Msg) -> None:
    space = await msg.space(members=2)
    alice, bob = space.members
    other = await msg.space(members=0)
    await msg.send(other.owner, other.channel_id, "secret pipeline plans")
    dm = await msg.spaces.dm(alice, bob)
    r = await msg.post(alice, f"/api/channels/{dm}/messages", e2e_body())
    assert r.status_code == 201
    mine = await msg.send(alice, space.channel_id, "public pipeline")
    got = await _search(msg, alice, q="pipeline")
    assert [h["message_id"] for h in got["items"]] == [mine["id"]]
    outsider = await msg.api.register()
    r = await msg.get(outsider, f"/api/channels/{space.channel_id}/messages/search", q="x")
    assert r.status_code == 403
    async_rows = await msg.api.db.fetch(
        "SELECT count(*) FROM read_models.message_search WHERE channel_id = %s", (dm,))
    assert async_rows[0][0] == 0


async def test_edits_and_deletions_leave_the_index(msg: Msg) -> None:
    space = await msg.space(members=1)
    [alice] = space.members
    sent = await msg.send(alice, space.channel_id, "typo pipelnie")
    assert len((await _search(msg, alice, q="pipelnie"))["items"]) == 1
    r = await msg.client.patch(f"/api/messages/{sent['id']}", headers=alice.auth,
                               json={"ciphertext": b64("fixed pipeline")})
    assert r.status_code == 200
    assert (await _search(msg, alice, q="pipelnie"))["items"] == []
    assert len((await _search(msg, alice, q="pipeline"))["items"]) == 1
    r = await msg.client.delete(f"/api/messages/{sent['id']}", headers=alice.auth)
    assert r.status_code == 200
    assert (await _search(msg, alice, q="pipeline"))["items"] == []


async def test_search_input_is_validated(msg: Msg) -> None:
    space = await msg.space(members=1)
    [alice] = space.members
    for params in ({}, {"q": ""}, {"q": "x" * 501}, {"q": "a", "limit": 0},
                   {"q": "a", "cursor": "nope"}, {"q": "a", "before": "yesterday"},
                   {"q": "a", "sender": "me"}):
        r = await msg.get(alice, "/api/messages/search", **params)
        assert r.status_code == 400, (params, r.text)
    r = await msg.get(alice, "/api/messages/search", q="a", channel_id=str(uuid.uuid4()))
    assert r.status_code == 404


async def test_a_redacted_body_leaves_history_and_the_index(msg: Msg) -> None:
    space = await msg.space(members=1)
    [alice] = space.members
    sent = await msg.send(alice, space.channel_id, "personal secret pipeline")
    assert len((await _search(msg, alice, q="secret"))["items"]) == 1
    store = await msg.api.db.store()
    [original] = await store.read_stream(f"message-{sent['id']}")
    await store.redact(original.event_id, msgspec.structs.replace(
        original.data, ciphertext=b64("[redacted]")), reason="purge")
    assert (await _search(msg, alice, q="secret"))["items"] == []
    [m] = (await msg.history(alice, space.channel_id, await msg.api.head()))["items"]
    assert m["ciphertext"] is None and not m["deleted"]


async def test_the_search_statement_is_never_a_generic_plan(msg: Msg) -> None:
    """psycopg prepares a statement after its fifth run on a connection and PostgreSQL
    then may use a generic plan, blind to the lexemes and to the size of the channel array
    (at 1,000,000 messages it scanned every channel-index entry: chatalot/messaging/
    search.py). The search statement stays unprepared on a connection that ran it often."""
    from chatalot.db import make_pool
    from chatalot.messaging.search import Filters, search

    space = await msg.space(members=2)
    alice = space.members[0]
    sent = await msg.send(alice, space.channel_id, "pipeline pipeline")
    assert [h["message_id"] for h in (await _search(msg, alice, q="pipeline"))["items"]] \
        == [sent["id"]]
    pool = make_pool(msg.api.db.database_url, min_size=1, max_size=1)
    await pool.open(wait=True)
    try:
        for _ in range(12):
            page = await search(pool, uuid.UUID(alice.id), Filters(q="pipeline"), limit=5,
                                cursor=None)
            assert [str(h.message_id) for h in page.items] == [sent["id"]]
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM pg_prepared_statements"
                                     " WHERE statement LIKE '%ts_rank_cd%'", prepare=False)
            assert (await cur.fetchone()) == (0,)
    finally:
        await pool.close()


async def test_pages_follow_the_straightforward_order(msg: Msg) -> None:
    """Paging with every page size gives the order of one plain query over the read
    model: rank best first, then newest (ties on rank are the common case)."""
    space = await msg.space(members=2)
    alice, bob = space.members
    ch = space.channel_id
    texts = ["pipeline", "pipeline green", "the pipeline pipeline", "pipeline", "red pipeline",
             "pipeline pipeline pipeline", "lunch", "pipeline is a pipeline", "pipeline"]
    for i, text in enumerate(texts):
        await msg.send(alice if i % 2 else bob, ch, text)
    await _search(msg, alice, q="pipeline")  # waits for the projection to catch up
    expected = [str(r[0]) for r in await msg.api.db.fetch(
        "SELECT message_id FROM read_models.message_search s,"
        " websearch_to_tsquery('english', 'pipeline') q WHERE s.tsv @@ q AND channel_id = %s"
        " ORDER BY ts_rank_cd(s.tsv, q) DESC, epoch DESC, transaction_id DESC, sequence DESC",
        (uuid.UUID(ch),))]
    assert len(expected) == 8
    for limit in (1, 2, 3, 8, 50):
        got: list[str] = []
        cursor = None
        while True:
            params: dict[str, object] = {"q": "pipeline", "limit": limit}
            if cursor is not None:
                params["cursor"] = cursor
            page = await _search(msg, alice, **params)
            got += [h["message_id"] for h in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert got == expected, limit
