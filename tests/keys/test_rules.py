"""The key-server rules alone (no database): envelope shapes, batches, KeysLow crossings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatalot.crypto.keys import IdentityKeyPair, LocalKeys
from chatalot.crypto.sessions import SessionStore
from chatalot.domain.errors import DomainError
from chatalot.domain.keys import rules
from tests.hypothesis_budget import pure

ALICE = LocalKeys(IdentityKeyPair.generate())
BOB = LocalKeys(IdentityKeyPair.generate())
BOB.add_signed_prekey(1)
BOB.add_one_time_prekeys(1, 2)


def test_envelope_sizes_follow_from_the_89_byte_distribution() -> None:
    store = SessionStore(ALICE)
    peer = uuid.uuid4()
    store.initiate(peer, BOB.bundle(1, 2))
    envelope = store.encrypt(peer, bytes(89))
    assert len(envelope) == rules.PREKEY_ENVELOPE_SIZE == 219
    rules.check_distribution_envelope(envelope, ALICE.identity.public, "x")
    with pytest.raises(DomainError, match="another identity key"):
        rules.check_distribution_envelope(envelope, BOB.identity.public, "x")
    assert rules.MESSAGE_ENVELOPE_SIZE == 147


@pure
@given(data=st.binary(max_size=300) | st.binary(max_size=260).map(lambda b: b"\x01\x02" + b))
def test_any_bytes_are_accepted_or_refused_as_bad_request(data: bytes) -> None:
    try:
        rules.check_distribution_envelope(data, ALICE.identity.public, "x")
    except DomainError as exc:
        assert exc.code == "bad_request"
    else:
        assert len(data) in (rules.MESSAGE_ENVELOPE_SIZE, rules.PREKEY_ENVELOPE_SIZE)


@pure
@given(before=st.integers(0, 600), steps=st.lists(st.integers(-3, 40), max_size=40))
def test_keys_low_is_sent_once_per_crossing(before: int, steps: list[int]) -> None:
    """Claims (steps <= 0) and uploads (steps > 0): a notification goes out exactly when a
    claim leaves fewer than the threshold and none was sent since the count last stood at
    the threshold or above."""
    remaining, sent = before, False
    was_above_since_last = True
    for step in steps:
        if step > 0:
            remaining += step
            if rules.rearms_keys_low(remaining):
                sent = False
            was_above_since_last = was_above_since_last or remaining >= 20
            continue
        remaining = max(0, remaining - 1)
        notify = rules.should_send_keys_low(remaining, sent)
        assert notify == (remaining < 20 and was_above_since_last)
        if notify:
            sent, was_above_since_last = True, False


@dataclass
class Item:
    key_id: int
    public_key: str


def test_batch_checks() -> None:
    with pytest.raises(DomainError) as exc:
        rules.check_one_time_batch([])
    assert exc.value.code == "bad_request"
    key = rules.b64encode(BOB.one_time_prekeys[1].public)
    with pytest.raises(DomainError) as exc:
        rules.check_one_time_batch([Item(1, key), Item(1, key)])
    assert exc.value.code == "conflict"
    with pytest.raises(DomainError) as exc:
        rules.check_capacity(450, 51)
    assert exc.value.code == "limit_reached" and exc.value.status == 422
    rules.check_capacity(450, 50)
