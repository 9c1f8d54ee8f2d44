"""POST/GET /api/channels/{id}/sender-keys over HTTP.

Channels have no commands yet, so channel membership is fixture data: these tests insert
rows into the `channel_members` decision table directly (`KeysApi.join` / `leave`), the
way the channels work will write them.

Covered: a real distribution (pairwise sessions from fetched bundles, one DM envelope per
recipient, a group message decrypted by each recipient from what it fetched), that a
member fetches only the copies addressed to them (latest per sender and chain, 5 chains
kept), the refusals (unknown channel 404, non-member 403, non-member, duplicate or self
recipient 400, malformed envelopes 400, nothing appended) and the `SenderKeyUpdated`
events addressed to each recipient with the actor's metadata.
"""

from __future__ import annotations

import uuid
from typing import Any

from chatalot.ids import uuid7
from chatalot_crypto.envelopes import parse_distribution
from chatalot_crypto.primitives import generate_x25519, random_bytes
from chatalot_crypto.sender_keys import SenderKeyStore
from chatalot_crypto.sessions import SessionStore
from tests.keys.conftest import KeysApi, KeyUser, b64, bundle_of, unb64


def message_envelope() -> bytes:
    """A well-formed 0x02 envelope of the size a distribution's has (content random)."""
    return b"\x01\x02" + generate_x25519()[1] + bytes(8) + random_bytes(105)


class Member:
    """A client: its user, pairwise sessions and sender-key store."""

    def __init__(self, user: KeyUser) -> None:
        self.user = user
        self.sessions = SessionStore(user.keys)
        self.sender_keys = SenderKeyStore(user.uuid)

    async def connect(self, kapi: KeysApi, peer: Member) -> None:
        r = await kapi.bundle(self.user, peer.user)
        assert r.status_code == 200, r.text
        self.sessions.initiate(peer.user.uuid, bundle_of(r.json()))

    def copies(self, channel: uuid.UUID, recipients: list[Member]) -> tuple[int, list[Any]]:
        dist = self.sender_keys.distribution(channel)
        return parse_distribution(dist).chain_id, [
            {"recipient_id": m.user.id,
             "envelope": b64(self.sessions.encrypt(m.user.uuid, dist))} for m in recipients]


async def post(kapi: KeysApi, sender: KeyUser, channel: uuid.UUID, body: Any) -> Any:
    return await kapi.client.post(f"/api/channels/{channel}/sender-keys", json=body,
                                  headers=sender.auth)


async def get(kapi: KeysApi, user: KeyUser, channel: uuid.UUID, position: str | None = None
              ) -> Any:
    headers = dict(user.auth)
    if position:
        headers["Chatalot-Min-Position"] = position
    return await kapi.client.get(f"/api/channels/{channel}/sender-keys", headers=headers)


async def test_distribution_reaches_each_member_who_can_decrypt(kapi: KeysApi) -> None:
    alice, bob, carol = [Member(await kapi.register(n)) for n in ("alice", "bob", "carol")]
    channel = uuid7()
    await kapi.join(channel, alice.user, bob.user, carol.user)
    for peer in (bob, carol):
        await alice.connect(kapi, peer)
    alice.sender_keys.start_chain(channel)
    chain_id, copies = alice.copies(channel, [bob, carol])
    headers = {**alice.user.auth, "User-Agent": "GroupClient/1.0"}
    r = await kapi.client.post(f"/api/channels/{channel}/sender-keys", headers=headers,
                               json={"chain_id": chain_id, "distributions": copies})
    assert r.status_code == 200, r.text
    assert r.json()["count"] == 2
    position = r.json()["position"]

    group_message = alice.sender_keys.encrypt(channel, b"hello channel")
    for member, copy in ((bob, copies[0]), (carol, copies[1])):
        r = await get(kapi, member.user, channel, position)
        assert r.status_code == 200, r.text
        [item] = r.json()
        assert item["sender_id"] == alice.user.id and item["chain_id"] == chain_id
        assert item["envelope"] == copy["envelope"]  # only their own copy
        assert item["created_at"].endswith("Z") and item["position"]
        dist = member.sessions.decrypt(alice.user.uuid, unb64(item["envelope"]))
        assert member.sender_keys.process_distribution(channel, alice.user.uuid, dist)
        plain = member.sender_keys.decrypt(channel, alice.user.uuid, group_message)
        assert plain == b"hello channel"
    assert (await get(kapi, alice.user, channel, position)).json() == []

    events = await kapi.events(f"senderkeys-{channel}-{alice.user.id}")
    assert [e.type for e in events] == ["SenderKeyUpdated"] * 2
    assert {e.data.recipient_id for e in events} == {bob.user.uuid, carol.user.uuid}
    for event in events:
        d, m = event.data, event.metadata
        assert d.channel_id == channel and d.sender_id == alice.user.uuid
        assert d.chain_id == chain_id
        assert m.actor_id == alice.user.id and m.command == "distribute_sender_key"
        assert m.user_agent == "GroupClient/1.0" and m.ip
    assert events[-1].position.encode() == position


async def test_latest_copy_per_sender_and_chain(kapi: KeysApi) -> None:
    alice, bob = Member(await kapi.register("alice")), Member(await kapi.register("bob"))
    channel = uuid7()
    await kapi.join(channel, alice.user, bob.user)
    position = ""

    async def send(chain_id: int, envelope: bytes) -> None:
        nonlocal position
        r = await post(kapi, alice.user, channel, {"chain_id": chain_id, "distributions": [
            {"recipient_id": bob.user.id, "envelope": b64(envelope)}]})
        assert r.status_code == 200, r.text
        position = r.json()["position"]

    first, second = message_envelope(), message_envelope()
    await send(7, first)
    await send(7, second)  # same chain again: replaces the copy
    items = (await get(kapi, bob.user, channel, position)).json()
    assert [(i["chain_id"], unb64(i["envelope"])) for i in items] == [(7, second)]
    for chain_id in range(100, 106):  # six more chains: 5 kept, newest first
        await send(chain_id, message_envelope())
    items = (await get(kapi, bob.user, channel, position)).json()
    assert [i["chain_id"] for i in items] == [105, 104, 103, 102, 101]


async def test_refusals(kapi: KeysApi) -> None:
    alice, bob, carol, dave = [Member(await kapi.register(n))
                               for n in ("alice", "bob", "carol", "dave")]
    channel, other = uuid7(), uuid7()
    await kapi.join(channel, alice.user, bob.user, carol.user)
    await kapi.join(other, dave.user)
    await alice.connect(kapi, bob)
    ok = {"recipient_id": bob.user.id, "envelope": b64(message_envelope())}

    def body(*copies: Any, chain_id: int = 1) -> dict[str, Any]:
        return {"chain_id": chain_id, "distributions": list(copies)}

    # dave is not a member: 403 both ways; a channel that does not exist is 404
    for target, status, code in ((channel, 403, "forbidden"), (uuid7(), 404, "not_found")):
        r = await post(kapi, dave.user, target, body({**ok, "recipient_id": alice.user.id}))
        assert r.status_code == status and r.json()["code"] == code, r.text
        r = await get(kapi, dave.user, target)
        assert r.status_code == status and r.json()["code"] == code

    prekey_env = alice.sessions.encrypt(bob.user.uuid, bytes(89))
    assert len(prekey_env) == 219
    foreign = bytearray(prekey_env)
    foreign[2:34] = bob.user.keys.identity.public  # names an identity key not alice's
    bad_dh = b"\x01\x02" + bytes(32) + bytes(8) + random_bytes(105)  # small-order ratchet key
    cases = [
        body({**ok, "recipient_id": dave.user.id}),  # not a member of this channel
        body(ok, {**ok, "envelope": b64(message_envelope())}),  # two copies for bob
        body({**ok, "recipient_id": alice.user.id}),  # to oneself
        body({**ok, "envelope": "%%%"}),
        body({**ok, "envelope": b64(message_envelope()[:-1])}),
        body({**ok, "envelope": b64(message_envelope() + b"\x00")}),
        body({**ok, "envelope": b64(b"\x01\x03" + random_bytes(145))}),  # a group envelope
        body({**ok, "envelope": b64(b"\x02" + message_envelope()[1:])}),  # unknown version
        body({**ok, "envelope": b64(prekey_env[:-1])}),
        body({**ok, "envelope": b64(bytes(foreign))}),
        body({**ok, "envelope": b64(bad_dh)}),
        body(ok, chain_id=2**32),
        body(ok, chain_id=-1),
        body(),
        body(*[{**ok, "recipient_id": str(uuid.uuid4())} for _ in range(101)]),
        {"chain_id": 1, "distributions": [ok], "extra": True},
    ]
    for case in cases:
        r = await post(kapi, alice.user, channel, case)
        assert r.status_code == 400 and r.json()["code"] == "bad_request", (case, r.text)
    r = await post(kapi, alice.user, channel, body({**ok, "recipient_id": dave.user.id}))
    assert dave.user.id in r.json()["error"]
    assert await kapi.events(f"senderkeys-{channel}-{alice.user.id}") == []
    # the well-formed prekey envelope itself is accepted
    r = await post(kapi, alice.user, channel, body({**ok, "envelope": b64(prekey_env)}))
    assert r.status_code == 200, r.text


async def test_a_member_who_left_fetches_nothing(kapi: KeysApi) -> None:
    alice, bob = await kapi.register("alice"), await kapi.register("bob")
    channel = uuid7()
    await kapi.join(channel, alice, bob)
    r = await post(kapi, alice, channel, {"chain_id": 5, "distributions": [
        {"recipient_id": bob.id, "envelope": b64(message_envelope())}]})
    assert r.status_code == 200
    assert len((await get(kapi, bob, channel, r.json()["position"])).json()) == 1
    await kapi.leave(channel, bob)
    assert (await get(kapi, bob, channel)).status_code == 403
    r = await post(kapi, alice, channel, {"chain_id": 6, "distributions": [
        {"recipient_id": bob.id, "envelope": b64(message_envelope())}]})
    assert r.status_code == 400 and bob.id in r.json()["error"]
