"""Double Ratchet rules of crypto.md: skip bounds, skipped-key cap, refusals, atomicity."""

from __future__ import annotations

import pytest
from crypto_helpers import SeededRandom

from chatalot_crypto.errors import (
    CryptoError,
    DecryptError,
    DuplicateMessage,
    InvalidEnvelope,
    InvalidKey,
    NoSession,
    TooManySkipped,
)
from chatalot_crypto.primitives import generate_x25519
from chatalot_crypto.ratchet import MAX_SKIP, MAX_SKIPPED_KEYS, RatchetState

AD = bytes(range(64))


def pair(seed: int = 1) -> tuple[RatchetState, RatchetState, SeededRandom]:
    rng = SeededRandom(seed)
    spk_private, spk_public = generate_x25519(rng)
    sk = rng(32)
    alice = RatchetState.init_alice(sk, spk_public, rng)
    bob = RatchetState.init_bob(sk, spk_private)
    return alice, bob, rng


def send(state: RatchetState, count: int) -> list[tuple[bytes, bytes, bytes]]:
    out = []
    for i in range(count):
        plaintext = f"m{state.ns}-{i}".encode()
        header, ct = state.encrypt(plaintext, AD)
        out.append((header, ct, plaintext))
    return out


def assert_refused(state: RatchetState, header: bytes, ct: bytes, exc: type[Exception],
                   rng: SeededRandom) -> None:
    before = state.to_obj()
    with pytest.raises(exc):
        state.decrypt(header, ct, AD, rng)
    assert state.to_obj() == before


def test_conversation_both_directions() -> None:
    alice, bob, rng = pair()
    for h, c, p in send(alice, 3):
        assert bob.decrypt(h, c, AD, rng) == p
    for h, c, p in send(bob, 2):
        assert alice.decrypt(h, c, AD, rng) == p
    for h, c, p in send(alice, 2):
        assert bob.decrypt(h, c, AD, rng) == p
    assert (alice.ns, alice.pn, bob.nr, bob.pn) == (2, 3, 2, 2)


def test_bob_cannot_send_before_receiving() -> None:
    _, bob, _ = pair()
    with pytest.raises(NoSession):
        bob.encrypt(b"x", AD)


@pytest.mark.parametrize("established", [False, True])
def test_exactly_max_skip_skipped_is_allowed(established: bool) -> None:
    alice, bob, rng = pair()
    if established:
        h, c, p = send(alice, 1)[0]
        assert bob.decrypt(h, c, AD, rng) == p
    msgs = send(alice, MAX_SKIP + 1)
    h, c, p = msgs[-1]
    assert bob.decrypt(h, c, AD, rng) == p
    assert len(bob.skipped) == MAX_SKIP
    for h, c, p in reversed(msgs[:-1]):
        assert bob.decrypt(h, c, AD, rng) == p
    assert bob.skipped == {}


@pytest.mark.parametrize("established", [False, True])
def test_max_skip_plus_one_is_refused(established: bool) -> None:
    alice, bob, rng = pair()
    if established:
        h, c, p = send(alice, 1)[0]
        bob.decrypt(h, c, AD, rng)
    msgs = send(alice, MAX_SKIP + 2)
    h, c, _ = msgs[-1]
    assert_refused(bob, h, c, TooManySkipped, rng)
    h, c, p = msgs[-2]
    assert bob.decrypt(h, c, AD, rng) == p


@pytest.mark.parametrize(("unseen", "ok"), [(MAX_SKIP, True), (MAX_SKIP + 1, False)])
def test_pn_bound_at_a_ratchet_step(unseen: int, ok: bool) -> None:
    alice, bob, rng = pair()
    h, c, _ = send(alice, 1)[0]
    bob.decrypt(h, c, AD, rng)  # Bob: Nr = 1 in Alice's first chain
    send(alice, unseen)  # never delivered
    h, c, _ = send(bob, 1)[0]
    alice.decrypt(h, c, AD, rng)  # Alice ratchets: PN = 1 + unseen
    h, c, p = send(alice, 1)[0]
    if ok:
        assert bob.decrypt(h, c, AD, rng) == p
        assert len(bob.skipped) == MAX_SKIP
    else:
        assert_refused(bob, h, c, TooManySkipped, rng)


def test_skipped_keys_are_capped_oldest_first() -> None:
    alice, bob, rng = pair()
    chains = []
    for _ in range(2):
        msgs = send(alice, MAX_SKIP + 1)
        chains.append(msgs)
        h, c, _ = msgs[-1]
        bob.decrypt(h, c, AD, rng)
        h, c, _ = send(bob, 1)[0]
        alice.decrypt(h, c, AD, rng)
    assert len(bob.skipped) == MAX_SKIPPED_KEYS
    third = send(alice, 6)
    h, c, _ = third[-1]
    bob.decrypt(h, c, AD, rng)  # 5 more skipped: the 5 oldest go
    assert len(bob.skipped) == MAX_SKIPPED_KEYS
    for h, c, _ in chains[0][:5]:
        before = bob.to_obj()
        with pytest.raises(CryptoError):
            bob.decrypt(h, c, AD, rng)
        assert bob.to_obj() == before
    for h, c, p in chains[0][5:8] + chains[1][:3] + third[:5]:
        assert bob.decrypt(h, c, AD, rng) == p


def test_duplicate_is_refused() -> None:
    alice, bob, rng = pair()
    msgs = send(alice, 2)
    for h, c, p in msgs:
        assert bob.decrypt(h, c, AD, rng) == p
    assert_refused(bob, msgs[0][0], msgs[0][1], DuplicateMessage, rng)
    assert_refused(bob, msgs[1][0], msgs[1][1], DuplicateMessage, rng)


def test_current_key_without_receiving_chain_is_refused() -> None:
    alice, _, rng = pair()
    assert alice.dhr is not None and alice.ckr is None
    header = alice.dhr + bytes(8)
    assert_refused(alice, header, bytes(32), DecryptError, rng)


def test_small_order_ratchet_key_is_refused() -> None:
    alice, bob, rng = pair()
    h, c, _ = send(alice, 1)[0]
    assert_refused(bob, bytes(32) + h[32:], c, InvalidKey, rng)
    assert_refused(bob, (1).to_bytes(32, "little") + h[32:], c, InvalidKey, rng)


def test_malformed_input_is_refused() -> None:
    alice, bob, rng = pair()
    h, c, _ = send(alice, 1)[0]
    assert_refused(bob, h[:-1], c, InvalidEnvelope, rng)
    assert_refused(bob, h, c[:15], InvalidEnvelope, rng)


def test_wrong_associated_data_is_refused() -> None:
    alice, bob, rng = pair()
    h, c, p = send(alice, 1)[0]
    before = bob.to_obj()
    with pytest.raises(DecryptError):
        bob.decrypt(h, c, bytes(64), rng)
    assert bob.to_obj() == before
    assert bob.decrypt(h, c, AD, rng) == p
