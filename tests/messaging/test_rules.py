"""Messaging rules alone (no database): bodies, slow mode, mentions, reactions, pins,
polls, scheduling."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatalot.domain.errors import DomainError
from chatalot.domain.messaging import polls, rules, scheduling
from chatalot.messaging import contracts as c
from tests.hypothesis_budget import pure

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def code(fn, *args, **kwargs) -> str | None:  # type: ignore[no-untyped-def]
    try:
        fn(*args, **kwargs)
    except DomainError as error:
        return error.code
    return None


@pure
@given(size=st.integers(1, 70_000))
def test_the_64_kib_limit_is_on_the_decoded_body(size: int) -> None:
    body = b64(b"a" * size)
    expected = "too_large" if size > 64 * 1024 else None
    assert code(rules.check_body, body, "", "none", 64 * 1024) == expected


@pure
@given(data=st.binary(min_size=1, max_size=64))
def test_a_readable_body_must_be_utf8(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
        valid = "\x00" not in text
    except UnicodeDecodeError:
        valid = False
    assert (code(rules.check_body, b64(data), "", "none", 1024) is None) == valid
    # an encrypted body is opaque: any bytes, with a nonce
    assert code(rules.check_body, b64(data), b64(b"n" * 12), "sender_key", 1024) is None


def test_body_refusals() -> None:
    assert code(rules.check_body, "not base64!", "", "none", 1024) == "bad_request"
    assert code(rules.check_body, "", "", "none", 1024) == "bad_request"
    # crypto.md: an E2E envelope's nonce is empty (derived inside the envelope)
    assert code(rules.check_body, b64(b"x"), "", "double_ratchet", 1024) is None
    assert code(rules.check_body, b64(b"x"), "not base64!", "double_ratchet", 1024) \
        == "bad_request"
    assert code(rules.check_body, b64(b"x"), "", "rot13", 1024) == "bad_request"
    assert code(rules.check_encryption, "none", True) == "e2e_required"
    assert code(rules.check_encryption, "sender_key", True) is None
    assert code(rules.check_message_type, "webhook", moderator=True) == "bad_request"
    assert code(rules.check_message_type, "system", moderator=False) == "forbidden"
    assert code(rules.check_message_type, "system", moderator=True) is None


@pure
@given(secs=st.integers(0, 3600), ago=st.floats(0, 7200), exempt=st.booleans())
def test_slow_mode_waits_out_exactly_the_interval(secs: int, ago: float, exempt: bool) -> None:
    wait = rules.slow_mode_wait(secs, exempt, NOW - timedelta(seconds=ago), NOW)
    if secs == 0 or exempt or ago >= secs:
        assert wait == 0
    else:
        assert 1 <= wait <= secs and wait >= secs - ago
        assert code(rules.check_slow_mode, wait) == "slow_mode"
    assert rules.slow_mode_wait(secs, exempt, None, NOW) == 0


@pure
@given(count=st.integers(0, 60), outsider=st.booleans())
def test_mentions_are_at_most_50_members(count: int, outsider: bool) -> None:
    members = [uuid.uuid4() for _ in range(count)]
    named = members + ([uuid.uuid4()] if outsider else [])
    result = code(rules.check_mentions, named + members[:3], set(members))
    assert result == ("bad_request" if outsider or count > 50 else None)


def test_edit_window_and_ownership() -> None:
    me, other = uuid.uuid4(), uuid.uuid4()
    facts = rules.MessageFacts(uuid.uuid4(), uuid.uuid4(), me, "none", NOW, False)
    later = NOW + timedelta(seconds=901)
    assert code(rules.check_edit, facts, me, NOW + timedelta(seconds=900), 900, "none") is None
    assert code(rules.check_edit, facts, me, later, 900, "none") == "forbidden"
    assert code(rules.check_edit, facts, me, later, 0, "none") is None  # 0 = no limit
    assert code(rules.check_edit, facts, other, NOW, 900, "none") == "forbidden"
    assert code(rules.check_exists, None) == "not_found"


@pure
@given(present=st.sets(st.text(min_size=1, max_size=3), max_size=25),
       emoji=st.text(min_size=1, max_size=3))
def test_at_most_20_distinct_emoji(present: set[str], emoji: str) -> None:
    result = code(rules.check_new_reaction_emoji, present, emoji)
    assert result == ("limit_reached" if emoji not in present and len(present) >= 20
                      else None)


def test_emoji_and_pins() -> None:
    assert rules.check_emoji("👍") == "👍"
    assert code(rules.check_emoji, "x" * 33) == "bad_request"
    assert code(rules.check_emoji, " x") == "bad_request"
    assert code(rules.check_pin_room, 49) is None
    assert code(rules.check_pin_room, 50) == "limit_reached"


@pure
@given(options=st.integers(2, 10), multi=st.booleans(),
       choice=st.lists(st.integers(-1, 11), max_size=12), closed=st.booleans())
def test_a_vote_names_options_once(options: int, multi: bool, choice: list[int],
                                   closed: bool) -> None:
    poll = polls.PollState(options, multi, None, closed)
    result = code(polls.check_vote, poll, choice, NOW)
    if closed:
        assert result == "conflict"
    elif (not choice or len(set(choice)) != len(choice)
          or any(not 0 <= i < options for i in choice) or (len(choice) > 1 and not multi)):
        assert result == "bad_request"
    else:
        assert result is None


def test_polls_expire_and_need_2_to_10_distinct_options() -> None:
    expired = polls.PollState(2, False, NOW, False)
    assert code(polls.check_vote, expired, [0], NOW) == "conflict"
    assert code(polls.check_poll, "q?", ["a"]) == "bad_request"
    assert code(polls.check_poll, "q?", ["a", "A "]) == "bad_request"
    assert code(polls.check_poll, "q?", [str(i) for i in range(11)]) == "bad_request"
    assert polls.check_poll(" q? ", ["a ", "b"]) == ("q?", ["a", "b"])
    assert code(polls.expiry, NOW, 30 * 24 * 60 + 1) == "bad_request"


def test_scheduling_bounds() -> None:
    assert code(scheduling.check_due, NOW, NOW) == "bad_request"
    assert code(scheduling.check_due, NOW + timedelta(days=30), NOW) is None
    assert code(scheduling.check_due, NOW + timedelta(days=30, seconds=1), NOW) == "bad_request"
    assert code(scheduling.check_due, datetime(2027, 1, 1), NOW) == "bad_request"  # naive
    assert code(scheduling.check_room, 49) is None
    assert code(scheduling.check_room, 50) == "limit_reached"


def test_websocket_frames_decode_into_the_rest_bodies() -> None:
    """The gateway decodes frames as contracts.FRAMES, the same Structs the routes take."""
    mid, ch = uuid.uuid4(), uuid.uuid4()
    frames = {
        "send_message": ({"channel_id": str(ch), "ciphertext": b64(b"x"), "encryption": "none",
                          "client_id": str(mid), "ref": "r"}, c.SendMessage),
        "edit_message": ({"message_id": str(mid), "ciphertext": b64(b"y")}, c.EditMessage),
        "delete_message": ({"message_id": str(mid)}, c.DeleteMessage),
        "add_reaction": ({"message_id": str(mid), "emoji": "x"}, c.AddReaction),
        "remove_reaction": ({"message_id": str(mid), "emoji": "x"}, c.RemoveReaction),
        "mark_read": ({"channel_id": str(ch), "message_id": str(mid)}, c.MarkRead),
        "mark_all_read": ({}, c.MarkAllRead),
    }
    for kind, (fields, struct) in frames.items():
        frame = msgspec.json.encode({"type": kind, **fields})
        assert type(msgspec.json.decode(frame, type=c.FRAMES)) is struct
        # a REST body is the same without the tag
        assert type(msgspec.json.decode(msgspec.json.encode(fields), type=struct)) is struct
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"type": "send_message", "ciphertext": "", "encryption": "none",'
                            b' "color": 1}', type=c.FRAMES)
