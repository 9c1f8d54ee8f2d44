"""Property tests: random delivery schedules for DMs and groups, exact-once decryption,
refusal of duplicates and tampering with the state unchanged, serialization mid-way.

Example counts come from the Hypothesis profile tests/conftest.py loads ("default": few,
"nightly": many, chosen by HYPOTHESIS_PROFILE).
"""

from __future__ import annotations

import uuid

import pytest
from crypto_helpers import SeededRandom, flip_bit, make_keys
from hypothesis import given
from hypothesis import strategies as st

from chatalot_crypto.errors import CryptoError, StateError
from chatalot_crypto.fingerprints import safety_number
from chatalot_crypto.keys import IdentityKeyPair, LocalKeys
from chatalot_crypto.sender_keys import SenderKeyStore
from chatalot_crypto.sessions import SessionStore
from tests.hypothesis_budget import pure

A = uuid.UUID(int=0xA)
B = uuid.UUID(int=0xB)
CH = uuid.UUID(int=0xC)

DM_ACTIONS = ["send_a", "send_b", "deliver", "deliver", "deliver", "duplicate", "drop",
              "tamper", "reload"]


def _refused(store: SessionStore, peer: uuid.UUID, envelope: bytes) -> None:
    before = store.to_bytes()
    with pytest.raises(CryptoError):
        store.decrypt(peer, envelope)
    assert store.to_bytes() == before


@given(data=st.data(), seed=st.integers(0, 2**32 - 1), with_opk=st.booleans())
def test_dm_random_schedule(data: st.DataObject, seed: int, with_opk: bool) -> None:
    rng = SeededRandom(seed)
    bob_keys = make_keys(2, one_time=1, rng=rng)
    stores = {"a": SessionStore(make_keys(1, one_time=1, rng=rng)), "b": SessionStore(bob_keys)}
    peer = {"a": B, "b": A}
    other = {"a": "b", "b": "a"}
    bundle = LocalKeys.from_bytes(bob_keys.to_bytes()).bundle(1, 100 if with_opk else None)
    stores["a"].initiate(B, bundle, rng)
    in_flight: dict[str, list[tuple[bytes, bytes]]] = {"a": [], "b": []}  # to that party
    delivered: dict[str, list[tuple[bytes, bytes]]] = {"a": [], "b": []}
    decrypted = 0
    for step in range(data.draw(st.integers(5, 40), label="steps")):
        action = data.draw(st.sampled_from(DM_ACTIONS), label="action")
        to = data.draw(st.sampled_from(["a", "b"]), label="to")
        if action in ("send_a", "send_b"):
            who = action[-1]
            if not stores[who].has_session(peer[who]):
                continue
            plaintext = f"{who}{step}:".encode() + data.draw(st.binary(max_size=64))
            in_flight[other[who]].append((stores[who].encrypt(peer[who], plaintext), plaintext))
        elif action == "deliver" and in_flight[to]:
            i = data.draw(st.integers(0, len(in_flight[to]) - 1), label="which")
            envelope, plaintext = in_flight[to].pop(i)
            assert stores[to].decrypt(peer[to], envelope, rng) == plaintext
            delivered[to].append((envelope, plaintext))
            decrypted += 1
        elif action == "duplicate" and delivered[to]:
            envelope, _ = data.draw(st.sampled_from(delivered[to]), label="dup")
            _refused(stores[to], peer[to], envelope)
        elif action == "drop" and in_flight[to]:
            in_flight[to].pop(data.draw(st.integers(0, len(in_flight[to]) - 1)))
        elif action == "tamper" and (in_flight[to] or delivered[to]):
            envelope, _ = data.draw(st.sampled_from(in_flight[to] + delivered[to]))
            bit = data.draw(st.integers(0, len(envelope) * 8 - 1), label="bit")
            _refused(stores[to], peer[to], flip_bit(envelope, bit))
        elif action == "reload":
            blob = stores[to].to_bytes()
            stores[to] = SessionStore.from_bytes(blob)
            assert stores[to].to_bytes() == blob
    for to in ("a", "b"):
        order = data.draw(st.permutations(range(len(in_flight[to]))), label="final order")
        for i in order:
            envelope, plaintext = in_flight[to][i]
            assert stores[to].decrypt(peer[to], envelope, rng) == plaintext
            decrypted += 1
        for envelope, _ in in_flight[to]:
            _refused(stores[to], peer[to], envelope)
    assert len(stores["b"].sessions(A)) <= 1


@given(data=st.data(), seed=st.integers(0, 2**32 - 1), members=st.integers(2, 20))
def test_sender_key_group_random_schedule(data: st.DataObject, seed: int, members: int
                                          ) -> None:
    rng = SeededRandom(seed)
    ids = [uuid.UUID(int=i + 1) for i in range(members)]
    stores = [SenderKeyStore(uid) for uid in ids]

    def rotate(i: int) -> None:
        dist = stores[i].start_chain(CH, rng)
        for j in range(members):
            if j != i:
                assert stores[j].process_distribution(CH, ids[i], dist)

    for i in range(members):
        rotate(i)
    # Per receiver: envelopes not yet delivered, and delivered ones.
    pending: list[list[tuple[int, bytes, bytes]]] = [[] for _ in range(members)]
    done: list[list[tuple[int, bytes, bytes]]] = [[] for _ in range(members)]
    rotations = 0
    for step in range(data.draw(st.integers(3, 25), label="steps")):
        action = data.draw(st.sampled_from(["send", "send", "deliver", "deliver", "duplicate",
                                            "tamper", "rotate", "reload"]))
        j = data.draw(st.integers(0, members - 1), label="member")
        if action == "send":
            plaintext = f"{j}/{step}".encode() + data.draw(st.binary(max_size=32))
            envelope = stores[j].encrypt(CH, plaintext)
            for k in range(members):
                if k != j and data.draw(st.booleans(), label="not dropped"):
                    pending[k].append((j, envelope, plaintext))
        elif action == "deliver" and pending[j]:
            sender, envelope, plaintext = pending[j].pop(
                data.draw(st.integers(0, len(pending[j]) - 1)))
            assert stores[j].decrypt(CH, ids[sender], envelope) == plaintext
            done[j].append((sender, envelope, plaintext))
        elif action in ("duplicate", "tamper") and (done[j] or pending[j]):
            pool = done[j] if action == "duplicate" else done[j] + pending[j]
            if not pool:
                continue
            sender, envelope, _ = data.draw(st.sampled_from(pool))
            if action == "tamper":
                envelope = flip_bit(envelope, data.draw(st.integers(0, len(envelope) * 8 - 1)))
            before = stores[j].to_bytes()
            with pytest.raises(CryptoError):
                stores[j].decrypt(CH, ids[sender], envelope)
            assert stores[j].to_bytes() == before
        elif action == "rotate" and rotations < 3:  # stays within the 5 chains kept
            rotations += 1
            rotate(j)
        elif action == "reload":
            blob = stores[j].to_bytes()
            stores[j] = SenderKeyStore.from_bytes(blob)
            assert stores[j].to_bytes() == blob
    for j in range(members):
        for i in data.draw(st.permutations(range(len(pending[j])))):
            sender, envelope, plaintext = pending[j][i]
            assert stores[j].decrypt(CH, ids[sender], envelope) == plaintext


@given(seed_a=st.binary(min_size=32, max_size=32), seed_b=st.binary(min_size=32, max_size=32),
       id_a=st.uuids(), id_b=st.uuids())
def test_safety_numbers_commute(seed_a: bytes, seed_b: bytes, id_a: uuid.UUID,
                                id_b: uuid.UUID) -> None:
    ka = IdentityKeyPair.from_seed(seed_a).public
    kb = IdentityKeyPair.from_seed(seed_b).public
    number = safety_number(ka, id_a, kb, id_b)
    assert number == safety_number(kb, id_b, ka, id_a)
    assert len(number) == 60 and number.isdigit()


def _mid_conversation_blobs() -> list[bytes]:
    rng = SeededRandom(7)
    bob_keys = make_keys(2, one_time=2, rng=rng)
    alice, bob = SessionStore(make_keys(1, one_time=2, rng=rng)), SessionStore(bob_keys)
    alice.initiate(B, LocalKeys.from_bytes(bob_keys.to_bytes()).bundle(1, 100), rng)
    envs = [alice.encrypt(B, b"1"), alice.encrypt(B, b"2")]
    bob.decrypt(A, envs[1], rng)
    group = SenderKeyStore(A)
    receiver = SenderKeyStore(B)
    receiver.process_distribution(CH, A, group.start_chain(CH, rng))
    receiver.decrypt(CH, A, [group.encrypt(CH, b"x") for _ in range(3)][-1])
    return [alice.to_bytes(), bob.to_bytes(), group.to_bytes(), receiver.to_bytes()]


BLOBS = _mid_conversation_blobs()
LOADERS = [SessionStore.from_bytes, SessionStore.from_bytes, SenderKeyStore.from_bytes,
           SenderKeyStore.from_bytes]


@pure
@given(which=st.integers(0, 3), data=st.data())
def test_corrupted_state_is_a_state_error(which: int, data: st.DataObject) -> None:
    blob = BLOBS[which]
    bit = data.draw(st.integers(0, len(blob) * 8 - 1))
    with pytest.raises(StateError):
        LOADERS[which](flip_bit(blob, bit))
    with pytest.raises(StateError):
        LOADERS[which](blob[: data.draw(st.integers(0, len(blob) - 1))])
    assert LOADERS[which](blob).to_bytes() == blob
