"""The check that matters most: a bundle the server hands out works. Alice fetches Bob's
bundle over HTTP, runs X3DH with chatalot_crypto and sends a prekey envelope; Bob decrypts
it with his private keys. (No message routes exist yet: the envelope is passed in the
test.) Also without a one-time prekey left, and after Bob rotated his signed prekey."""

from __future__ import annotations

from typing import Any

from chatalot_crypto.sessions import SessionStore
from tests.keys.conftest import KeysApi, KeyUser, b64, bundle_of


async def _converse(kapi: KeysApi, alice: KeyUser, bob: KeyUser, text: bytes
                    ) -> tuple[dict[str, Any], SessionStore, SessionStore]:
    r = await kapi.bundle(alice, bob)
    assert r.status_code == 200, r.text
    body = r.json()
    alice_store, bob_store = SessionStore(alice.keys), SessionStore(bob.keys)
    alice_store.initiate(bob.uuid, bundle_of(body))  # verifies the signed prekey first
    envelope = alice_store.encrypt(bob.uuid, text)
    assert envelope[:2] == b"\x01\x01"  # a prekey envelope
    assert bob_store.decrypt(alice.uuid, envelope) == text
    reply = bob_store.encrypt(alice.uuid, b"hi Alice")
    assert alice_store.decrypt(bob.uuid, reply) == b"hi Alice"
    return body, alice_store, bob_store


async def test_alice_starts_a_session_from_bobs_bundle(kapi: KeysApi) -> None:
    alice = await kapi.register("alice")
    bob = await kapi.register("bob", one_time=2)
    body, _, _ = await _converse(kapi, alice, bob, b"hello Bob")
    # Bob's client consumed the one-time prekey too
    assert body["one_time_prekey"]["key_id"] not in bob.keys.one_time_prekeys


async def test_without_a_one_time_prekey_and_after_rotation(kapi: KeysApi) -> None:
    alice = await kapi.register("alice")
    bob = await kapi.register("bob", one_time=0)
    body, _, _ = await _converse(kapi, alice, bob, b"no one-time prekey")
    assert body["one_time_prekey"] is None
    spk = bob.keys.add_signed_prekey(2)
    r = await kapi.upload_signed(bob, {"key_id": 2, "public_key": b64(spk.public),
                                       "signature": b64(spk.signature)})
    assert r.status_code == 200, r.text
    prekeys = bob.keys.add_one_time_prekeys(50, 1)
    r = await kapi.upload_one_time(bob, [{"key_id": 50, "public_key": b64(prekeys[0].public)}])
    assert r.status_code == 200
    carol = await kapi.register("carol")
    body, _, _ = await _converse(kapi, carol, bob, b"after rotation")
    assert body["signed_prekey"]["key_id"] == 2
    assert body["one_time_prekey"]["key_id"] == 50
