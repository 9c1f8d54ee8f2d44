"""Session-store rules of crypto.md ("Sessions")."""

from __future__ import annotations

import os
import uuid

import pytest
from crypto_helpers import flip_bit, make_keys

from chatalot_crypto.envelopes import PrekeyMessage, RatchetMessage, parse_dm_envelope
from chatalot_crypto.errors import (
    CryptoError,
    DecryptError,
    DuplicateMessage,
    NoSession,
    PrekeyReplay,
    UnknownPrekey,
)
from chatalot_crypto.keys import LocalKeys
from chatalot_crypto.sessions import REPLAY_MEMORY, Session, SessionStore

A = uuid.UUID("00000000-0000-4000-8000-00000000000a")
B = uuid.UUID("00000000-0000-4000-8000-00000000000b")
C = uuid.UUID("00000000-0000-4000-8000-00000000000c")


def stores(one_time: int = 5) -> tuple[SessionStore, SessionStore, LocalKeys]:
    bob_keys = make_keys(2, one_time)
    bob_public = LocalKeys.from_bytes(bob_keys.to_bytes())  # what the server holds
    return SessionStore(make_keys(1)), SessionStore(bob_keys), bob_public


def refused(store: SessionStore, peer: uuid.UUID, envelope: bytes,
            exc: type[Exception] = CryptoError) -> None:
    before = store.to_bytes()
    with pytest.raises(exc):
        store.decrypt(peer, envelope)
    assert store.to_bytes() == before


def test_prekey_envelopes_in_any_order_and_repeated() -> None:
    alice, bob, bob_public = stores()
    alice.initiate(B, bob_public.bundle(1, 100))
    envs = [alice.encrypt(B, f"m{i}".encode()) for i in range(3)]
    assert all(isinstance(parse_dm_envelope(e), PrekeyMessage) for e in envs)
    assert bob.decrypt(A, envs[2]) == b"m2"
    assert 100 not in bob.keys.one_time_prekeys  # consumed
    assert bob.decrypt(A, envs[0]) == b"m0"  # the OPK is gone, the session is found
    assert bob.decrypt(A, envs[1]) == b"m1"
    refused(bob, A, envs[0], DuplicateMessage)
    assert len(bob.sessions(A)) == 1
    assert bob.identity_key(A) == alice.keys.identity.public


def test_initiator_switches_to_ordinary_messages_after_a_reply() -> None:
    alice, bob, bob_public = stores()
    alice.initiate(B, bob_public.bundle(1))
    bob.decrypt(A, alice.encrypt(B, b"hi"))
    reply = bob.encrypt(A, b"hello")
    assert isinstance(parse_dm_envelope(reply), RatchetMessage)
    assert isinstance(parse_dm_envelope(alice.encrypt(B, b"before reply")), PrekeyMessage)
    assert alice.decrypt(B, reply) == b"hello"
    env = alice.encrypt(B, b"after reply")
    assert isinstance(parse_dm_envelope(env), RatchetMessage)
    assert bob.decrypt(A, env) == b"after reply"


def test_unknown_prekeys_are_refused() -> None:
    alice, bob, bob_public = stores()
    bundle = bob_public.bundle(1, 101)
    del bob.keys.one_time_prekeys[101]
    alice.initiate(B, bundle)
    refused(bob, A, alice.encrypt(B, b"x"), UnknownPrekey)
    del bob.keys.signed_prekeys[1]
    refused(bob, A, alice.encrypt(B, b"y"), UnknownPrekey)


def test_one_time_prekey_is_consumed_only_by_a_decrypted_message() -> None:
    alice, bob, bob_public = stores()
    alice.initiate(B, bob_public.bundle(1, 100))
    env = alice.encrypt(B, b"x")
    refused(bob, A, env[:-1] + bytes([env[-1] ^ 1]), DecryptError)
    assert 100 in bob.keys.one_time_prekeys
    assert not bob.remembers_base_key(alice.sessions(B)[0].base_key)
    assert bob.decrypt(A, env) == b"x"
    assert 100 not in bob.keys.one_time_prekeys
    assert bob.remembers_base_key(alice.sessions(B)[0].base_key)


def test_current_and_four_previous_sessions_are_kept() -> None:
    alice, bob, bob_public = stores()
    firsts = []
    sessions = []
    for i in range(6):
        sessions.append(alice.initiate(B, bob_public.bundle(1)))
        firsts.append(alice.encrypt(B, f"s{i}".encode()))
        assert bob.decrypt(A, firsts[-1]) == f"s{i}".encode()
    assert [s.base_key for s in alice.sessions(B)] == [s.base_key for s in sessions[::-1][:5]]
    assert [s.base_key for s in bob.sessions(A)] == [s.base_key for s in sessions[::-1][:5]]
    # The deleted session's prekey envelope cannot re-create it: X3DH replay refused.
    refused(bob, A, firsts[0], PrekeyReplay)
    # Its EK_A is remembered across peers too.
    refused(bob, C, firsts[0], PrekeyReplay)


def test_ordinary_message_tries_previous_sessions_and_promotes() -> None:
    alice, bob, bob_public = stores()
    first = alice.initiate(B, bob_public.bundle(1))
    bob.decrypt(A, alice.encrypt(B, b"1"))
    alice.decrypt(B, bob.encrypt(A, b"2"))
    late = alice.encrypt(B, b"late, on the first session")
    assert isinstance(parse_dm_envelope(late), RatchetMessage)
    second = alice.initiate(B, bob_public.bundle(1))
    assert bob.decrypt(A, alice.encrypt(B, b"second session")) == b"second session"
    assert bob.sessions(A)[0].base_key == second.base_key
    assert bob.decrypt(A, late) == b"late, on the first session"
    assert bob.sessions(A)[0].base_key == first.base_key  # last to decrypt is current
    assert alice.decrypt(B, bob.encrypt(A, b"on first")) == b"on first"
    assert alice.sessions(B)[0].base_key == first.base_key


def test_simultaneous_initiation_converges() -> None:
    alice_keys, bob_keys = make_keys(1), make_keys(2)
    alice, bob = SessionStore(alice_keys), SessionStore(bob_keys)
    alice.initiate(B, LocalKeys.from_bytes(bob_keys.to_bytes()).bundle(1, 100))
    bob.initiate(A, LocalKeys.from_bytes(alice_keys.to_bytes()).bundle(1, 100))
    from_alice = alice.encrypt(B, b"from alice")
    from_bob = bob.encrypt(A, b"from bob")
    assert bob.decrypt(A, from_alice) == b"from alice"
    assert alice.decrypt(B, from_bob) == b"from bob"
    for _ in range(2):
        assert bob.decrypt(A, alice.encrypt(B, b"a")) == b"a"
        assert alice.decrypt(B, bob.encrypt(A, b"b")) == b"b"
    assert alice.sessions(B)[0].base_key == bob.sessions(A)[0].base_key


def test_reflected_prekey_envelope_is_refused() -> None:
    alice, _, bob_public = stores()
    alice.initiate(B, bob_public.bundle(1, 100))
    env = alice.encrypt(B, b"x")
    refused(alice, B, env)


def test_changed_prekey_ids_on_a_known_session_are_refused() -> None:
    alice, bob, bob_public = stores()
    alice.initiate(B, bob_public.bundle(1, 100))
    envs = [alice.encrypt(B, b"0"), alice.encrypt(B, b"1")]
    bob.decrypt(A, envs[0])
    for bit in range(66 * 8, 74 * 8):  # spk_id and opk_id
        refused(bob, A, flip_bit(envs[1], bit))
    assert bob.decrypt(A, envs[1]) == b"1"


def test_no_session() -> None:
    alice, bob, bob_public = stores()
    with pytest.raises(NoSession):
        alice.encrypt(B, b"x")
    alice.initiate(B, bob_public.bundle(1))
    bob.decrypt(A, alice.encrypt(B, b"x"))
    with pytest.raises(NoSession):
        alice.decrypt(C, bob.encrypt(A, b"y"))
    assert not alice.has_session(C) and alice.has_session(B)


def test_replay_memory_is_bounded_oldest_first() -> None:
    alice, bob, bob_public = stores()
    fake = [os.urandom(32) for _ in range(REPLAY_MEMORY)]
    for k in fake:
        bob._replay[k] = None
    alice.initiate(B, bob_public.bundle(1))
    bob.decrypt(A, alice.encrypt(B, b"x"))
    assert len(bob._replay) == REPLAY_MEMORY
    assert not bob.remembers_base_key(fake[0]) and bob.remembers_base_key(fake[1])
    assert bob.remembers_base_key(alice.sessions(B)[0].base_key)


def test_store_and_session_serialization_round_trip() -> None:
    alice, bob, bob_public = stores()
    alice.initiate(B, bob_public.bundle(1, 100))
    bob.decrypt(A, alice.encrypt(B, b"x"))
    pending = alice.encrypt(B, b"pending")
    alice2 = SessionStore.from_bytes(alice.to_bytes())
    bob2 = SessionStore.from_bytes(bob.to_bytes())
    assert alice2.to_bytes() == alice.to_bytes() and bob2.to_bytes() == bob.to_bytes()
    assert bob2.decrypt(A, pending) == b"pending"
    assert alice2.decrypt(B, bob2.encrypt(A, b"y")) == b"y"
    session = alice2.sessions(B)[0]
    assert Session.from_bytes(session.to_bytes()).to_bytes() == session.to_bytes()


@pytest.mark.parametrize("with_opk", [False, True])
def test_ephemeral_key_alias_cannot_replay_a_prekey_envelope(with_opk: bool) -> None:
    """X25519 ignores the top bit of EK_A: without refusing that alias, the tampered copy
    would decrypt (same SK) as a second session, past the EK_A replay memory."""
    alice, bob, bob_public = stores()
    alice.initiate(B, bob_public.bundle(1, 100 if with_opk else None))
    env = alice.encrypt(B, b"once")
    alias = flip_bit(env, (34 + 31) * 8 + 7)
    refused(bob, A, alias)
    assert bob.decrypt(A, env) == b"once"
    refused(bob, A, alias)
    refused(bob, A, env, DuplicateMessage)
    assert len(bob.sessions(A)) == 1
