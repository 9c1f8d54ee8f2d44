"""Reactions, pins, bookmarks, unreads and read cursors through HTTP."""

from __future__ import annotations

import uuid

from tests.messaging.conftest import Msg


async def test_reactions(msg: Msg) -> None:
    space = await msg.space(members=2)
    alice, bob = space.members
    sent = await msg.send(alice, space.channel_id, "react to me")
    path = f"/api/messages/{sent['id']}/reactions"
    for user, emoji in ((alice, "👍"), (bob, "👍"), (bob, "🎉")):
        r = await msg.post(user, path, {"emoji": emoji})
        assert r.status_code == 200, r.text
    r = await msg.post(bob, path, {"emoji": "👍"})
    assert r.status_code == 409
    head = await msg.api.head()
    got = (await msg.get(alice, path, head)).json()
    assert got == [{"emoji": "👍", "count": 2, "user_ids": [alice.id, bob.id]},
                   {"emoji": "🎉", "count": 1, "user_ids": [bob.id]}]
    r = await msg.client.delete(f"{path}/🎉", headers=bob.auth)
    assert r.status_code == 200
    r = await msg.client.delete(f"{path}/🎉", headers=bob.auth)
    assert r.status_code == 404
    [m] = (await msg.history(alice, space.channel_id, await msg.api.head()))["items"]
    assert m["reactions"] == [{"emoji": "👍", "count": 2, "user_ids": [alice.id, bob.id]}]
    for user, emoji in ((bob, "zz"), (alice, "aa"), (alice, "zz"), (bob, "aa")):
        assert (await msg.post(user, path, {"emoji": emoji})).status_code == 200
    head = await msg.api.head()
    # a history page carries its reactions as the reactions route tells them
    [m] = (await msg.history(alice, space.channel_id, head))["items"]
    assert m["reactions"] == (await msg.get(alice, path, head)).json()
    assert [(r["emoji"], r["user_ids"]) for r in m["reactions"]] == [
        ("👍", [alice.id, bob.id]), ("zz", [bob.id, alice.id]), ("aa", [alice.id, bob.id])]
    outsider = await msg.api.register()
    assert (await msg.post(outsider, path, {"emoji": "x"})).status_code == 403
    assert (await msg.post(alice, path, {"emoji": ""})).status_code == 400
    assert (await msg.post(alice, path, {"emoji": "x" * 33})).status_code == 400


async def test_at_most_20_emoji_even_when_added_at_once(msg: Msg) -> None:
    space = await msg.space(members=1)
    [alice] = space.members
    sent = await msg.send(alice, space.channel_id, "many")
    path = f"/api/messages/{sent['id']}/reactions"
    for i in range(18):
        assert (await msg.post(alice, path, {"emoji": f"e{i}"})).status_code == 200
    replies = await msg.api.concurrently(*[
        ("POST", path, {"json": {"emoji": f"x{i}"}, "headers": alice.auth}) for i in range(5)])
    assert sorted(r.status_code for r in replies) == [200, 200, 422, 422, 422]
    assert (await msg.post(alice, path, {"emoji": "e0"})).status_code == 409  # not a new one


async def test_pins(msg: Msg) -> None:
    space = await msg.space(members=1)
    [alice] = space.members
    ch, owner = space.channel_id, space.owner
    sent = await msg.send(alice, ch, "pin me")
    assert (await msg.post(alice, f"/api/channels/{ch}/pins/{sent['id']}")).status_code == 403
    r = await msg.post(owner, f"/api/channels/{ch}/pins/{sent['id']}")
    assert r.status_code == 200, r.text
    assert (await msg.post(owner, f"/api/channels/{ch}/pins/{sent['id']}")).status_code == 409
    pins = (await msg.get(alice, f"/api/channels/{ch}/pins", r.json()["position"])).json()
    assert [p["message_id"] for p in pins] == [sent["id"]] and pins[0]["message"]["pinned"]
    r = await msg.client.delete(f"/api/channels/{ch}/pins/{sent['id']}", headers=owner.auth)
    assert r.status_code == 200
    assert (await msg.get(alice, f"/api/channels/{ch}/pins", r.json()["position"])).json() == []
    # 50 at most, also when the last ones are pinned at once
    ids = [(await msg.send(owner, ch, f"p{i}"))["id"] for i in range(53)]
    for mid in ids[:48]:
        assert (await msg.post(owner, f"/api/channels/{ch}/pins/{mid}")).status_code == 200
    replies = await msg.api.concurrently(*[
        ("POST", f"/api/channels/{ch}/pins/{mid}", {"headers": owner.auth})
        for mid in ids[48:]])
    assert sorted(r.status_code for r in replies) == [200, 200, 422, 422, 422]
    # a deleted message leaves the pins
    r = await msg.client.delete(f"/api/messages/{ids[0]}", headers=owner.auth)
    pins = (await msg.get(alice, f"/api/channels/{ch}/pins", r.json()["position"])).json()
    assert len(pins) == 49 and ids[0] not in {p["message_id"] for p in pins}


async def test_bookmarks(msg: Msg) -> None:
    space = await msg.space(members=1)
    [alice] = space.members
    sent = await msg.send(space.owner, space.channel_id, "remember")
    r = await msg.post(alice, "/api/bookmarks", {"message_id": sent["id"], "note": "later"})
    assert r.status_code == 201, r.text
    bookmark = r.json()
    assert (await msg.post(alice, "/api/bookmarks", {"message_id": sent["id"]})).status_code \
        == 409
    outsider = await msg.api.register()
    assert (await msg.post(outsider, "/api/bookmarks",
                           {"message_id": sent["id"]})).status_code == 403
    assert (await msg.post(alice, "/api/bookmarks",
                           {"message_id": str(uuid.uuid4())})).status_code == 404
    mine = (await msg.get(alice, "/api/bookmarks", bookmark["position"])).json()
    assert [(b["id"], b["note"]) for b in mine] == [(bookmark["id"], "later")]
    assert (await msg.get(outsider, "/api/bookmarks")).json() == []
    r = await msg.client.delete(f"/api/bookmarks/{bookmark['id']}", headers=outsider.auth)
    assert r.status_code == 404
    r = await msg.client.delete(f"/api/bookmarks/{bookmark['id']}", headers=alice.auth)
    assert r.status_code == 200
    assert (await msg.get(alice, "/api/bookmarks", r.json()["position"])).json() == []


async def test_unreads_mentions_and_cursors(msg: Msg) -> None:
    space = await msg.space(members=2)
    alice, bob = space.members
    ch = space.channel_id
    first = await msg.send(alice, ch, "one")
    await msg.send(alice, ch, "two", mentions=[bob.id])
    last = await msg.send(alice, ch, "three")
    got = (await msg.unread(bob, last["position"]))[ch]
    assert (got["unread_count"], got["mention_count"], got["last_read_message_id"]) == (3, 1, None)
    assert (await msg.unread(alice, last["position"]))[ch]["unread_count"] == 0  # own
    r = await msg.post(bob, f"/api/channels/{ch}/read", {"message_id": first["id"]})
    assert r.status_code == 200, r.text
    got = (await msg.unread(bob, r.json()["position"]))[ch]
    assert (got["unread_count"], got["mention_count"]) == (2, 1)
    assert got["last_read_message_id"] == first["id"]
    r = await msg.post(bob, "/api/channels/read-all")
    assert r.status_code == 200 and r.json()["position"]
    got = (await msg.unread(bob, r.json()["position"]))[ch]
    assert (got["unread_count"], got["last_read_message_id"]) == (0, last["id"])
    r = await msg.post(bob, "/api/channels/read-all")  # nothing left to mark
    assert r.status_code == 200 and r.json()["position"] is None
    cursors = (await msg.get(alice, f"/api/channels/{ch}/read-cursors",
                             await msg.api.head())).json()
    assert cursors["items"] == [{"user_id": bob.id, "last_read_message_id": last["id"],
                                 "position": cursors["items"][0]["position"]}]
    outsider = await msg.api.register()
    r = await msg.post(outsider, f"/api/channels/{ch}/read", {"message_id": first["id"]})
    assert r.status_code == 403
    assert (await msg.get(outsider, f"/api/channels/{ch}/read-cursors")).status_code == 403
    r = await msg.post(bob, f"/api/channels/{ch}/read", {"message_id": str(uuid.uuid4())})
    assert r.status_code == 404


async def test_read_receipts_off_hides_the_cursor(msg: Msg) -> None:
    space = await msg.space(members=2)
    alice, bob = space.members
    ch = space.channel_id
    sent = await msg.send(alice, ch, "seen?")
    r = await msg.client.put("/api/account/preferences", headers=bob.auth,
                             json={"preferences": {"read_receipts": False}})
    assert r.status_code == 200, r.text
    r = await msg.post(bob, f"/api/channels/{ch}/read", {"message_id": sent["id"]})
    events = await msg.api.events(f"reads-{bob.id}")
    assert [e.data.receipt for e in events] == [False]
    cursors = (await msg.get(alice, f"/api/channels/{ch}/read-cursors",
                             r.json()["position"])).json()
    assert cursors["items"] == []
    # bob's own unread count still uses his cursor
    assert (await msg.unread(bob, r.json()["position"]))[ch]["unread_count"] == 0
