"""Who may do what: every messaging route without a token (401) and by a non-member (403
or 404), and sends against the channel's state as spaces keeps it (timeouts, read-only,
archive, bans, kicks): the permission rules are spaces', asked by every command."""

from __future__ import annotations

import uuid
from typing import Any

from tests.messaging.conftest import Msg, b64, body


def routes(ch: str, mid: str, other: str, when: str) -> list[tuple[str, str, Any]]:
    """(method, path, json body) of every messaging route that needs a token."""
    return [
        ("POST", f"/api/channels/{ch}/messages", body("x")),
        ("GET", f"/api/channels/{ch}/messages", None),
        ("GET", f"/api/channels/{ch}/threads/{mid}", None),
        ("GET", f"/api/channels/{ch}/messages/{mid}/history", None),
        ("GET", f"/api/channels/{ch}/messages/search?q=x", None),
        ("GET", f"/api/channels/{ch}/pins", None),
        ("POST", f"/api/channels/{ch}/pins/{mid}", None),
        ("DELETE", f"/api/channels/{ch}/pins/{mid}", None),
        ("PATCH", f"/api/messages/{mid}", {"ciphertext": b64("y")}),
        ("DELETE", f"/api/messages/{mid}", None),
        ("POST", f"/api/messages/{mid}/reactions", {"emoji": "x"}),
        ("DELETE", f"/api/messages/{mid}/reactions/x", None),
        ("GET", f"/api/messages/{mid}/reactions", None),
        ("POST", f"/api/channels/{ch}/read", {"message_id": mid}),
        ("GET", f"/api/channels/{ch}/read-cursors", None),
        ("POST", "/api/bookmarks", {"message_id": mid}),
        ("GET", f"/api/channels/{ch}/polls", None),
        ("POST", f"/api/channels/{ch}/polls", {"question": "q", "options": ["a", "b"]}),
        ("POST", f"/api/polls/{other}/vote", {"option_indexes": [0]}),
        ("DELETE", f"/api/polls/{other}/vote", None),
        ("POST", f"/api/polls/{other}/close", None),
        ("POST", "/api/messages/schedule", {"channel_id": ch, "scheduled_for": when,
                                            **body("x")}),
        ("GET", f"/api/channels/{ch}/webhooks", None),
        ("POST", f"/api/channels/{ch}/webhooks", {"name": "x"}),
    ]


async def test_every_route_needs_a_token_and_membership(msg: Msg) -> None:
    space = await msg.space(members=1)
    [alice] = space.members
    ch = space.channel_id
    sent = await msg.send(alice, ch, "x")
    r = await msg.post(alice, f"/api/channels/{ch}/polls",
                       {"question": "q", "options": ["a", "b"]})
    poll = r.json()["id"]
    outsider = await msg.api.register()
    before = len(await msg.api.db.fetch("SELECT 1 FROM events"))
    for method, path, json in routes(ch, sent["id"], poll, msg.at(60)):
        kwargs = {"json": json} if json is not None else {}
        r = await msg.client.request(method, path, **kwargs)
        assert r.status_code == 401, (method, path, r.status_code)
        r = await msg.client.request(method, path, headers=outsider.auth, **kwargs)
        assert r.status_code in (403, 404), (method, path, r.status_code, r.text)
        assert r.json()["code"] in ("forbidden", "not_found")
    for path in ("/api/channels/unread", "/api/bookmarks", "/api/messages/scheduled",
                 "/api/messages/search?q=x"):
        assert (await msg.client.get(path)).status_code == 401
    assert len(await msg.api.db.fetch("SELECT 1 FROM events")) == before  # nothing recorded


async def test_sends_follow_the_channels_state(msg: Msg) -> None:
    space = await msg.space(members=2)
    alice, bob = space.members
    owner, ch, cid = space.owner, space.channel_id, space.community_id
    sent = await msg.send(alice, ch, "before")
    r = await msg.post(owner, f"/api/communities/{cid}/channels/{ch}/timeout",
                       {"user_id": alice.id, "duration_secs": 60})
    assert r.status_code == 200, r.text
    r = await msg.post(alice, f"/api/channels/{ch}/messages", body("muted"))
    assert (r.status_code, r.json()["code"]) == (403, "timed_out")
    r = await msg.client.patch(f"/api/messages/{sent['id']}", headers=alice.auth,
                               json={"ciphertext": b64("edit")})
    assert (r.status_code, r.json()["code"]) == (403, "timed_out")
    r = await msg.post(alice, f"/api/messages/{sent['id']}/reactions", {"emoji": "x"})
    assert (r.status_code, r.json()["code"]) == (403, "timed_out")
    msg.api.clock.advance(61)
    await msg.send(alice, ch, "back")

    await msg.patch_channel(owner, ch, read_only=True)
    r = await msg.post(bob, f"/api/channels/{ch}/messages", body("ro"))
    assert (r.status_code, r.json()["code"]) == (403, "read_only")
    await msg.send(owner, ch, "announcement")  # staff post in a read-only channel
    await msg.patch_channel(owner, ch, read_only=False, archived=True)
    r = await msg.post(owner, f"/api/channels/{ch}/messages", body("archived"))
    assert (r.status_code, r.json()["code"]) == (403, "read_only")
    await msg.patch_channel(owner, ch, archived=False, e2e_required=True)
    r = await msg.post(bob, f"/api/channels/{ch}/messages", body("plain"))
    assert (r.status_code, r.json()["code"]) == (422, "e2e_required")
    await msg.patch_channel(owner, ch, e2e_required=False)

    r = await msg.post(owner, f"/api/channels/{ch}/members/{bob.id}/kick")
    assert r.status_code == 200, r.text
    r = await msg.post(bob, f"/api/channels/{ch}/messages", body("kicked"))
    assert r.status_code == 403
    assert (await msg.get(bob, f"/api/channels/{ch}/messages")).status_code == 403
    assert ch not in await msg.unread(bob)
    r = await msg.post(owner, f"/api/channels/{ch}/members/{alice.id}/ban")
    assert r.status_code == 200, r.text
    r = await msg.client.delete(f"/api/messages/{sent['id']}", headers=alice.auth)
    assert r.status_code == 403
    # and a member cannot pick another channel in the body
    r = await msg.post(owner, f"/api/channels/{ch}/messages",
                       body("x", channel_id=str(uuid.uuid4())))
    assert r.status_code == 400
