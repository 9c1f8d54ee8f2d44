"""PUT /api/keys/identity (issue 15): a device that lost its keys replaces the account's
whole bundle, confirmed with the password; the people who share a channel are named in
`IdentityKeyReplaced`, and the old prekeys are gone for good."""

from __future__ import annotations

import uuid
from typing import Any

from chatalot_crypto.keys import IdentityKeyPair, LocalKeys
from tests.accounts.conftest import PASSWORD
from tests.keys.conftest import KeysApi, KeyUser, b64, bundle_of, one_time_body

SPK_ID = 7


def new_bundle(opks: int = 3, password: str = PASSWORD) -> tuple[LocalKeys, dict[str, Any]]:
    keys = LocalKeys(IdentityKeyPair.generate())
    spk = keys.add_signed_prekey(SPK_ID)
    prekeys = keys.add_one_time_prekeys(100, opks)
    return keys, {
        "identity_key": b64(keys.identity.public),
        "signed_prekey": {"key_id": SPK_ID, "public_key": b64(spk.public),
                          "signature": b64(spk.signature)},
        "one_time_prekeys": one_time_body(prekeys),
        "password": password,
    }


async def replace(kapi: KeysApi, user: KeyUser, body: dict[str, Any]) -> Any:
    return await kapi.client.put("/api/keys/identity", json=body, headers=user.auth)


async def test_replacement_hands_out_the_new_bundle_and_tells_channel_peers(
        kapi: KeysApi) -> None:
    alice, bob, carol, dave = [await kapi.register(n) for n in ("alice", "bob", "carol", "dave")]
    channel, other = uuid.uuid4(), uuid.uuid4()
    await kapi.join(channel, alice, bob, carol)
    await kapi.join(other, dave)
    keys, body = new_bundle()
    r = await replace(kapi, alice, body)
    assert r.status_code == 200, r.text
    assert r.json()["position"]
    bundle = (await kapi.bundle(bob, alice)).json()
    got = bundle_of(bundle)
    assert got.identity_key == keys.identity.public
    assert got.signed_prekey_id == SPK_ID and got.one_time_prekey_id == 100
    assert await kapi.count(alice) == 2  # the 10 old one-time prekeys are gone
    events = await kapi.events(f"keys-{alice.id}")
    replaced = [e for e in events if e.type == "IdentityKeyReplaced"]
    assert len(replaced) == 1
    assert sorted(replaced[0].data.shared_with) == sorted([bob.uuid, carol.uuid])
    assert replaced[0].data.identity_key == b64(keys.identity.public)
    assert replaced[0].metadata.command == "replace_identity_key"
    # the same key again: nothing to replace
    r = await replace(kapi, alice, body)
    assert r.status_code == 409 and r.json()["code"] == "conflict"


async def test_a_wrong_password_or_bad_bundle_changes_nothing(kapi: KeysApi) -> None:
    alice = await kapi.register("alice")
    bob = await kapi.register("bob")
    _, body = new_bundle(password="not the password at all")
    r = await replace(kapi, alice, body)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    _, body = new_bundle()
    body["signed_prekey"]["signature"] = b64(IdentityKeyPair.generate().sign(b"x" * 32))
    r = await replace(kapi, alice, body)
    assert r.status_code == 400 and r.json()["code"] == "bad_request"
    r = await kapi.client.put("/api/keys/identity", json=new_bundle()[1])
    assert r.status_code == 401
    assert bundle_of((await kapi.bundle(bob, alice)).json()).identity_key == \
        alice.keys.identity.public
    assert await kapi.count(alice) == 9


async def test_an_upload_signed_with_the_replaced_key_is_refused(kapi: KeysApi) -> None:
    alice = await kapi.register("alice")
    old_spk = alice.keys.add_signed_prekey(2)
    r = await replace(kapi, alice, new_bundle()[1])
    assert r.status_code == 200, r.text
    r = await kapi.upload_signed(alice, {"key_id": 2, "public_key": b64(old_spk.public),
                                         "signature": b64(old_spk.signature)})
    assert r.status_code == 400, r.text
