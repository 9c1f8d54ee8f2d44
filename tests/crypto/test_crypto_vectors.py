"""The committed vectors are the contract: replay each file through the library and
compare every value; and the generator must reproduce the committed files byte for byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from crypto_helpers import VECTORS, QueueRandom, load_vectors, ratchet_snapshot

from chatalot_crypto import edwards25519 as ed
from chatalot_crypto import errors, x3dh
from chatalot_crypto.ed25519 import is_valid_point, verify
from chatalot_crypto.envelopes import (
    PrekeyMessage,
    parse_distribution,
    parse_dm_envelope,
    parse_group_envelope,
)
from chatalot_crypto.fingerprints import fingerprint, safety_number, safety_number_half
from chatalot_crypto.keys import (
    IdentityKeyPair,
    LocalKeys,
    OneTimePrekey,
    PrekeyBundle,
    SignedPrekey,
    validate_key_id,
    validate_x25519_public,
    verify_signed_prekey,
)
from chatalot_crypto.primitives import (
    INFO_MESSAGE_KEYS,
    INFO_SENDER_KEY,
    kdf_ck,
    message_key_material,
    x25519,
)
from chatalot_crypto.ratchet import kdf_rk
from chatalot_crypto.sender_keys import SenderKeyStore
from chatalot_crypto.sessions import SessionStore

ROOT = Path(__file__).resolve().parents[2]
FILES = ["keys.json", "ed25519.json", "x3dh.json", "ratchet.json", "sender_keys.json",
         "fingerprints.json", "envelopes.json"]


def _err(fn: Any) -> str | None:
    try:
        fn()
    except errors.CryptoError as exc:
        return type(exc).__name__
    return None


def test_generator_reproduces_committed_vectors(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_crypto_vectors.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)
    assert sorted(p.name for p in VECTORS.iterdir()) == sorted(FILES)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (VECTORS / name).read_bytes(), name


# --- keys.json -----------------------------------------------------------------------------


def test_keys_vectors() -> None:
    v = load_vectors("keys.json")
    for ident in v["identities"]:
        ik = IdentityKeyPair.from_seed(bytes.fromhex(ident["seed"]))
        assert ik.public.hex() == ident["ed25519_public"]
        assert ik.x25519_private.hex() == ident["x25519_private"]
        assert ik.x25519_public.hex() == ident["x25519_public"]
    spk_v = v["signed_prekey"]
    bob = IdentityKeyPair.from_seed(bytes.fromhex(spk_v["identity_seed"]))
    spk = SignedPrekey.from_private(bob, spk_v["key_id"], bytes.fromhex(spk_v["private"]))
    assert spk.public.hex() == spk_v["public"]
    assert spk.signature.hex() == spk_v["signature"]
    verify_signed_prekey(bob.public, spk.public, spk.signature)
    with pytest.raises(errors.InvalidSignature):
        verify_signed_prekey(bob.public, spk.public, bytes.fromhex(spk_v["tampered_signature"]))
    opk_v = v["one_time_prekey"]
    opk = OneTimePrekey.from_private(opk_v["key_id"], bytes.fromhex(opk_v["private"]))
    assert opk.public.hex() == opk_v["public"]
    for case in v["x25519_public_validation"]:
        got = _err(lambda c=case: validate_x25519_public(bytes.fromhex(c["public"])))
        assert got == (None if case["valid"] else "InvalidKey"), case["reason"]
    for case in v["key_id_validation"]:
        got = _err(lambda c=case: validate_key_id(c["key_id"]))
        assert got == (None if case["valid"] else "InvalidKeyId"), case
    assert [c["valid"] for c in v["key_id_validation"]] == [True] * 4 + [False] * 3


# --- ed25519.json --------------------------------------------------------------------------


def test_ed25519_signature_vectors() -> None:
    v = load_vectors("ed25519.json")
    assert sum(1 for c in v["signatures"] if c["valid"]) == 3
    for case in v["signatures"]:
        got = _err(lambda c=case: verify(bytes.fromhex(c["public_key"]),
                                         bytes.fromhex(c["message"]),
                                         bytes.fromhex(c["signature"])))
        assert got == (None if case["valid"] else "InvalidSignature"), case["name"]


def test_ed25519_point_vectors() -> None:
    v = load_vectors("ed25519.json")
    for case in v["points"]:
        enc = bytes.fromhex(case["encoding"])
        assert is_valid_point(enc) == case["valid"], case["name"]
        decoded = ed.decode(enc)
        if decoded is not None:
            assert ed.encode(decoded) == enc  # strict decoding round-trips exactly


# --- x3dh.json -----------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1])
def test_x3dh_vectors(index: int) -> None:
    v = load_vectors("x3dh.json")
    case = v["cases"][index]
    alice = IdentityKeyPair.from_seed(bytes.fromhex(case["alice_identity_seed"]))
    bob_keys = LocalKeys(IdentityKeyPair.from_seed(bytes.fromhex(case["bob_identity_seed"])))
    spk = SignedPrekey.from_private(bob_keys.identity, case["bob_signed_prekey"]["key_id"],
                                    bytes.fromhex(case["bob_signed_prekey"]["private"]))
    bob_keys.signed_prekeys[spk.key_id] = spk
    opk = None
    if case["bob_one_time_prekey"] is not None:
        opk = OneTimePrekey.from_private(case["bob_one_time_prekey"]["key_id"],
                                         bytes.fromhex(case["bob_one_time_prekey"]["private"]))
        bob_keys.one_time_prekeys[opk.key_id] = opk
    b = case["bundle"]
    bundle = PrekeyBundle(
        identity_key=bytes.fromhex(b["identity_key"]),
        signed_prekey_id=b["signed_prekey_id"],
        signed_prekey=bytes.fromhex(b["signed_prekey"]),
        signed_prekey_signature=bytes.fromhex(b["signed_prekey_signature"]),
        one_time_prekey_id=b["one_time_prekey_id"],
        one_time_prekey=None if b["one_time_prekey"] is None else bytes.fromhex(
            b["one_time_prekey"]),
    )
    assert bundle == bob_keys.bundle(spk.key_id, None if opk is None else opk.key_id)
    assert alice.x25519_public.hex() == case["alice_identity_x25519_public"]
    assert bob_keys.identity.x25519_public.hex() == case["bob_identity_x25519_public"]

    # X3DH alone, intermediate by intermediate.
    ek_private = bytes.fromhex(case["ephemeral_private"])
    assert case["alice_initiate_random"][0] == case["ephemeral_private"]
    init = x3dh.initiate(alice, bundle, QueueRandom([case["ephemeral_private"]]))
    assert init.ephemeral_public.hex() == case["ephemeral_public"]
    dh = [
        x25519(alice.x25519_private, spk.public),
        x25519(ek_private, bob_keys.identity.x25519_public),
        x25519(ek_private, spk.public),
    ]
    if opk is not None:
        dh.append(x25519(ek_private, opk.public))
    assert [d.hex() for d in dh] == case["dh"]
    assert len(case["dh"]) == (4 if opk else 3)
    assert init.shared_secret.hex() == case["shared_secret"]
    assert init.associated_data.hex() == case["associated_data"]
    assert init.associated_data == alice.public + bob_keys.identity.public
    resp = x3dh.respond(bob_keys.identity, spk, opk, alice.public, init.ephemeral_public)
    assert resp.shared_secret == init.shared_secret
    assert resp.associated_data == init.associated_data

    # Ratchet init and the first prekey envelope.
    alice_store = SessionStore(LocalKeys(alice))
    rng = QueueRandom(case["alice_initiate_random"])
    session = alice_store.initiate(bytes.fromhex(v["bob_user_id"]), bundle, rng)
    rng.assert_done()
    first_dh = x25519(bytes.fromhex(case["alice_ratchet_private"]), spk.public)
    assert first_dh.hex() == case["alice_ratchet_dh"]
    rk, cks = kdf_rk(init.shared_secret, first_dh)
    assert (rk.hex(), cks.hex()) == (case["root_key"], case["sending_chain_key"])
    assert (session.ratchet.rk, session.ratchet.cks) == (rk, cks)
    first = case["first_message"]
    mk, ck1 = kdf_ck(cks)
    key, nonce = message_key_material(mk, INFO_MESSAGE_KEYS)
    assert [mk.hex(), ck1.hex(), key.hex(), nonce.hex()] == [
        first["message_key"], first["next_chain_key"], first["aead_key"], first["aead_nonce"]]
    envelope = alice_store.encrypt(bytes.fromhex(v["bob_user_id"]),
                                   bytes.fromhex(first["plaintext"]))
    assert envelope.hex() == first["envelope"]
    message = parse_dm_envelope(envelope)
    assert isinstance(message, PrekeyMessage)
    assert message.header.hex() == first["header"]

    bob_store = SessionStore(bob_keys)
    rng = QueueRandom(case["bob_decrypt_random"])
    plaintext = bob_store.decrypt(bytes.fromhex(v["alice_user_id"]), envelope, rng)
    rng.assert_done()
    assert plaintext.hex() == first["plaintext"]
    bob_session = bob_store.sessions(bytes.fromhex(v["alice_user_id"]))[0]
    assert ratchet_snapshot(bob_session.ratchet) == case["bob_state_after"]
    assert bob_keys.one_time_prekeys == {}  # the OPK is consumed (or there was none left)


# --- ratchet.json --------------------------------------------------------------------------


def test_ratchet_conversation_vectors() -> None:
    v = load_vectors("ratchet.json")
    alice_keys = LocalKeys.from_bytes(v["initial_keys"]["alice"].encode())
    bob_keys = LocalKeys.from_bytes(v["initial_keys"]["bob"].encode())
    bob_public = LocalKeys.from_bytes(v["initial_keys"]["bob"].encode())
    stores = {"alice": SessionStore(alice_keys), "bob": SessionStore(bob_keys)}
    peers = {"alice": bytes.fromhex(v["bob_user_id"]), "bob": bytes.fromhex(v["alice_user_id"])}
    ops = {"initiate": 0, "encrypt": 0, "decrypt": 0}
    for step in v["steps"]:
        actor = step["actor"]
        store, peer = stores[actor], peers[actor]
        ops[step["op"]] += 1
        if step["op"] == "initiate":
            bundle = bob_public.bundle(step["bundle_signed_prekey_id"],
                                       step["bundle_one_time_prekey_id"])
            rng = QueueRandom(step["random"])
            store.initiate(peer, bundle, rng)
            rng.assert_done()
        elif step["op"] == "encrypt":
            state = store.sessions(peer)[0].ratchet
            assert state.cks is not None
            mk, _ = kdf_ck(state.cks)
            key, nonce = message_key_material(mk, INFO_MESSAGE_KEYS)
            assert [mk.hex(), key.hex(), nonce.hex()] == [
                step["message_key"], step["aead_key"], step["aead_nonce"]]
            envelope = store.encrypt(peer, bytes.fromhex(step["plaintext"]))
            assert envelope.hex() == step["envelope"], step["label"]
        else:
            rng = QueueRandom(step["random"])
            before = store.to_bytes()
            try:
                plaintext = store.decrypt(peer, bytes.fromhex(step["envelope"]), rng)
            except errors.CryptoError as exc:
                assert type(exc).__name__ == step["error"], step["note"]
                assert store.to_bytes() == before
            else:
                assert step["error"] is None, step["note"]
                assert plaintext.hex() == step["plaintext"]
            rng.assert_done()
        assert ratchet_snapshot(store.sessions(peer)[0].ratchet) == step["state"], step
    assert ops == {"initiate": 1, "encrypt": 9, "decrypt": 13}
    for actor in ("alice", "bob"):
        blob = stores[actor].to_bytes()
        assert blob.decode() == v["final_stores"][actor]
        assert SessionStore.from_bytes(blob).to_bytes() == blob


# --- sender_keys.json ----------------------------------------------------------------------


def test_sender_key_vectors() -> None:
    v = load_vectors("sender_keys.json")
    channel = bytes.fromhex(v["channel_id"])
    alice_id = bytes.fromhex(v["alice_user_id"])
    alice = SenderKeyStore(alice_id)
    bob = SenderKeyStore(bytes.fromhex(v["bob_user_id"]))
    dists: dict[str, bytes] = {}
    for step in v["steps"]:
        op = step["op"]
        if op == "start_chain":
            rng = QueueRandom(step["random"])
            dists[step["label"]] = alice.start_chain(channel, rng)
            rng.assert_done()
            assert dists[step["label"]].hex() == step["distribution"]
        elif op == "distribution":
            dists[step["label"]] = alice.distribution(channel)
            assert dists[step["label"]].hex() == step["distribution"]
        elif op == "encrypt":
            chain = alice.sending_chain(channel)
            assert chain is not None
            assert (chain.chain_id, chain.iteration) == (step["chain_id"], step["iteration"])
            assert chain.chain_key.hex() == step["chain_key"]
            mk, next_ck = kdf_ck(chain.chain_key)
            key, nonce = message_key_material(mk, INFO_SENDER_KEY)
            assert [mk.hex(), next_ck.hex(), key.hex(), nonce.hex()] == [
                step["message_key"], step["next_chain_key"], step["aead_key"],
                step["aead_nonce"]]
            envelope = alice.encrypt(channel, bytes.fromhex(step["plaintext"]))
            assert envelope.hex() == step["envelope"]
            assert envelope[-64:].hex() == step["signature"]
            verify(chain.signing_public, envelope[:-64], envelope[-64:])
        elif op == "process_distribution":
            try:
                stored = bob.process_distribution(bytes.fromhex(step["channel_id"]), alice_id,
                                                  bytes.fromhex(step["distribution"]))
            except errors.CryptoError as exc:
                assert type(exc).__name__ == step["error"], step["note"]
            else:
                assert step["error"] is None
                assert stored == step["stored"], step["note"]
        else:
            before = bob.to_bytes()
            try:
                plaintext = bob.decrypt(channel, alice_id, bytes.fromhex(step["envelope"]))
            except errors.CryptoError as exc:
                assert type(exc).__name__ == step["error"], step["note"]
                assert bob.to_bytes() == before
            else:
                assert step["error"] is None
                assert plaintext.hex() == step["plaintext"]
            chains = [{"chain_id": c.chain_id, "iteration": c.iteration,
                       "chain_key": c.chain_key.hex(), "skipped": sorted(c.skipped)}
                      for c in bob.receiving_chains(channel, alice_id)]
            assert chains == step["chains"]
    assert bob.to_bytes().decode() == v["final_receiver_state"]
    errors_seen = sorted({s["error"] for s in v["steps"] if s.get("error")})
    assert errors_seen == ["DuplicateMessage", "InvalidKey", "InvalidSignature", "WrongChannel"]


# --- fingerprints.json ---------------------------------------------------------------------


def test_fingerprint_vectors() -> None:
    v = load_vectors("fingerprints.json")
    by_name = {}
    for party, name in zip(v["parties"], ("alice", "bob", "carol"), strict=True):
        key = bytes.fromhex(party["identity_key"])
        uid = bytes.fromhex(party["user_id"])
        assert fingerprint(key) == party["fingerprint"]
        assert len(party["fingerprint"]) == 79
        assert safety_number_half(key, uid) == party["safety_number_half"]
        by_name[name] = (key, uid)
    for pair in v["pairs"]:
        a, b = by_name[pair["a"]], by_name[pair["b"]]
        assert safety_number(a[0], a[1], b[0], b[1]) == pair["safety_number"]
        assert safety_number(b[0], b[1], a[0], a[1]) == pair["safety_number"]
        assert len(pair["safety_number"]) == 60 and pair["safety_number"].isdigit()


# --- envelopes.json ------------------------------------------------------------------------


def test_envelope_vectors() -> None:
    v = load_vectors("envelopes.json")
    assert any("error" in c for c in v["cases"]) and any("parsed" in c for c in v["cases"])
    for case in v["cases"]:
        data = bytes.fromhex(case["bytes"])
        if case["kind"] == "dm":
            parse: Any = parse_dm_envelope
        elif case["kind"] == "group":
            parse = parse_group_envelope
        else:
            parse = parse_distribution
        if "error" in case:
            with pytest.raises(errors.InvalidEnvelope):
                parse(data)
            continue
        parsed = parse(data)
        assert parsed.encode() == data
        for field, want in case["parsed"].items():
            if field == "type":
                assert isinstance(parsed, PrekeyMessage) == (want == 1)
                continue
            got = getattr(parsed, field)
            assert (got.hex() if isinstance(got, bytes) else got) == want, (case["name"], field)
