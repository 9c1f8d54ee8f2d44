"""Sender Keys rules of crypto.md: bounds, chain retention, distributions, signature first."""

from __future__ import annotations

import uuid

import pytest
from crypto_helpers import flip_bit

from chatalot_crypto import edwards25519 as ed
from chatalot_crypto.envelopes import DISTRIBUTION_SIZE, parse_distribution
from chatalot_crypto.errors import (
    ChainExhausted,
    DecryptError,
    DuplicateMessage,
    InvalidEnvelope,
    InvalidKey,
    InvalidSignature,
    NoSession,
    TooManySkipped,
    UnknownSenderChain,
    WrongChannel,
)
from chatalot_crypto.primitives import U32_MAX, kdf_ck
from chatalot_crypto.sender_keys import (
    CHAINS_PER_SENDER,
    MAX_AHEAD,
    MAX_SKIPPED_PER_CHAIN,
    REMEMBERED_CHAIN_IDS,
    SenderChain,
    SenderKeyStore,
)

CH = uuid.UUID("00000000-0000-4000-8000-0000000000c1")
CH2 = uuid.UUID("00000000-0000-4000-8000-0000000000c2")
A = uuid.UUID("00000000-0000-4000-8000-00000000000a")
B = uuid.UUID("00000000-0000-4000-8000-00000000000b")
C = uuid.UUID("00000000-0000-4000-8000-00000000000c")


def setup() -> tuple[SenderKeyStore, SenderKeyStore]:
    alice, bob = SenderKeyStore(A), SenderKeyStore(B)
    assert bob.process_distribution(CH, A, alice.start_chain(CH))
    return alice, bob


def fast_forward(chain: SenderChain, n: int) -> None:
    """Advance a sending chain as if n messages were sent and never delivered."""
    for _ in range(n):
        _, chain.chain_key = kdf_ck(chain.chain_key)
    chain.iteration += n


def refused(store: SenderKeyStore, env: bytes, exc: type[Exception], sender: uuid.UUID = A
            ) -> None:
    before = store.to_bytes()
    with pytest.raises(exc):
        store.decrypt(CH, sender, env)
    assert store.to_bytes() == before


def test_round_trip_and_distribution_layout() -> None:
    alice, bob = setup()
    chain = alice.sending_chain(CH)
    assert chain is not None
    dist = alice.distribution(CH)
    assert len(dist) == DISTRIBUTION_SIZE == 89
    d = parse_distribution(dist)
    assert (d.channel_id, d.chain_id, d.iteration, d.chain_key, d.signing_key) == (
        CH.bytes, chain.chain_id, 0, chain.chain_key, chain.signing_public)
    for i in range(3):
        env = alice.encrypt(CH, f"g{i}".encode())
        assert env[:2] == b"\x01\x03"
        assert int.from_bytes(env[6:10], "big") == i
        assert bob.decrypt(CH, A, env) == f"g{i}".encode()


@pytest.mark.parametrize(("ahead", "ok"), [(MAX_AHEAD, True), (MAX_AHEAD + 1, False)])
def test_max_ahead(ahead: int, ok: bool) -> None:
    alice, bob = setup()
    chain = alice.sending_chain(CH)
    assert chain is not None
    fast_forward(chain, ahead)
    env = alice.encrypt(CH, b"far")
    if ok:
        assert bob.decrypt(CH, A, env) == b"far"
        assert len(bob.receiving_chains(CH, A)[0].skipped) == MAX_SKIPPED_PER_CHAIN
    else:
        refused(bob, env, TooManySkipped)


def test_skipped_keys_capped_oldest_first() -> None:
    alice, bob = setup()
    envs = [alice.encrypt(CH, f"{i}".encode()) for i in range(MAX_SKIPPED_PER_CHAIN + 501)]
    assert bob.decrypt(CH, A, envs[-1]) == str(MAX_SKIPPED_PER_CHAIN + 500).encode()
    assert sorted(bob.receiving_chains(CH, A)[0].skipped) == list(range(500, 2500))
    refused(bob, envs[499], DuplicateMessage)
    assert bob.decrypt(CH, A, envs[500]) == b"500"
    envs += [alice.encrypt(CH, b"more") for _ in range(5)]
    bob.decrypt(CH, A, envs[-1])  # 1999 kept + 4 skipped: the 3 oldest (501..503) go
    assert len(bob.receiving_chains(CH, A)[0].skipped) == MAX_SKIPPED_PER_CHAIN
    refused(bob, envs[503], DuplicateMessage)
    assert bob.decrypt(CH, A, envs[504]) == b"504"


def test_five_most_recent_chains_are_kept() -> None:
    alice, bob = setup()
    old = [alice.encrypt(CH, b"chain 0")]
    for i in range(1, CHAINS_PER_SENDER + 1):
        bob.process_distribution(CH, A, alice.start_chain(CH))
        old.append(alice.encrypt(CH, f"chain {i}".encode()))
    assert len(bob.receiving_chains(CH, A)) == CHAINS_PER_SENDER
    refused(bob, old[0], UnknownSenderChain)
    for i in range(1, CHAINS_PER_SENDER + 1):
        assert bob.decrypt(CH, A, old[i]) == f"chain {i}".encode()


def test_held_or_once_held_chain_ids_are_ignored() -> None:
    alice, bob = setup()
    first = alice.distribution(CH)
    bob.decrypt(CH, A, alice.encrypt(CH, b"x"))
    assert bob.process_distribution(CH, A, first) is False  # no rewind
    for _ in range(CHAINS_PER_SENDER):
        bob.process_distribution(CH, A, alice.start_chain(CH))
    assert bob.process_distribution(CH, A, first) is False  # evicted, still remembered
    ids = [c.chain_id for c in bob.receiving_chains(CH, A)]
    assert parse_distribution(first).chain_id not in ids


def test_remembered_chain_ids_are_bounded() -> None:
    alice, bob = setup()
    first = alice.distribution(CH)
    record = bob._receiving[(CH.bytes, A.bytes)]
    for i in range(REMEMBERED_CHAIN_IDS - 1):
        record.remembered[(parse_distribution(first).chain_id + 1 + i) % 2**32] = None
    assert len(record.remembered) == REMEMBERED_CHAIN_IDS
    bob.process_distribution(CH, A, alice.start_chain(CH))
    assert len(record.remembered) == REMEMBERED_CHAIN_IDS
    # The oldest remembered id (the first chain's) went, but a held chain is never
    # re-created from a distribution either.
    assert parse_distribution(first).chain_id not in record.remembered
    assert bob.process_distribution(CH, A, first) is False


def test_signature_is_checked_first() -> None:
    alice, bob = setup()
    chain = alice.sending_chain(CH)
    assert chain is not None
    fast_forward(chain, MAX_AHEAD + 10)
    env = alice.encrypt(CH, b"x")
    refused(bob, flip_bit(env, len(env) * 8 - 1), InvalidSignature)  # not TooManySkipped
    env = alice.encrypt(CH, b"y")
    for bit in (0, 9, 16, 50, 100, len(env) * 8 - 70 * 8, len(env) * 8 - 1):
        with pytest.raises((InvalidSignature, InvalidEnvelope, UnknownSenderChain)):
            bob.decrypt(CH, A, flip_bit(env, bit))


def test_sender_and_channel_are_bound() -> None:
    alice, bob = setup()
    bob.process_distribution(CH, C, alice.distribution(CH))  # misattributed to C
    env = alice.encrypt(CH, b"x")
    refused(bob, env, DecryptError, sender=C)  # signature fine, AEAD aad differs
    assert bob.decrypt(CH, A, env) == b"x"
    with pytest.raises(UnknownSenderChain):
        bob.decrypt(CH2, A, env)


def test_distribution_checks() -> None:
    alice, bob = SenderKeyStore(A), SenderKeyStore(B)
    dist = alice.start_chain(CH)
    with pytest.raises(WrongChannel):
        bob.process_distribution(CH2, A, dist)
    with pytest.raises(InvalidEnvelope):
        bob.process_distribution(CH, A, dist[:-1])
    with pytest.raises(InvalidEnvelope):
        bob.process_distribution(CH, A, dist + b"\x00")
    with pytest.raises(InvalidEnvelope):
        bob.process_distribution(CH, A, b"\x02" + dist[1:])
    t8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
    point = ed.decode(dist[57:])
    assert point is not None
    t8_point = ed.decode(t8)
    assert t8_point is not None
    mixed = ed.encode(ed.add(point, t8_point))
    for bad in (t8, mixed, bytes(32), (2**255 - 18).to_bytes(32, "little")):
        with pytest.raises(InvalidKey):
            bob.process_distribution(CH, A, dist[:57] + bad)
    assert bob.receiving_chains(CH, A) == []
    assert bob.process_distribution(CH, A, dist)


def test_exhausted_and_missing_chains() -> None:
    alice = SenderKeyStore(A)
    with pytest.raises(NoSession):
        alice.encrypt(CH, b"x")
    alice.start_chain(CH)
    chain = alice.sending_chain(CH)
    assert chain is not None
    chain.iteration = U32_MAX
    alice.encrypt(CH, b"last")
    with pytest.raises(ChainExhausted):
        alice.encrypt(CH, b"one too many")
    with pytest.raises(ChainExhausted):
        alice.distribution(CH)


def test_serialization_round_trip() -> None:
    alice, bob = setup()
    envs = [alice.encrypt(CH, f"{i}".encode()) for i in range(4)]
    bob.decrypt(CH, A, envs[3])
    alice2 = SenderKeyStore.from_bytes(alice.to_bytes())
    bob2 = SenderKeyStore.from_bytes(bob.to_bytes())
    assert alice2.to_bytes() == alice.to_bytes() and bob2.to_bytes() == bob.to_bytes()
    assert bob2.decrypt(CH, A, envs[1]) == b"1"
    assert bob2.decrypt(CH, A, alice2.encrypt(CH, b"next")) == b"next"
