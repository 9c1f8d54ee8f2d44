#!/usr/bin/env python
"""Write the E2E crypto test vectors to tests/vectors/crypto/ (issue 5).

Everything is derived from fixed labels, so a rerun writes the same bytes: the vectors are
the contract every client implementation (Python here, TypeScript in the web client) must
reproduce. Randomness the protocol consumes (ephemeral and ratchet keys, chain ids) comes
from a deterministic stream and is written into each step as "random": the list of byte
strings, in order, that the implementation's injected random source must return.

All byte strings are lowercase hex. Usage: python scripts/gen_crypto_vectors.py [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chatalot_crypto import edwards25519 as ed  # noqa: E402
from chatalot_crypto import errors, fingerprints, x3dh  # noqa: E402
from chatalot_crypto.ed25519 import verify  # noqa: E402
from chatalot_crypto.envelopes import (  # noqa: E402
    PrekeyMessage,
    parse_distribution,
    parse_dm_envelope,
    parse_group_envelope,
)
from chatalot_crypto.keys import (  # noqa: E402
    IdentityKeyPair,
    LocalKeys,
    OneTimePrekey,
    SignedPrekey,
    validate_key_id,
)
from chatalot_crypto.primitives import (  # noqa: E402
    INFO_MESSAGE_KEYS,
    INFO_SENDER_KEY,
    kdf_ck,
    message_key_material,
    validate_x25519_public,
    x25519,
)
from chatalot_crypto.ratchet import RatchetState, kdf_rk  # noqa: E402
from chatalot_crypto.sender_keys import SenderKeyStore  # noqa: E402
from chatalot_crypto.sessions import SessionStore  # noqa: E402

DEFAULT_OUT = ROOT / "tests" / "vectors" / "crypto"

ALICE_ID = uuid.UUID("00000000-0000-4000-8000-00000000a11c")
BOB_ID = uuid.UUID("00000000-0000-4000-8000-000000000b0b")
CAROL_ID = uuid.UUID("00000000-0000-4000-8000-0000000ca201")
CHANNEL_ID = uuid.UUID("00000000-0000-4000-8000-0000c4a22e10")
OTHER_CHANNEL_ID = uuid.UUID("00000000-0000-4000-8000-0000c4a22e11")


def fixed(label: str) -> bytes:
    """32 fixed bytes for a label: every private key and seed in the vectors."""
    return hashlib.sha256(b"chatalot-vectors/" + label.encode()).digest()


class VectorRandom:
    """A deterministic random source that records what it hands out, step by step."""

    def __init__(self, label: str) -> None:
        self._label = label.encode()
        self._counter = 0
        self.taken: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        out = hashlib.sha512(self._label + self._counter.to_bytes(4, "big")).digest()[:n]
        self._counter += 1
        self.taken.append(out)
        return out

    def drain(self) -> list[str]:
        """Hex of what was taken since the last drain (the "random" of one step)."""
        out = [b.hex() for b in self.taken]
        self.taken = []
        return out


def ratchet_snapshot(state: RatchetState) -> dict[str, Any]:
    return {
        "dhs_public": state.dhs_public.hex(),
        "dhr": None if state.dhr is None else state.dhr.hex(),
        "rk": state.rk.hex(),
        "cks": None if state.cks is None else state.cks.hex(),
        "ckr": None if state.ckr is None else state.ckr.hex(),
        "ns": state.ns,
        "nr": state.nr,
        "pn": state.pn,
        "skipped": [[dh.hex(), n, mk.hex()] for (dh, n), mk in state.skipped.items()],
    }


def write(out: Path, name: str, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=True) + "\n"
    (out / name).write_text(text, encoding="ascii")


def error_name(fn: Callable[[], object]) -> str | None:
    try:
        fn()
    except errors.CryptoError as exc:
        return type(exc).__name__
    return None


# --- keys.json ------------------------------------------------------------------------------


def keys_vectors() -> dict[str, Any]:
    identities = []
    for label in ("alice", "bob", "carol"):
        seed = fixed(f"identity/{label}")
        ik = IdentityKeyPair.from_seed(seed)
        identities.append(
            {
                "seed": seed.hex(),
                "ed25519_public": ik.public.hex(),
                "x25519_private": ik.x25519_private.hex(),
                "x25519_public": ik.x25519_public.hex(),
            }
        )
    bob = IdentityKeyPair.from_seed(fixed("identity/bob"))
    spk = SignedPrekey.from_private(bob, 7, fixed("bob/spk/7"))
    opk = OneTimePrekey.from_private(1001, fixed("bob/opk/1001"))

    p = ed.P
    x25519_cases = []
    small = {
        "u=0": 0,
        "u=1": 1,
        "u=p-1 (order 2)": p - 1,
        "order 8 (a)": int(
            "325606250916557431795983626356110631294008115727848805560023387167927233504"
        ),
        "order 8 (b)": int(
            "39382357235489614581723060781553021112529911719440698176882885853963445705823"
        ),
        "u=p (non-canonical 0)": p,
        "u=p+1 (non-canonical 1)": p + 1,
    }
    for name, u in small.items():
        for top in (0, 1):
            enc = (u | (top << 255)).to_bytes(32, "little")
            x25519_cases.append(
                {
                    "public": enc.hex(),
                    "valid": False,
                    "reason": name + (" with top bit set" if top else ""),
                }
            )
    x25519_cases.append({"public": spk.public.hex(), "valid": True, "reason": "a signed prekey"})
    top = bytearray(spk.public)
    top[31] |= 0x80
    x25519_cases.append({"public": bytes(top).hex(), "valid": False,
                         "reason": "the signed prekey with the top bit set (non-canonical)"})
    x25519_cases.append({"public": (p + 2).to_bytes(32, "little").hex(), "valid": False,
                         "reason": "u = p + 2 (non-canonical 2)"})
    x25519_cases.append({"public": (9).to_bytes(32, "little").hex(), "valid": True,
                         "reason": "the base point"})
    for case in x25519_cases:
        got = error_name(lambda c=case: validate_x25519_public(bytes.fromhex(c["public"])))
        assert (got is None) == case["valid"], case

    key_ids = []
    for value in (0, 1, 100, 0xFFFFFFFE, 0xFFFFFFFF, -1, 2**32):
        valid = error_name(lambda v=value: validate_key_id(v)) is None
        key_ids.append({"key_id": value, "valid": valid})

    bad_sig = bytearray(spk.signature)
    bad_sig[0] ^= 1
    return {
        "description": (
            "Identity keys with their X25519 form (private = clamp(SHA-512(seed)[0:32]), "
            "public = (1 + y) / (1 - y)); a signed prekey (signature = Ed25519(IK, SPK_pub)); "
            "X25519 public keys the server and clients refuse (small order; and non-canonical "
            "encodings, top bit set or u >= p, since X25519 would alias them to another key); "
            "key ids (0xFFFFFFFF is reserved)."
        ),
        "identities": identities,
        "signed_prekey": {
            "identity_seed": bob.seed.hex(),
            "key_id": spk.key_id,
            "private": spk.private.hex(),
            "public": spk.public.hex(),
            "signature": spk.signature.hex(),
            "tampered_signature": bytes(bad_sig).hex(),
        },
        "one_time_prekey": {"key_id": opk.key_id, "private": opk.private.hex(),
                            "public": opk.public.hex()},
        "x25519_public_validation": x25519_cases,
        "key_id_validation": key_ids,
    }


# --- ed25519.json ---------------------------------------------------------------------------


def _h(*parts: bytes) -> int:
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little") % ed.L


def _enc_y(y: int, sign: int = 0) -> bytes:
    return (y | (sign << 255)).to_bytes(32, "little")


def _torsion() -> list[ed.Point]:
    """The 8 small-order points, [i]T8 for a generator T8 of the torsion subgroup."""
    t8 = ed.decode(bytes.fromhex(
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"))
    assert t8 is not None
    return [ed.mul(i, t8) for i in range(8)]


def _sign_raw(a: int, a_bytes: bytes, message: bytes, nonce_label: str,
              r_extra: ed.Point | None = None) -> bytes:
    """Ed25519 signing with a raw scalar and any A encoding; R = [r]B (+ r_extra)."""
    r = int.from_bytes(hashlib.sha512(fixed(nonce_label) + message).digest(), "little") % ed.L
    point = ed.mul(r, ed.BASE)
    if r_extra is not None:
        point = ed.add(point, r_extra)
    r_bytes = ed.encode(point)
    k = _h(r_bytes, a_bytes, message)
    s = (r + k * a) % ed.L
    return r_bytes + s.to_bytes(32, "little")


def ed25519_vectors() -> dict[str, Any]:
    p = ed.P
    torsion = _torsion()
    t8 = torsion[1]
    seed = fixed("ed25519/signer")
    signer = IdentityKeyPair.from_seed(seed)
    a = int.from_bytes(hashlib.sha512(seed).digest()[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    a_pub = signer.public
    msg = b"chatalot ed25519 vector"
    sigs: list[dict[str, Any]] = []

    def add(name: str, pub: bytes, message: bytes, sig: bytes, valid: bool,
            lenient: bool, reason: str) -> None:
        sigs.append({"name": name, "public_key": pub.hex(), "message": message.hex(),
                     "signature": sig.hex(), "valid": valid, "lenient_accepts": lenient,
                     "reason": reason})

    # RFC 8032 section 7.1, test 1 and test 2.
    add("rfc8032_test1",
        bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
        b"",
        bytes.fromhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                      "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
        True, True, "valid (RFC 8032 7.1 test 1)")
    add("rfc8032_test2",
        bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"),
        bytes.fromhex("72"),
        bytes.fromhex("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
                      "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
        True, True, "valid (RFC 8032 7.1 test 2)")
    sig = signer.sign(msg)
    add("valid", a_pub, msg, sig, True, True, "valid signature")
    add("wrong_message", a_pub, msg + b"!", sig, False, False, "signature of another message")

    s = int.from_bytes(sig[32:], "little")
    add("s_not_reduced", a_pub, msg, sig[:32] + (s + ed.L).to_bytes(32, "little"), False, True,
        "S >= L (S + L): accepted by verifiers that reduce S mod L")

    ident_r = _enc_y(1)
    k = _h(ident_r, a_pub, msg)
    add("r_identity", a_pub, msg, ident_r + (k * a % ed.L).to_bytes(32, "little"), False, True,
        "R = identity (small order), S = k*a: passes the cofactorless equation")

    noncanon_r = _enc_y(p + 1)
    k = _h(noncanon_r, a_pub, msg)
    add("r_non_canonical", a_pub, msg, noncanon_r + (k * a % ed.L).to_bytes(32, "little"),
        False, True, "R encoded with y = p + 1 (identity, y >= p)")

    r_sign_x0 = _enc_y(1, 1)
    k = _h(r_sign_x0, a_pub, msg)
    add("r_x0_sign_bit", a_pub, msg, r_sign_x0 + (k * a % ed.L).to_bytes(32, "little"),
        False, True, "R = identity encoded with x = 0 and the sign bit set")

    add("r_small_order", a_pub, msg, _sign_raw_fixed_r(a, a_pub, msg, t8), False, True,
        "R = a point of order 8, S = k*a: passes the cofactored equation")

    add("r_mixed_order", a_pub, msg, _sign_raw(a, a_pub, msg, "ed25519/r-mixed", t8), False,
        True, "R = [r]B + T8 (torsion component): passes the cofactored equation")

    ident_a = _enc_y(1)
    add("a_identity", ident_a, msg, _sign_raw(0, ident_a, msg, "ed25519/a-identity"), False,
        True, "A = identity: any (R = [r]B, S = r) verifies for every message")

    noncanon_a = _enc_y(p + 1)
    add("a_non_canonical", noncanon_a, msg, _sign_raw(0, noncanon_a, msg, "ed25519/a-noncanon"),
        False, True, "A encoded with y = p + 1 (identity, y >= p)")

    a_sign_x0 = _enc_y(1, 1)
    add("a_x0_sign_bit", a_sign_x0, msg, _sign_raw(0, a_sign_x0, msg, "ed25519/a-x0"), False,
        True, "A = identity encoded with x = 0 and the sign bit set")

    # A of order 8: R = [r]B, S = r passes the cofactorless equation when 8 | k.
    t8_bytes = ed.encode(t8)
    for counter in range(1000):
        m = msg + b" small-order A " + str(counter).encode()
        sig = _sign_raw(0, t8_bytes, m, "ed25519/a-small")
        if _h(sig[:32], t8_bytes, m) % 8 == 0:
            break
    add("a_small_order", t8_bytes, m, sig, False, True,
        "A of order 8, k = 0 mod 8: passes the cofactorless equation")

    # Mixed-order A = [a]B + T8: S = r + k*a passes the cofactorless equation when 8 | k.
    mixed = ed.encode(ed.add(ed.mul(a, ed.BASE), t8))
    for counter in range(1000):
        m = msg + b" mixed-order A " + str(counter).encode()
        sig = _sign_raw(a, mixed, m, "ed25519/a-mixed")
        if _h(sig[:32], mixed, m) % 8 == 0:
            break
    add("a_mixed_order", mixed, m, sig, False, True,
        "A = [a]B + T8, k = 0 mod 8: passes the cofactorless equation")

    # A and R both small order, S = 0: R = -[k]A.
    for counter in range(1000):
        m = msg + b" small-order A and R " + str(counter).encode()
        found = None
        for t in torsion[1:]:
            r_bytes = ed.encode(t)
            k = _h(r_bytes, t8_bytes, m)
            if ed.is_identity(ed.add(t, ed.mul(k, t8))):
                found = r_bytes
                break
        if found is not None:
            break
    assert found is not None
    add("a_and_r_small_order", t8_bytes, m, found + bytes(32), False, True,
        "A and R of small order with S = 0: a universal forgery for lenient verifiers")

    for case in sigs:
        got = error_name(lambda c=case: verify(bytes.fromhex(c["public_key"]),
                                               bytes.fromhex(c["message"]),
                                               bytes.fromhex(c["signature"])))
        assert (got is None) == case["valid"], case["name"]

    points: list[dict[str, Any]] = []

    def point(name: str, enc: bytes, valid: bool, reason: str) -> None:
        points.append({"name": name, "encoding": enc.hex(), "valid": valid, "reason": reason})

    point("base", ed.encode(ed.BASE), True, "the base point B")
    point("identity_key", a_pub, True, "an identity key")
    for i, t in enumerate(torsion):
        point(f"torsion_{i}", ed.encode(t), False, f"small order ([{i}]T8)")
    point("mixed_order", mixed, False, "[a]B + T8: torsion component")
    point("y_equals_p", _enc_y(p), False, "y = p (non-canonical)")
    point("y_equals_p_plus_1", _enc_y(p + 1), False, "y = p + 1 (non-canonical identity)")
    point("y_all_ones", _enc_y((1 << 255) - 1), False, "y = 2^255 - 1 (non-canonical)")
    point("identity_sign_bit", _enc_y(1, 1), False, "x = 0 with the sign bit set")
    point("order2_sign_bit", _enc_y(p - 1, 1), False, "(0, -1) with the sign bit set")
    off = next(y for y in range(2, 100) if ed.decode(_enc_y(y)) is None)
    point("not_on_curve", _enc_y(off), False, f"y = {off}: no x on the curve")
    point("minus_base", ed.encode(ed.neg(ed.BASE)), True, "-B (sign bit set, x != 0)")
    for case in points:
        enc = bytes.fromhex(case["encoding"])
        decoded = ed.decode(enc)
        assert (decoded is not None and ed.has_order_l(decoded)) == case["valid"], case["name"]

    return {
        "description": (
            "Strict Ed25519 (RFC 8032 5.1.7, cofactorless, S < L, canonical A and R, A and "
            "R of order exactly L). 'signatures': every case with lenient_accepts = true "
            "passes a lenient verifier (non-strict decoding, cofactored equation, S mod L) "
            "and must still be refused. 'points': strict decoding plus the order-L check, as "
            "applied to identity keys and sender-key signing keys."
        ),
        "signatures": sigs,
        "points": points,
    }


def _sign_raw_fixed_r(a: int, a_bytes: bytes, message: bytes, r_point: ed.Point) -> bytes:
    r_bytes = ed.encode(r_point)
    k = _h(r_bytes, a_bytes, message)
    return r_bytes + (k * a % ed.L).to_bytes(32, "little")


# --- x3dh.json ------------------------------------------------------------------------------


def x3dh_vectors() -> dict[str, Any]:
    cases = []
    for name, with_opk in (("with_one_time_prekey", True), ("without_one_time_prekey", False)):
        alice = IdentityKeyPair.from_seed(fixed("identity/alice"))
        bob_keys = LocalKeys(IdentityKeyPair.from_seed(fixed("identity/bob")))
        spk = SignedPrekey.from_private(bob_keys.identity, 7, fixed("bob/spk/7"))
        bob_keys.signed_prekeys[7] = spk
        opk = OneTimePrekey.from_private(1001, fixed("bob/opk/1001"))
        bob_keys.one_time_prekeys[1001] = opk
        bundle = bob_keys.bundle(7, 1001 if with_opk else None)
        rng = VectorRandom(f"x3dh/{name}")

        init = x3dh.initiate(alice, bundle, rng)
        ek_private = rng.taken[0]
        ek_random = rng.drain()
        dh = [
            x25519(alice.x25519_private, spk.public),
            x25519(ek_private, bob_keys.identity.x25519_public),
            x25519(ek_private, spk.public),
        ]
        if with_opk:
            dh.append(x25519(ek_private, opk.public))
        resp = x3dh.respond(bob_keys.identity, spk, opk if with_opk else None, alice.public,
                            init.ephemeral_public)
        assert resp.shared_secret == init.shared_secret == x3dh.derive_shared_secret(dh)
        assert resp.associated_data == init.associated_data

        # The first message: Alice's session (same EK: replay the EK random), Bob's store.
        alice_store = SessionStore(LocalKeys(alice))
        rng2 = VectorRandom(f"x3dh/{name}")
        session = alice_store.initiate(BOB_ID, bundle, rng2)
        init_random = rng2.drain()
        assert init_random[0] == ek_random[0]
        ratchet = session.ratchet
        first_dh = x25519(ratchet.dhs_private, spk.public)
        rk1, cks0 = kdf_rk(init.shared_secret, first_dh)
        assert (ratchet.rk, ratchet.cks) == (rk1, cks0)
        plaintext = b"Hello Bob, this is Alice."
        mk, ck1 = kdf_ck(cks0)
        key, nonce = message_key_material(mk, INFO_MESSAGE_KEYS)
        envelope = alice_store.encrypt(BOB_ID, plaintext)
        message = parse_dm_envelope(envelope)
        assert isinstance(message, PrekeyMessage)

        bob_store = SessionStore(bob_keys)
        rng3 = VectorRandom(f"x3dh/{name}/bob")
        assert bob_store.decrypt(ALICE_ID, envelope, rng3) == plaintext
        bob_random = rng3.drain()
        bob_session = bob_store.sessions(ALICE_ID)[0]

        cases.append(
            {
                "name": name,
                "alice_identity_seed": alice.seed.hex(),
                "bob_identity_seed": bob_keys.identity.seed.hex(),
                "bob_signed_prekey": {"key_id": spk.key_id, "private": spk.private.hex()},
                "bob_one_time_prekey": (
                    {"key_id": opk.key_id, "private": opk.private.hex()} if with_opk else None
                ),
                "bundle": {
                    "identity_key": bundle.identity_key.hex(),
                    "signed_prekey_id": bundle.signed_prekey_id,
                    "signed_prekey": bundle.signed_prekey.hex(),
                    "signed_prekey_signature": bundle.signed_prekey_signature.hex(),
                    "one_time_prekey_id": bundle.one_time_prekey_id,
                    "one_time_prekey": (
                        None if bundle.one_time_prekey is None else bundle.one_time_prekey.hex()
                    ),
                },
                "alice_initiate_random": init_random,
                "ephemeral_private": ek_private.hex(),
                "ephemeral_public": init.ephemeral_public.hex(),
                "alice_identity_x25519_public": alice.x25519_public.hex(),
                "bob_identity_x25519_public": bob_keys.identity.x25519_public.hex(),
                "dh": [d.hex() for d in dh],
                "shared_secret": init.shared_secret.hex(),
                "associated_data": init.associated_data.hex(),
                "alice_ratchet_private": init_random[1],
                "alice_ratchet_dh": first_dh.hex(),
                "root_key": rk1.hex(),
                "sending_chain_key": cks0.hex(),
                "first_message": {
                    "plaintext": plaintext.hex(),
                    "message_key": mk.hex(),
                    "next_chain_key": ck1.hex(),
                    "aead_key": key.hex(),
                    "aead_nonce": nonce.hex(),
                    "header": message.header.hex(),
                    "envelope": envelope.hex(),
                },
                "bob_decrypt_random": bob_random,
                "bob_state_after": ratchet_snapshot(bob_session.ratchet),
            }
        )
    return {
        "description": (
            "X3DH (crypto.md): DH1..DH4, SK, AD, then RatchetInitAlice/Bob and Alice's first "
            "prekey envelope. alice_initiate_random is what Alice's random source returns "
            "during initiation (EK_A private, then her first ratchet private key); "
            "bob_decrypt_random what Bob's returns while decrypting (his next ratchet key)."
        ),
        "alice_user_id": ALICE_ID.bytes.hex(),
        "bob_user_id": BOB_ID.bytes.hex(),
        "cases": cases,
    }


# --- ratchet.json ---------------------------------------------------------------------------


def ratchet_vectors() -> dict[str, Any]:
    alice_keys = LocalKeys(IdentityKeyPair.from_seed(fixed("identity/alice")))
    bob_keys = LocalKeys(IdentityKeyPair.from_seed(fixed("identity/bob")))
    bob_keys.signed_prekeys[7] = SignedPrekey.from_private(bob_keys.identity, 7,
                                                           fixed("bob/spk/7"))
    bob_keys.one_time_prekeys[1001] = OneTimePrekey.from_private(1001, fixed("bob/opk/1001"))
    bob_keys.one_time_prekeys[1002] = OneTimePrekey.from_private(1002, fixed("bob/opk/1002"))
    initial = {"alice": alice_keys.to_bytes().decode(), "bob": bob_keys.to_bytes().decode()}
    stores = {"alice": SessionStore(alice_keys), "bob": SessionStore(bob_keys)}
    peers = {"alice": BOB_ID, "bob": ALICE_ID}
    rng = VectorRandom("ratchet/conversation")
    steps: list[dict[str, Any]] = []
    sent: dict[str, bytes] = {}

    def snap(actor: str) -> dict[str, Any]:
        return ratchet_snapshot(stores[actor].sessions(peers[actor])[0].ratchet)

    def initiate(actor: str) -> None:
        bundle = bob_keys.bundle(7, 1001)
        stores[actor].initiate(peers[actor], bundle, rng)
        steps.append({"op": "initiate", "actor": actor, "bundle_one_time_prekey_id": 1001,
                      "bundle_signed_prekey_id": 7, "random": rng.drain(),
                      "state": snap(actor)})

    def encrypt(actor: str, label: str, text: str) -> None:
        state = stores[actor].sessions(peers[actor])[0].ratchet
        assert state.cks is not None
        mk, _ = kdf_ck(state.cks)
        key, nonce = message_key_material(mk, INFO_MESSAGE_KEYS)
        envelope = stores[actor].encrypt(peers[actor], text.encode())
        sent[label] = envelope
        steps.append({"op": "encrypt", "actor": actor, "label": label,
                      "plaintext": text.encode().hex(), "message_key": mk.hex(),
                      "aead_key": key.hex(), "aead_nonce": nonce.hex(),
                      "envelope": envelope.hex(), "state": snap(actor)})

    def decrypt(actor: str, label: str, envelope: bytes | None = None,
                note: str = "") -> None:
        env = sent[label] if envelope is None else envelope
        before = stores[actor].to_bytes()
        try:
            plaintext: bytes | None = stores[actor].decrypt(peers[actor], env, rng)
            err = None
        except errors.CryptoError as exc:
            plaintext, err = None, type(exc).__name__
            assert stores[actor].to_bytes() == before, "failed decrypt changed the state"
        steps.append({"op": "decrypt", "actor": actor, "label": label, "note": note,
                      "envelope": env.hex(), "random": rng.drain(),
                      "plaintext": None if plaintext is None else plaintext.hex(),
                      "error": err, "state": snap(actor)})

    initiate("alice")
    encrypt("alice", "a0", "a0: hi Bob")
    encrypt("alice", "a1", "a1: are you there?")
    encrypt("alice", "a2", "a2: third prekey message")
    decrypt("bob", "a1", note="prekey envelope out of order: X3DH, DH ratchet, a0 skipped")
    decrypt("bob", "a1", note="duplicate")
    encrypt("bob", "b0", "b0: hello Alice")
    encrypt("bob", "b1", "b1: yes")
    decrypt("alice", "b1", note="DH ratchet on Alice's side, b0 skipped")
    encrypt("alice", "a3", "a3: first 0x02 message")
    decrypt("bob", "a0", note="late prekey envelope: skipped key of the first chain")
    decrypt("bob", "a2", note="prekey envelope of the same session, next in chain")
    decrypt("bob", "a3", note="DH ratchet on Bob's side")
    decrypt("alice", "b0", note="skipped key from Bob's previous chain")
    decrypt("alice", "b0", note="duplicate of a skipped-key message")
    encrypt("bob", "b2", "b2: new chain")
    encrypt("bob", "b3", "b3: ")
    tampered = bytearray(sent["b3"])
    tampered[-1] ^= 0x01
    decrypt("alice", "b3", bytes(tampered), note="tampered tag: refused, state unchanged")
    tampered = bytearray(sent["b2"])
    tampered[2] ^= 0x80
    decrypt("alice", "b2", bytes(tampered), note="tampered ratchet key: refused, unchanged")
    decrypt("alice", "b3", note="DH ratchet, b2 skipped")
    decrypt("alice", "b2", note="skipped key")
    encrypt("alice", "a4", "")
    decrypt("bob", "a4", note="empty plaintext")
    return {
        "description": (
            "A Double Ratchet conversation through the session store (crypto.md "
            "'Sessions'), with out-of-order delivery, duplicates, tampering and DH ratchet "
            "steps in both directions. Each step's 'random' is what the actor's random "
            "source returns during it; 'state' is the actor's current session after it. "
            "initial_keys are the two parties' LocalKeys blobs; final_stores their "
            "SessionStore blobs after the last step."
        ),
        "alice_user_id": ALICE_ID.bytes.hex(),
        "bob_user_id": BOB_ID.bytes.hex(),
        "initial_keys": initial,
        "steps": steps,
        "final_stores": {
            "alice": stores["alice"].to_bytes().decode(),
            "bob": stores["bob"].to_bytes().decode(),
        },
    }


# --- sender_keys.json -----------------------------------------------------------------------


def sender_key_vectors() -> dict[str, Any]:
    rng = VectorRandom("sender_keys/alice")
    alice = SenderKeyStore(ALICE_ID)
    bob = SenderKeyStore(BOB_ID)
    steps: list[dict[str, Any]] = []
    sent: dict[str, bytes] = {}

    def start(label: str) -> None:
        dist = alice.start_chain(CHANNEL_ID, rng)
        sent[label] = dist
        steps.append({"op": "start_chain", "actor": "alice", "label": label,
                      "random": rng.drain(), "distribution": dist.hex()})

    def distribution(label: str) -> None:
        dist = alice.distribution(CHANNEL_ID)
        sent[label] = dist
        steps.append({"op": "distribution", "actor": "alice", "label": label,
                      "distribution": dist.hex()})

    def encrypt(label: str, text: str) -> None:
        chain = alice.sending_chain(CHANNEL_ID)
        assert chain is not None
        ck = chain.chain_key
        mk, next_ck = kdf_ck(ck)
        key, nonce = message_key_material(mk, INFO_SENDER_KEY)
        envelope = alice.encrypt(CHANNEL_ID, text.encode())
        sent[label] = envelope
        msg = parse_group_envelope(envelope)
        steps.append({"op": "encrypt", "actor": "alice", "label": label,
                      "plaintext": text.encode().hex(), "chain_id": chain.chain_id,
                      "iteration": msg.iteration, "chain_key": ck.hex(),
                      "message_key": mk.hex(), "next_chain_key": next_ck.hex(),
                      "aead_key": key.hex(), "aead_nonce": nonce.hex(),
                      "signature": msg.signature.hex(), "envelope": envelope.hex()})

    def process(label: str, channel: uuid.UUID = CHANNEL_ID, data: bytes | None = None,
                note: str = "") -> None:
        dist = sent[label] if data is None else data
        try:
            stored: bool | None = bob.process_distribution(channel, ALICE_ID, dist)
            err = None
        except errors.CryptoError as exc:
            stored, err = None, type(exc).__name__
        steps.append({"op": "process_distribution", "actor": "bob", "label": label,
                      "note": note, "channel_id": channel.bytes.hex(),
                      "distribution": dist.hex(), "stored": stored, "error": err})

    def decrypt(label: str, data: bytes | None = None, note: str = "") -> None:
        env = sent[label] if data is None else data
        before = bob.to_bytes()
        try:
            plaintext: bytes | None = bob.decrypt(CHANNEL_ID, ALICE_ID, env)
            err = None
        except errors.CryptoError as exc:
            plaintext, err = None, type(exc).__name__
            assert bob.to_bytes() == before
        chains = bob.receiving_chains(CHANNEL_ID, ALICE_ID)
        steps.append({"op": "decrypt", "actor": "bob", "label": label, "note": note,
                      "envelope": env.hex(),
                      "plaintext": None if plaintext is None else plaintext.hex(),
                      "error": err,
                      "chains": [{"chain_id": c.chain_id, "iteration": c.iteration,
                                  "chain_key": c.chain_key.hex(),
                                  "skipped": sorted(c.skipped)} for c in chains]})

    start("dist0")
    encrypt("m0", "m0: hello group")
    distribution("dist1")
    process("dist1", note="chain starts at iteration 1")
    process("dist0", note="same chain id again (iteration 0): ignored, no rewind")
    encrypt("m1", "m1")
    encrypt("m2", "m2")
    encrypt("m3", "m3")
    decrypt("m0", note="before the distribution's iteration: refused")
    decrypt("m2", note="m1 skipped")
    decrypt("m1", note="skipped key")
    decrypt("m1", note="duplicate")
    bad = bytearray(sent["m3"])
    bad[12] ^= 0x04
    decrypt("m3", bytes(bad), note="ciphertext bit flipped: signature refused first")
    decrypt("m3")
    dist1 = parse_distribution(sent["dist1"])
    wrong = bytearray(sent["dist1"])
    wrong[1:17] = OTHER_CHANNEL_ID.bytes
    process("dist1", data=bytes(wrong), note="names another channel")
    process("dist1", channel=OTHER_CHANNEL_ID, note="fetched for another channel")
    small = bytearray(sent["dist1"])
    small[57:89] = bytes.fromhex(
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
    small[17:21] = (dist1.chain_id ^ 1).to_bytes(4, "big")
    process("dist1", data=bytes(small), note="signing key of small order")
    start("dist2")
    encrypt("n0", "n0: after rotation")
    process("dist2", note="second chain")
    decrypt("n0")
    encrypt("n1", "n1")
    decrypt("n1")
    return {
        "description": (
            "Sender Keys (crypto.md): Alice's chains in one channel (start_chain's random: "
            "chain_id (4 bytes, big-endian u32), chain key, signing seed), her group "
            "envelopes with their key schedule, and Bob's receiving side."
        ),
        "channel_id": CHANNEL_ID.bytes.hex(),
        "other_channel_id": OTHER_CHANNEL_ID.bytes.hex(),
        "alice_user_id": ALICE_ID.bytes.hex(),
        "bob_user_id": BOB_ID.bytes.hex(),
        "steps": steps,
        "final_receiver_state": bob.to_bytes().decode(),
    }


# --- fingerprints.json ----------------------------------------------------------------------


def fingerprint_vectors() -> dict[str, Any]:
    people = [("alice", ALICE_ID), ("bob", BOB_ID), ("carol", CAROL_ID)]
    keys = {n: IdentityKeyPair.from_seed(fixed(f"identity/{n}")).public for n, _ in people}
    ids = dict(people)
    halves = []
    for name, uid in people:
        halves.append({"identity_key": keys[name].hex(), "user_id": uid.bytes.hex(),
                       "fingerprint": fingerprints.fingerprint(keys[name]),
                       "safety_number_half": fingerprints.safety_number_half(keys[name], uid)})
    pairs = []
    for a, b in (("alice", "bob"), ("bob", "carol"), ("carol", "alice")):
        pairs.append({"a": a, "b": b,
                      "safety_number": fingerprints.safety_number(keys[a], ids[a], keys[b],
                                                                  ids[b])})
    return {
        "description": (
            "Fingerprint = SHA-256(IK_pub) in 16 groups of 4 hex digits; safety number "
            "half = 30 digits from 5200 SHA-512 iterations over 0x0000 || IK || user_id; "
            "safety number = both halves sorted and concatenated."
        ),
        "parties": halves,
        "pairs": pairs,
    }


# --- envelopes.json -------------------------------------------------------------------------


def envelope_vectors() -> dict[str, Any]:
    prekey = bytes([1, 1]) + bytes(range(32)) + bytes(range(32, 64)) + (7).to_bytes(4, "big") \
        + (0xFFFFFFFF).to_bytes(4, "big") + bytes(range(64, 104)) + bytes(16)
    message = bytes([1, 2]) + bytes(range(40)) + bytes(range(100, 120))
    group = bytes([1, 3]) + (5).to_bytes(4, "big") + (9).to_bytes(4, "big") + bytes(16) + bytes(64)
    dist = bytes([1]) + CHANNEL_ID.bytes + (5).to_bytes(4, "big") + (9).to_bytes(4, "big") \
        + bytes(range(32)) + bytes(range(32, 64))
    cases: list[dict[str, Any]] = []

    def dm(name: str, data: bytes) -> None:
        try:
            m = parse_dm_envelope(data)
        except errors.CryptoError as exc:
            cases.append({"kind": "dm", "name": name, "bytes": data.hex(),
                          "error": type(exc).__name__})
            return
        fields: dict[str, Any]
        if isinstance(m, PrekeyMessage):
            fields = {"type": 1, "identity_key": m.identity_key.hex(),
                      "base_key": m.base_key.hex(), "signed_prekey_id": m.signed_prekey_id,
                      "one_time_prekey_id": m.one_time_prekey_id, "header": m.header.hex(),
                      "ciphertext": m.ciphertext.hex()}
        else:
            fields = {"type": 2, "header": m.header.hex(), "ciphertext": m.ciphertext.hex()}
        cases.append({"kind": "dm", "name": name, "bytes": data.hex(), "parsed": fields})

    def grp(name: str, data: bytes) -> None:
        try:
            g = parse_group_envelope(data)
        except errors.CryptoError as exc:
            cases.append({"kind": "group", "name": name, "bytes": data.hex(),
                          "error": type(exc).__name__})
            return
        cases.append({"kind": "group", "name": name, "bytes": data.hex(),
                      "parsed": {"chain_id": g.chain_id, "iteration": g.iteration,
                                 "ciphertext": g.ciphertext.hex(),
                                 "signature": g.signature.hex()}})

    def dst(name: str, data: bytes) -> None:
        try:
            d = parse_distribution(data)
        except errors.CryptoError as exc:
            cases.append({"kind": "distribution", "name": name, "bytes": data.hex(),
                          "error": type(exc).__name__})
            return
        cases.append({"kind": "distribution", "name": name, "bytes": data.hex(),
                      "parsed": {"channel_id": d.channel_id.hex(), "chain_id": d.chain_id,
                                 "iteration": d.iteration, "chain_key": d.chain_key.hex(),
                                 "signing_key": d.signing_key.hex()}})

    dm("prekey_minimal", prekey)
    dm("prekey_with_opk", prekey[:70] + (3).to_bytes(4, "big") + prekey[74:])
    dm("prekey_truncated", prekey[:-1])
    dm("prekey_reserved_spk_id", prekey[:66] + (0xFFFFFFFF).to_bytes(4, "big") + prekey[70:])
    dm("message_minimal", message[:58])
    dm("message", message)
    dm("message_truncated", message[:57])
    dm("empty", b"")
    dm("version_2", bytes([2]) + message[1:])
    dm("type_0", bytes([1, 0]) + message[2:])
    dm("type_3", bytes([1, 3]) + message[2:])
    grp("group_minimal", group)
    grp("group_truncated", group[:-1])
    grp("group_version_2", bytes([2]) + group[1:])
    grp("group_type_2", bytes([1, 2]) + group[2:])
    dst("distribution", dist)
    dst("distribution_short", dist[:-1])
    dst("distribution_long", dist + b"\x00")
    dst("distribution_version_2", bytes([2]) + dist[1:])
    return {
        "description": "Strict parsing of DM envelopes, group envelopes and distributions.",
        "cases": cases,
    }


GENERATORS: dict[str, Callable[[], dict[str, Any]]] = {
    "keys.json": keys_vectors,
    "ed25519.json": ed25519_vectors,
    "x3dh.json": x3dh_vectors,
    "ratchet.json": ratchet_vectors,
    "sender_keys.json": sender_key_vectors,
    "fingerprints.json": fingerprint_vectors,
    "envelopes.json": envelope_vectors,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for name, generate in GENERATORS.items():
        write(out, name, generate())
        print(f"wrote {out / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
