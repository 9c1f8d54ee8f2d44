"""Property: whatever a client sends to the key routes (random JSON bodies, bodies of the
right shape with random base64, ids and envelopes, random path segments), the answer is a
2xx or a 4xx with a JSON `{"error", "code"}` body, never a 500. The caller is a member of
the channel (a `channel_members` row seeded as fixture data)."""

from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from chatalot.ids import uuid7
from tests.accounts.test_input_validation import check, json_values, weird_text
from tests.keys.conftest import KeysApi, KeyUser

_state: dict[str, Any] = {}


async def setup(kapi: KeysApi) -> tuple[KeyUser, KeyUser, uuid.UUID]:
    if _state.get("kapi") is not kapi.api:
        alice = await kapi.register()
        bob = await kapi.register(one_time=5)
        channel = uuid7()
        await kapi.join(channel, alice, bob)
        _state.update(kapi=kapi.api, alice=alice, bob=bob, channel=channel)
    return _state["alice"], _state["bob"], _state["channel"]


u32ish = st.integers(-2, 2**32 + 2) | st.sampled_from([0, 2**32 - 1, 2**63, -2**63])
b64_text = st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()) | weird_text
envelopes = st.one_of(
    st.binary(max_size=400),
    st.tuples(st.sampled_from([b"\x01\x01", b"\x01\x02", b"\x01\x03", b"\x00\x02"]),
              st.integers(0, 300)).map(lambda t: t[0] + bytes(t[1])),
    st.binary(min_size=145, max_size=145).map(lambda b: b"\x01\x02" + b),
    st.binary(min_size=217, max_size=217).map(lambda b: b"\x01\x01" + b),
).map(lambda b: base64.b64encode(b).decode())


@given(route=st.sampled_from(["/api/keys/prekeys/signed", "/api/keys/prekeys/one-time",
                              "/api/channels/{c}/sender-keys"]), body=json_values)
async def test_random_bodies_never_500(kapi: KeysApi, route: str, body: Any) -> None:
    alice, _, channel = await setup(kapi)
    r = await kapi.client.post(route.replace("{c}", str(channel)), json=body,
                               headers=alice.auth)
    check(r)


@given(key_id=u32ish, public=b64_text, signature=b64_text,
       items=st.lists(st.tuples(u32ish, b64_text), max_size=5))
async def test_random_prekeys_never_500(kapi: KeysApi, key_id: int, public: str,
                                        signature: str, items: list[tuple[int, str]]) -> None:
    alice, _, _ = await setup(kapi)
    r = await kapi.upload_signed(alice, {"key_id": key_id, "public_key": public,
                                         "signature": signature})
    check(r)
    r = await kapi.upload_one_time(alice, [{"key_id": k, "public_key": p} for k, p in items])
    check(r)


@given(chain_id=u32ish, copies=st.lists(st.tuples(
    st.sampled_from(["bob", "alice", "random"]) | weird_text, envelopes), max_size=4))
async def test_random_distributions_never_500(kapi: KeysApi, chain_id: int,
                                              copies: list[tuple[str, str]]) -> None:
    alice, bob, channel = await setup(kapi)
    ids = {"bob": bob.id, "alice": alice.id, "random": str(uuid.uuid4())}
    body = {"chain_id": chain_id, "distributions": [
        {"recipient_id": ids.get(who, who), "envelope": env} for who, env in copies]}
    r = await kapi.client.post(f"/api/channels/{channel}/sender-keys", json=body,
                               headers=alice.auth)
    check(r)
    if r.status_code == 200:  # only well-formed envelopes to bob get through
        assert all(who == "bob" for who, _ in copies)


@given(segment=weird_text, position=st.text(max_size=40))
async def test_random_paths_never_500(kapi: KeysApi, segment: str, position: str) -> None:
    alice, _, channel = await setup(kapi)
    seg = quote(segment, safe="")
    for method, path in [("GET", f"/api/keys/{seg}/bundle"),
                         ("GET", f"/api/channels/{seg}/sender-keys"),
                         ("POST", f"/api/channels/{seg}/sender-keys")]:
        check(await kapi.client.request(method, path, headers=alice.auth, json={}))
    headers = {**alice.auth, "Chatalot-Min-Position": position.encode(
        "ascii", "replace").decode()}
    check(await kapi.client.get(f"/api/channels/{channel}/sender-keys", headers=headers))


async def test_a_bundle_for_a_random_uuid_is_404(kapi: KeysApi) -> None:
    alice, _, _ = await setup(kapi)
    r = await kapi.bundle(alice, str(uuid.uuid4()))
    assert r.status_code == 404 and r.json()["code"] == "not_found"
