"""POST /api/keys/prekeys/signed and /one-time, GET /api/keys/prekeys/count over HTTP:
rotation and retention of signed prekeys, the refusals with their codes (bad signature,
small-order and non-canonical keys, the reserved id, duplicate ids, the 500 cap) leaving
nothing stored, and the events with their metadata."""

from __future__ import annotations

from typing import Any

import pytest

from chatalot_crypto.keys import IdentityKeyPair, SignedPrekey
from chatalot_crypto.primitives import generate_x25519
from tests.keys.conftest import KeysApi, KeyUser, b64, random_public_keys

P = 2**255 - 19
SMALL_ORDER = [
    0, 1, P - 1,
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
]


def u_bytes(u: int) -> bytes:
    return u.to_bytes(32, "little")


def non_canonical() -> list[bytes]:
    """Encodings X25519 would accept but that are not canonical: top bit set, u >= p."""
    key = bytearray(generate_x25519()[1])
    key[31] |= 0x80
    return [bytes(key), u_bytes(P), u_bytes(P + 9), b"\xff" * 32]


def signed_body(user: KeyUser, key_id: int, public: bytes | None = None,
                signer: IdentityKeyPair | None = None) -> dict[str, Any]:
    public = public if public is not None else generate_x25519()[1]
    signature = (signer or user.keys.identity).sign(public)
    return {"key_id": key_id, "public_key": b64(public), "signature": b64(signature)}


async def stored_signed(kapi: KeysApi, user: KeyUser) -> list[int]:
    rows = await kapi.api.db.fetch(
        "SELECT key_id FROM account_signed_prekeys WHERE user_id = %s ORDER BY uploaded",
        (user.uuid,))
    return [r[0] for r in rows]


async def test_signed_prekey_rotation(kapi: KeysApi) -> None:
    alice = await kapi.register("alice")
    bob = await kapi.register("bob")
    spk2 = bob.keys.add_signed_prekey(2)
    r = await kapi.upload_signed(bob, {"key_id": 2, "public_key": b64(spk2.public),
                                       "signature": b64(spk2.signature)})
    assert r.status_code == 200, r.text
    assert r.json()["key_id"] == 2 and r.json()["position"]
    bundle = (await kapi.bundle(alice, bob)).json()
    assert bundle["signed_prekey"]["key_id"] == 2
    assert bundle["signed_prekey"]["public_key"] == b64(spk2.public)
    [event] = [e for e in await kapi.events(f"keys-{bob.id}") if e.type == "SignedPrekeyUploaded"
               and e.data.key_id == 2]
    assert event.data.public_key == b64(spk2.public)
    assert event.metadata.actor_id == bob.id
    assert event.metadata.command == "upload_signed_prekey"
    assert r.json()["position"] == event.position.encode()

    for key_id in (3, 4):
        assert (await kapi.upload_signed(bob, signed_body(bob, key_id))).status_code == 200
    assert await stored_signed(kapi, bob) == [2, 3, 4]  # the current one and two before it
    r = await kapi.upload_signed(bob, signed_body(bob, 3))
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    assert (await kapi.upload_signed(bob, signed_body(bob, 1))).status_code == 200
    assert await stored_signed(kapi, bob) == [3, 4, 1]
    assert (await kapi.bundle(alice, bob)).json()["signed_prekey"]["key_id"] == 1


async def _signed_refusals(bob: KeyUser) -> list[tuple[dict[str, Any], int]]:
    other = IdentityKeyPair.generate()
    good = signed_body(bob, 7)
    bad_sig = bytearray(bob.keys.identity.sign(b"\x09" * 32))
    cases: list[tuple[dict[str, Any], int]] = [
        (signed_body(bob, 7, signer=other), 400),  # signed by another identity
        ({**good, "signature": b64(bytes(bad_sig))}, 400),  # signature of another key
        ({**good, "signature": b64(b"\x00" * 64)}, 400),
        ({**good, "signature": b64(b"\x01" * 63)}, 400),
        (signed_body(bob, 0xFFFFFFFF), 400),  # the reserved id
        ({**good, "key_id": 2**32}, 400),
        ({**good, "key_id": -1}, 400),
        ({**good, "public_key": "not base64!"}, 400),
        ({**good, "public_key": b64(b"\x05" * 31)}, 400),
        ({**good, "extra": 1}, 400),
        ({"key_id": 7}, 400),
    ]
    cases += [(signed_body(bob, 7, u_bytes(u)), 400) for u in SMALL_ORDER]
    cases += [(signed_body(bob, 7, key), 400) for key in non_canonical()]
    return cases


async def test_signed_prekey_refusals_store_nothing(kapi: KeysApi) -> None:
    bob = await kapi.register("bob")
    before = await kapi.events(f"keys-{bob.id}")
    for body, status in await _signed_refusals(bob):
        r = await kapi.upload_signed(bob, body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["code"] == "bad_request"
    assert await stored_signed(kapi, bob) == [1]
    assert len(await kapi.events(f"keys-{bob.id}")) == len(before)


async def test_one_time_upload_and_count(kapi: KeysApi) -> None:
    bob = await kapi.register("bob", one_time=10)
    assert await kapi.count(bob) == 10
    prekeys = bob.keys.add_one_time_prekeys(100, 50)
    headers = {**bob.auth, "User-Agent": "KeysClient/2.0"}
    r = await kapi.client.post("/api/keys/prekeys/one-time", headers=headers, json=[
        {"key_id": k.key_id, "public_key": b64(k.public)} for k in prekeys])
    assert r.status_code == 200, r.text
    assert r.json()["count"] == 60
    assert await kapi.count(bob) == 60
    for position, status in ((r.json()["position"], 200), ("not-a-position", 400)):
        got = await kapi.client.get("/api/keys/prekeys/count", headers={
            **bob.auth, "Chatalot-Min-Position": position})
        assert got.status_code == status, got.text
    uploads = [e for e in await kapi.events(f"keys-{bob.id}")
               if e.type == "OneTimePrekeysUploaded"]
    event = uploads[-1]
    assert [p.key_id for p in event.data.prekeys] == list(range(100, 150))
    assert event.data.prekeys[0].public_key == b64(prekeys[0].public)
    m = event.metadata
    assert m.actor_id == bob.id and m.command == "upload_one_time_prekeys"
    assert m.user_agent == "KeysClient/2.0" and m.ip
    assert r.json()["position"] == event.position.encode()


def _one_time_refusals() -> list[tuple[Any, int, str]]:
    good = random_public_keys(500, 3)
    cases: list[tuple[Any, int, str]] = [
        ([], 400, "bad_request"),
        (random_public_keys(500, 201), 400, "bad_request"),
        ({"prekeys": good}, 400, "bad_request"),
        ([*good, {"key_id": 500, "public_key": good[1]["public_key"]}], 409, "conflict"),
        ([*good, {"key_id": 5, "public_key": good[0]["public_key"]}], 409, "conflict"),
        ([*good, {"key_id": 0xFFFFFFFF, "public_key": good[0]["public_key"]}], 400,
         "bad_request"),
        ([*good, {"key_id": 2**32, "public_key": good[0]["public_key"]}], 400, "bad_request"),
        ([*good, {"key_id": 9, "public_key": "***"}], 400, "bad_request"),
        ([*good, {"key_id": 9, "public_key": b64(b"\x07" * 33)}], 400, "bad_request"),
        ([*good, {"key_id": 9}], 400, "bad_request"),
    ]
    cases += [([*good, {"key_id": 9, "public_key": b64(u_bytes(u))}], 400, "bad_request")
              for u in SMALL_ORDER]
    cases += [([*good, {"key_id": 9, "public_key": b64(k)}], 400, "bad_request")
              for k in non_canonical()]
    return cases


async def test_one_time_refusals_store_nothing(kapi: KeysApi) -> None:
    bob = await kapi.register("bob", one_time=10)  # ids 1..10
    before = await kapi.events(f"keys-{bob.id}")
    for body, status, code in _one_time_refusals():
        r = await kapi.upload_one_time(bob, body)
        assert r.status_code == status, (body if len(body) < 10 else len(body), r.text)
        assert r.json()["code"] == code
    assert await kapi.count(bob) == 10
    assert len(await kapi.events(f"keys-{bob.id}")) == len(before)


async def test_five_hundred_at_most(kapi: KeysApi) -> None:
    bob = await kapi.register("bob", one_time=10)
    for first in (1000, 2000):
        r = await kapi.upload_one_time(bob, random_public_keys(first, 200))
        assert r.status_code == 200, r.text
    assert await kapi.count(bob) == 410
    r = await kapi.upload_one_time(bob, random_public_keys(3000, 91))
    assert r.status_code == 422 and r.json()["code"] == "limit_reached"
    assert await kapi.count(bob) == 410
    r = await kapi.upload_one_time(bob, random_public_keys(3000, 90))
    assert r.status_code == 200 and r.json()["count"] == 500
    r = await kapi.upload_one_time(bob, random_public_keys(4000, 1))
    assert r.status_code == 422
    # a key handed out frees a place; its id may be used again
    alice = await kapi.register("alice")
    claimed = (await kapi.bundle(alice, bob)).json()["one_time_prekey"]["key_id"]
    r = await kapi.upload_one_time(bob, [{"key_id": claimed,
                                          "public_key": b64(generate_x25519()[1])}])
    assert r.status_code == 200 and r.json()["count"] == 500


@pytest.mark.parametrize("route", ["/api/keys/prekeys/signed", "/api/keys/prekeys/one-time"])
async def test_uploads_refuse_oversize_bodies(kapi: KeysApi, route: str) -> None:
    bob = await kapi.register("bob")
    r = await kapi.client.post(route, content=b"[" + b" " * (70 * 1024) + b"]",
                               headers={**bob.auth, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "too_large"


async def test_signed_prekey_of_another_account_identity_is_refused(kapi: KeysApi) -> None:
    """The signature is checked with the uploader's own identity key, not any valid one."""
    alice = await kapi.register("alice")
    bob = await kapi.register("bob")
    spk = SignedPrekey.generate(alice.keys.identity, 9)
    r = await kapi.upload_signed(bob, {"key_id": 9, "public_key": b64(spk.public),
                                       "signature": b64(spk.signature)})
    assert r.status_code == 400
    assert await stored_signed(kapi, bob) == [1]
