"""The key-server rules alone (no database): envelope shapes, batches, KeysLow crossings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatalot.domain.errors import DomainError
from chatalot.domain.keys import rules
from chatalot.domain.spaces.permissions import require_recipients
from chatalot_crypto.keys import IdentityKeyPair, LocalKeys, SignedPrekey
from chatalot_crypto.primitives import generate_x25519
from chatalot_crypto.sessions import SessionStore
from tests.hypothesis_budget import pure
from tests.keys.test_sender_keys import message_envelope

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


# -- exact edges and messages (survivors of a mutmut run, docs/testing.md) -----------------


def _refusal(call: object, *args: object) -> DomainError:
    with pytest.raises(DomainError) as info:
        call(*args)  # type: ignore[operator]
    return info.value


def _keys(count: int, first: int = 1) -> list[Item]:
    return [Item(first + i, rules.b64encode(generate_x25519()[1])) for i in range(count)]


def test_batches_of_exactly_the_upload_limit_pass() -> None:
    batch = _keys(rules.ONE_TIME_UPLOAD_MAX)
    assert [k for k, _ in rules.check_one_time_batch(batch)] == [i.key_id for i in batch]
    refusal = _refusal(rules.check_one_time_batch, [*batch, *_keys(1, first=1000)])
    assert refusal.message == "at most 200 one-time prekeys per upload"
    assert _refusal(rules.check_one_time_batch, []).message == (
        "upload at least one one-time prekey")
    twice = _refusal(rules.check_one_time_batch, [*_keys(2), *_keys(1, first=2)])
    assert (twice.code, twice.message) == ("conflict", "key_id 2 appears twice in the batch")
    small_order = _refusal(rules.check_one_time_batch,
                           [*_keys(1), Item(7, rules.b64encode(bytes(32)))])
    assert small_order.message.startswith("[1] refused: ")
    bad = _refusal(rules.check_one_time_batch, [Item(1, "not base64!")])
    assert bad.message == "[0].public_key is not valid base64"


def test_base64_is_strict() -> None:
    assert rules.b64decode("AAEC", "x") == b"\x00\x01\x02"
    for text in ("AA EC", "AAE", "AA-_", "AAEC\n"):
        assert _refusal(rules.b64decode, text, "field").message == "field is not valid base64"


def test_capacity_says_how_many() -> None:
    refusal = _refusal(rules.check_capacity, 450, 51)
    assert refusal.message == ("at most 500 one-time prekeys are stored per user"
                               " (450 stored, 51 uploaded)")


def test_keys_low_threshold_edges() -> None:
    assert rules.should_send_keys_low(19, False)
    assert not rules.should_send_keys_low(20, False)
    assert not rules.should_send_keys_low(0, True)
    assert rules.rearms_keys_low(20) and not rules.rearms_keys_low(19)


def test_message_envelopes_of_the_exact_size_pass_and_others_do_not() -> None:
    envelope = message_envelope()
    assert len(envelope) == rules.MESSAGE_ENVELOPE_SIZE
    rules.check_distribution_envelope(envelope, ALICE.identity.public, "d[0]")
    refusal = _refusal(rules.check_distribution_envelope, envelope + b"x",
                       ALICE.identity.public, "d[0]")
    assert refusal.message == (
        "d[0]: a sender-key distribution envelope of this type is 147 bytes")
    not_one = _refusal(rules.check_distribution_envelope, b"\x09", ALICE.identity.public, "d")
    assert not_one.message.startswith("d: not a DM envelope (")
    small = envelope[:2] + bytes(32) + envelope[34:]  # a small-order ratchet key
    assert _refusal(rules.check_distribution_envelope, small, ALICE.identity.public,
                    "d").message.startswith("d: ")


def test_signed_prekeys_must_verify() -> None:
    identity = IdentityKeyPair.generate()
    signed = SignedPrekey.generate(identity, 7)
    public, signature = rules.b64encode(signed.public), rules.b64encode(signed.signature)
    checked = rules.check_signed_prekey(identity.public, 7, public, signature)
    assert checked == rules.SignedPrekey(7, signed.public, signed.signature)
    other = IdentityKeyPair.generate()
    refusal = _refusal(rules.check_signed_prekey, other.public, 7, public, signature)
    assert refusal.code == "bad_request"
    assert refusal.message.startswith("signed prekey refused: ")
    assert _refusal(rules.check_signed_prekey, identity.public, -1, public,
                    signature).message.startswith("signed prekey refused: ")
    assert _refusal(rules.check_signed_prekey, identity.public, 7, "%%", signature
                    ).message == "public_key is not valid base64"
    assert _refusal(rules.check_signed_prekey, identity.public, 7, public, "%%"
                    ).message == "signature is not valid base64"


def test_stored_ids_and_bundle_access() -> None:
    rules.check_new_ids([])
    refusal = _refusal(rules.check_new_ids, [12, 3])
    assert (refusal.code, refusal.message) == ("conflict", "key_id already stored: 3, 12")
    me, owner = uuid.uuid4(), uuid.uuid4()
    rules.check_bundle_access(me, owner, blocked_by_owner=False, may_contact=True)
    # one's own bundle, always
    rules.check_bundle_access(me, me, blocked_by_owner=True, may_contact=False)
    refusal = _refusal(rules.check_bundle_access, me, owner, True, True)
    assert (refusal.code, refusal.message) == (
        "forbidden", "this user does not accept new sessions from you")
    refusal = _refusal(rules.check_bundle_access, me, owner, False, False)
    assert (refusal.code, refusal.message) == (
        "forbidden", "you share no community with this user")


@dataclass
class Copy:
    recipient_id: uuid.UUID
    envelope: str


def test_distributions_one_per_recipient_never_to_oneself() -> None:
    sender, a, b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    env = [message_envelope() for _ in range(2)]
    out = rules.check_distributions(
        sender, [Copy(a, rules.b64encode(env[0])), Copy(b, rules.b64encode(env[1]))],
        ALICE.identity.public)
    assert out == [(a, env[0]), (b, env[1])]
    ok = rules.b64encode(message_envelope())
    cases = [
        ([], "distributions must not be empty"),
        ([Copy(uuid.uuid4(), ok) for _ in range(101)], "at most 100 distributions per request"),
        ([Copy(sender, ok)], "distributions[0]: the sender is not a recipient of its own key"),
        ([Copy(a, ok), Copy(a, ok)], f"distributions[1]: a second copy for recipient {a}"),
        ([Copy(a, "%%")], "distributions[0].envelope is not valid base64"),
        ([Copy(a, ok), Copy(b, rules.b64encode(b"\x01\x02"))], None),
    ]
    for items, message in cases:
        refusal = _refusal(rules.check_distributions, sender, items, ALICE.identity.public)
        assert refusal.code == "bad_request"
        if message is None:
            assert refusal.message.startswith("distributions[1]: ")
        else:
            assert refusal.message == message
    assert len(rules.check_distributions(
        sender, [Copy(uuid.uuid4(), ok) for _ in range(100)], ALICE.identity.public)) == 100


def test_recipients_must_be_channel_members() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    require_recipients([a, b], {a, b, uuid.uuid4()})
    require_recipients([], set())
    refusal = _refusal(require_recipients, [a, b], {a}, "copy for")
    assert (refusal.code, refusal.message) == (
        "bad_request", f"copy for {b} is not a member of this channel")
    assert _refusal(require_recipients, [b], {a}).message == (
        f"recipient {b} is not a member of this channel")


def test_a_refused_batch_names_at_most_ten_stored_ids() -> None:
    refusal = _refusal(rules.check_new_ids, list(range(20, 9, -1)))
    assert refusal.message == "key_id already stored: " + ", ".join(map(str, range(10, 20)))


def test_prekey_envelopes_are_checked_against_the_senders_identity() -> None:
    store = SessionStore(ALICE)
    peer = uuid.uuid4()
    store.initiate(peer, BOB.bundle(1, 2))
    envelope = rules.b64encode(store.encrypt(peer, bytes(89)))
    sender = uuid.uuid4()
    assert len(rules.check_distributions(sender, [Copy(peer, envelope)],
                                         ALICE.identity.public)) == 1
    refusal = _refusal(rules.check_distributions, sender, [Copy(peer, envelope)],
                       BOB.identity.public)
    assert refusal.message == (
        "distributions[0]: the prekey envelope names another identity key")
