"""Secrets never show in repr, str or error messages."""

from __future__ import annotations

import base64
import uuid

from crypto_helpers import SeededRandom, make_keys

from chatalot_crypto import x3dh
from chatalot_crypto.envelopes import parse_distribution
from chatalot_crypto.errors import CryptoError
from chatalot_crypto.sender_keys import SenderKeyStore
from chatalot_crypto.sessions import SessionStore

A = uuid.UUID(int=0xA)
B = uuid.UUID(int=0xB)
CH = uuid.UUID(int=0xC)


def leaks(text: str, secret: bytes) -> bool:
    forms = [secret.hex(), secret.hex()[:16], base64.b64encode(secret).decode()[:16],
             repr(secret)[2:18]]
    return any(f in text for f in forms)


def test_reprs_hide_secrets() -> None:
    rng = SeededRandom(9)
    alice_keys, bob_keys = make_keys(1, rng=rng), make_keys(2, rng=rng)
    alice, bob = SessionStore(alice_keys), SessionStore(bob_keys)
    bundle = bob_keys.bundle(1, 100)
    init = x3dh.initiate(alice_keys.identity, bundle, rng)
    resp = x3dh.respond(bob_keys.identity, bob_keys.signed_prekeys[1],
                        bob_keys.one_time_prekeys[100], alice_keys.identity.public,
                        init.ephemeral_public)
    alice.initiate(B, bundle, rng)
    bob.decrypt(A, alice.encrypt(B, b"x"), rng)
    alice.decrypt(B, bob.encrypt(A, b"y"), rng)
    a_session = alice.sessions(B)[0]
    group = SenderKeyStore(A)
    dist = group.start_chain(CH, rng)
    receiver = SenderKeyStore(B)
    receiver.process_distribution(CH, A, dist)
    chain = group.sending_chain(CH)
    assert chain is not None
    rchain = receiver.receiving_chains(CH, A)[0]

    secrets = [
        alice_keys.identity.seed, alice_keys.identity.x25519_private,
        bob_keys.signed_prekeys[1].private,
        *[k.private for k in bob_keys.one_time_prekeys.values()],
        init.shared_secret, resp.shared_secret,
        a_session.ratchet.rk, a_session.ratchet.dhs_private,
        chain.chain_key, chain.signing_seed, rchain.chain_key,
    ]
    for s in (a_session.ratchet.cks, a_session.ratchet.ckr):
        assert s is not None
        secrets.append(s)
    objects: list[object] = [
        alice_keys, alice_keys.identity, bob_keys.signed_prekeys[1],
        *bob_keys.one_time_prekeys.values(), init, resp, alice, bob, a_session,
        a_session.ratchet, group, chain, receiver, rchain, parse_distribution(dist),
    ]
    for obj in objects:
        for text in (repr(obj), str(obj)):
            for secret in secrets:
                assert not leaks(text, secret), (type(obj).__name__, text)
    # The reprs still say something useful.
    assert alice_keys.identity.public.hex() in repr(alice_keys.identity)
    assert str(chain.chain_id) in repr(chain)


def test_error_messages_are_fixed_strings() -> None:
    rng = SeededRandom(10)
    alice_keys, bob_keys = make_keys(1, rng=rng), make_keys(2, rng=rng)
    alice, bob = SessionStore(alice_keys), SessionStore(bob_keys)
    alice.initiate(B, bob_keys.bundle(1, 100), rng)
    env = alice.encrypt(B, b"secret plaintext")
    messages = []
    for bad in (env[:-1] + bytes([env[-1] ^ 1]), env[:40], b"", env):
        try:
            bob.decrypt(A, bad, rng)
            bob.decrypt(A, bad, rng)
        except CryptoError as exc:
            messages.append(str(exc))
    assert len(messages) == 4
    for message in messages:
        assert len(message) < 80
        assert "secret plaintext" not in message
        assert not any(c in message for c in "=\\") and not any(
            len(word) >= 16 and all(ch in "0123456789abcdef" for ch in word)
            for word in message.split()
        )
