"""Send, edit, delete and history through HTTP: each flow and its refusals, client_id
retries sent really at once, history paging under concurrent sends."""

from __future__ import annotations

import asyncio
import uuid

from tests.messaging.conftest import Msg, b64, body, e2e_body, text_of


async def test_send_edit_delete_and_history(msg: Msg) -> None:
    space = await msg.space(members=2)
    alice, bob = space.members
    ch = space.channel_id
    sent = await msg.send(alice, ch, "hello world", mentions=[bob.id])
    assert sent["channel_id"] == ch and sent["position"]
    page = await msg.history(bob, ch, sent["position"])
    [m] = page["items"]
    assert text_of(m) == "hello world" and m["sender_id"] == alice.id
    assert m["mentions"] == [bob.id] and not m["deleted"] and page["next_cursor"] is None

    r = await msg.client.patch(f"/api/messages/{sent['id']}", json={
        "ciphertext": b64("hello there")}, headers=alice.auth)
    assert r.status_code == 200, r.text
    edited = r.json()["position"]
    r = await msg.client.patch(f"/api/messages/{sent['id']}", json={
        "ciphertext": b64("not mine")}, headers=bob.auth)
    assert r.status_code == 403
    r = await msg.get(bob, f"/api/channels/{ch}/messages/{sent['id']}/history", edited)
    versions = r.json()["versions"]
    assert [text_of(v) for v in versions] == ["hello world", "hello there"]
    [m] = (await msg.history(bob, ch, edited))["items"]
    assert text_of(m) == "hello there" and m["edited_at"]

    r = await msg.client.delete(f"/api/messages/{sent['id']}", headers=bob.auth)
    assert r.status_code == 403  # someone else's, and bob does not moderate
    r = await msg.client.delete(f"/api/messages/{sent['id']}", headers=alice.auth)
    assert r.status_code == 200, r.text
    [m] = (await msg.history(bob, ch, r.json()["position"]))["items"]
    assert m["deleted"] and m["ciphertext"] is None
    r = await msg.client.delete(f"/api/messages/{sent['id']}", headers=alice.auth)
    assert r.status_code == 404


async def test_moderators_delete_others_messages(msg: Msg) -> None:
    space = await msg.space(members=1)
    [alice] = space.members
    sent = await msg.send(alice, space.channel_id, "spam")
    r = await msg.client.delete(f"/api/messages/{sent['id']}", headers=space.owner.auth)
    assert r.status_code == 200, r.text
    [event] = [e for e in await msg.api.events(f"message-{sent['id']}")
               if e.type == "MessageDeleted"]
    assert event.data.by_moderator


async def test_edit_window(msg: Msg) -> None:
    space = await msg.space(members=1)
    [alice] = space.members
    sent = await msg.send(alice, space.channel_id, "a")
    msg.api.clock.advance(15 * 60 + 1)
    r = await msg.client.patch(f"/api/messages/{sent['id']}", json={"ciphertext": b64("b")},
                               headers=alice.auth)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"


async def test_send_refusals(msg: Msg) -> None:
    space = await msg.space(members=1)
    [alice] = space.members
    ch = space.channel_id
    outsider = await msg.api.register()
    r = await msg.post(outsider, f"/api/channels/{ch}/messages", body("hi"))
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await msg.post(alice, f"/api/channels/{uuid.uuid4()}/messages", body("hi"))
    assert r.status_code == 404
    r = await msg.post(alice, f"/api/channels/{ch}/messages",
                       {"ciphertext": b64(b"a" * (64 * 1024 + 1)), "encryption": "none"})
    assert r.status_code == 413 and r.json()["code"] == "too_large"
    r = await msg.post(alice, f"/api/channels/{ch}/messages",
                       {"ciphertext": b64(b"\xff\xfe"), "encryption": "none"})
    assert r.status_code == 400
    r = await msg.post(alice, f"/api/channels/{ch}/messages", body("hi", mentions=[outsider.id]))
    assert r.status_code == 400
    r = await msg.post(alice, f"/api/channels/{ch}/messages", body("hi", color="red"))
    assert r.status_code == 400
    r = await msg.post(alice, f"/api/channels/{ch}/messages",
                       body("hi", reply_to=str(uuid.uuid4())))
    assert r.status_code == 400
    r = await msg.post(alice, f"/api/channels/{ch}/messages", body("hi", message_type="webhook"))
    assert r.status_code == 400
    r = await msg.client.post(f"/api/channels/{ch}/messages", json=body("hi"))
    assert r.status_code == 401


async def test_dms_require_e2e(msg: Msg) -> None:
    space = await msg.space(members=2)
    alice, bob = space.members
    dm = await msg.spaces.dm(alice, bob)
    r = await msg.post(alice, f"/api/channels/{dm}/messages", body("plain"))
    assert r.status_code == 422 and r.json()["code"] == "e2e_required"
    r = await msg.post(alice, f"/api/channels/{dm}/messages", e2e_body())
    assert r.status_code == 201, r.text
    sent = r.json()
    [m] = (await msg.history(bob, dm, sent["position"]))["items"]
    assert m["encryption"] == "sender_key"


async def test_client_id_retries_have_one_effect_even_at_once(msg: Msg) -> None:
    space = await msg.space(members=1)
    [alice] = space.members
    ch = space.channel_id
    client_id = str(uuid.uuid4())
    request = ("POST", f"/api/channels/{ch}/messages",
               {"json": body("once", client_id=client_id), "headers": alice.auth})
    replies = await msg.api.concurrently(*[request] * 6)
    assert {r.status_code for r in replies} == {201}, [r.text for r in replies]
    assert len({r.json()["id"] for r in replies}) == 1
    assert len({r.json()["position"] for r in replies}) == 1
    again = await msg.send(alice, ch, "once", client_id=client_id)
    assert again == replies[0].json()
    page = await msg.history(alice, ch, again["position"])
    assert len(page["items"]) == 1


async def test_threads_and_replies(msg: Msg) -> None:
    space = await msg.space(members=1)
    [alice] = space.members
    ch = space.channel_id
    root = await msg.send(alice, ch, "root")
    await msg.send(alice, ch, "elsewhere")
    r1 = await msg.send(alice, ch, "reply 1", thread_id=root["id"])
    r2 = await msg.send(alice, ch, "reply 2", thread_id=root["id"], reply_to=r1["id"])
    r = await msg.get(alice, f"/api/channels/{ch}/threads/{root['id']}", r2["position"])
    items = r.json()["items"]
    assert [text_of(m) for m in items] == ["root", "reply 1", "reply 2"]
    assert items[0]["reply_count"] == 2 and items[2]["reply_to"] == r1["id"]


async def test_history_pages_never_skip_or_repeat_under_concurrent_sends(msg: Msg) -> None:
    space = await msg.space(members=3)
    users = space.members
    ch = space.channel_id
    first = [await msg.send(users[0], ch, f"m{i}") for i in range(5)]
    seen: list[str] = []
    page = await msg.history(users[0], ch, first[-1]["position"], limit=2, after=first[0]["id"])
    seen += [m["id"] for m in page["items"]]
    sends = [("POST", f"/api/channels/{ch}/messages",
              {"json": body(f"c{i}"), "headers": users[i % 3].auth}) for i in range(12)]
    replies = await msg.api.concurrently(*sends)
    assert all(r.status_code == 201 for r in replies)
    last = max((r.json()["position"] for r in replies), key=lambda p: tuple(map(int, p.split("."))))
    cursor = page["next_cursor"]
    while cursor:
        page = await msg.history(users[0], ch, last, limit=3, cursor=cursor)
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
    expected = [m["id"] for m in first[1:]] + [r.json()["id"] for r in replies]
    assert len(seen) == len(set(seen)) == len(expected)
    assert set(seen) == set(expected)
    # backwards from the newest, the same messages in the same order
    back: list[str] = []
    page = await msg.history(users[0], ch, last, limit=4)
    while True:
        back = [m["id"] for m in page["items"]] + back
        if not page["next_cursor"]:
            break
        page = await msg.history(users[0], ch, last, limit=4, cursor=page["next_cursor"])
    assert back == [first[0]["id"], *seen]


async def test_history_input_is_validated(msg: Msg) -> None:
    space = await msg.space(members=1)
    [alice] = space.members
    ch = space.channel_id
    for params in ({"limit": 0}, {"limit": 101}, {"cursor": "x.y"}, {"before": "nope"},
                   {"before": str(uuid.uuid4()), "after": str(uuid.uuid4())}):
        r = await msg.get(alice, f"/api/channels/{ch}/messages", **params)
        assert r.status_code == 400, (params, r.text)
    r = await msg.get(alice, f"/api/channels/{ch}/messages", before=str(uuid.uuid4()))
    assert r.status_code == 404
    outsider = await msg.api.register()
    r = await msg.get(outsider, f"/api/channels/{ch}/messages")
    assert r.status_code == 403


async def test_concurrent_sends_by_one_user_under_slow_mode(msg: Msg) -> None:
    space = await msg.space(members=1)
    [alice] = space.members
    ch = space.channel_id
    await msg.patch_channel(space.owner, ch, slow_mode_secs=30)
    sends = [("POST", f"/api/channels/{ch}/messages",
              {"json": body(f"s{i}"), "headers": alice.auth}) for i in range(6)]
    replies = await msg.api.concurrently(*sends)
    codes = sorted(r.status_code for r in replies)
    assert codes == [201] + [422] * 5, [r.text for r in replies]
    refused = [r.json() for r in replies if r.status_code == 422]
    assert all(x["code"] == "slow_mode" and 1 <= x["retry_after_secs"] <= 30 for x in refused)
    msg.api.clock.advance(29)
    await msg.send(alice, ch, "too soon", status=422)
    msg.api.clock.advance(1)
    await msg.send(alice, ch, "now")
    # the owner moderates: slow mode does not apply
    for _ in range(3):
        await msg.send(space.owner, ch, "owner")
    await asyncio.sleep(0)


async def test_quarantine_hides_the_body_from_members(msg: Msg) -> None:
    space = await msg.space(members=2)
    alice, bob = space.members
    staff, ch = space.owner, space.channel_id  # the instance's first user owns it
    sent = await msg.send(alice, ch, "dubious link")
    path = f"/api/admin/messages/{sent['id']}"
    assert (await msg.post(bob, f"{path}/quarantine", {"reason": "x"})).status_code == 403
    r = await msg.post(staff, f"{path}/quarantine", {"reason": "phishing"})
    assert r.status_code == 200, r.text
    assert (await msg.post(staff, f"{path}/quarantine")).status_code == 409
    [m] = (await msg.history(bob, ch, r.json()["position"]))["items"]
    assert m["quarantined"] and m["ciphertext"] is None and not m["deleted"]
    [m] = (await msg.history(staff, ch, r.json()["position"]))["items"]
    assert m["quarantined"] and text_of(m) == "dubious link"
    versions = (await msg.get(bob, f"/api/channels/{ch}/messages/{sent['id']}/history",
                              r.json()["position"])).json()["versions"]
    assert versions == []
    got = (await msg.get(bob, "/api/messages/search", r.json()["position"], q="dubious")).json()
    assert got["items"] == []
    r = await msg.post(staff, f"{path}/unquarantine")
    assert r.status_code == 200
    [m] = (await msg.history(bob, ch, r.json()["position"]))["items"]
    assert not m["quarantined"] and text_of(m) == "dubious link"
    got = (await msg.get(bob, "/api/messages/search", r.json()["position"], q="dubious")).json()
    assert len(got["items"]) == 1
    assert (await msg.post(staff, f"{path}/unquarantine")).status_code == 409
    assert (await msg.post(staff, f"/api/admin/messages/{uuid.uuid4()}/quarantine")
            ).status_code == 404
