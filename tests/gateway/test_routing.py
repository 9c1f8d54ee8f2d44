"""The event -> frame mapping (chatalot/ws/routing.py), as plain functions: every name it
routes is a registered event type (a typo would silently deliver nothing), and the
per-event rules (receipts off, the sender's client_id, sender-key gating)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec

from chatalot.bootstrap import build_registry
from chatalot.domain.keys.events import SenderKeyUpdated
from chatalot.domain.messaging.events import MessagePurged, MessageSent, ReadCursorMoved
from chatalot.domain.spaces.events import (
    SPACES_EVENTS,
    WIRE_NAMES,
    ChannelCreated,
    ChannelOwnershipTransferred,
    GroupCreated,
)
from chatalot.ws.hub import MEMBERSHIP_NEUTRAL
from chatalot.ws.routing import delivered_types, route
from event_store import Metadata, Position, RecordedEvent

# named for the keys context's identity key replacement (protocol.md), not recorded yet
NOT_YET_RECORDED = {"IdentityKeyReplaced", "IdentityKeyChanged"}


def recorded(data: msgspec.Struct) -> RecordedEvent:
    return RecordedEvent(Position(1, 2, 3), "s-1", 1, uuid.uuid4(), type(data).__name__, data,
                         Metadata(), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))


def test_every_routed_name_is_a_registered_event_type() -> None:
    registry = build_registry()
    missing = {name for name in delivered_types() - NOT_YET_RECORDED if name not in registry}
    assert not missing


def test_spaces_events_go_out_under_the_frame_names_spaces_gives_them() -> None:
    by_name = {t.__name__: t for t in SPACES_EVENTS}
    for name, wire in WIRE_NAMES.items():
        sample = _sample(by_name[name])
        r = route(recorded(sample))
        assert r is not None, name
        assert msgspec.json.decode(r.frame)["type"] == wire, name


def _sample(kind: type[msgspec.Struct]) -> msgspec.Struct:
    """An instance with every field filled (ids, strings, lists, flags)."""
    values: dict[str, object] = {}
    for field in msgspec.structs.fields(kind):
        text = str(field.type)
        values[field.name] = (uuid.uuid4() if "UUID" in text and "list" not in text
                              else [uuid.uuid4()] if "list" in text
                              else True if "bool" in text else 1 if "int" in text else "x")
    return kind(**values)


def test_a_read_receipt_goes_out_only_when_the_reader_allows_it() -> None:
    ids = {"channel_id": uuid.uuid4(), "user_id": uuid.uuid4(), "message_id": uuid.uuid4()}
    assert route(recorded(ReadCursorMoved(**ids, receipt=False))) is None
    r = route(recorded(ReadCursorMoved(**ids, receipt=True)))
    assert r is not None and r.channel_id == ids["channel_id"]
    assert b'"receipt"' not in r.frame and b'"type":"read_receipt"' in r.frame


def test_new_message_keeps_the_senders_client_id_to_the_sender() -> None:
    channel = uuid.uuid4()
    r = route(recorded(MessageSent(message_id=uuid.uuid4(), channel_id=channel,
                                   sender_id=uuid.uuid4(), ciphertext="aGk=", nonce="",
                                   encryption="none", message_type="text",
                                   client_id=uuid.uuid4())))
    assert r is not None and r.channel_id == channel
    frame = msgspec.json.decode(r.frame)
    assert frame["type"] == "new_message" and "client_id" not in frame
    assert frame["created_at"] == "2026-01-02T03:04:05.000Z"
    assert frame["position"] == "1.2.3"


def test_a_sender_key_copy_is_addressed_and_gated_by_membership() -> None:
    channel, recipient = uuid.uuid4(), uuid.uuid4()
    r = route(recorded(SenderKeyUpdated(channel_id=channel, sender_id=uuid.uuid4(),
                                        recipient_id=recipient, chain_id=1, envelope="e")))
    assert r is not None
    assert r.users == frozenset({recipient}) and r.gate == channel and r.channel_id is None
    assert b"recipient_id" not in r.frame


def test_a_purge_goes_out_as_a_moderators_deletion() -> None:
    ids = {"message_id": uuid.uuid4(), "channel_id": uuid.uuid4()}
    moderator = uuid.uuid4()
    r = route(recorded(MessagePurged(**ids, user_id=uuid.uuid4(), moderator_id=moderator,
                                     scope="user", reason="secret reason")))
    assert r is not None and r.channel_id == ids["channel_id"]
    frame = msgspec.json.decode(r.frame)
    assert frame["type"] == "message_deleted" and frame["by_moderator"] is True
    assert frame["deleted_by"] == str(moderator) and "reason" not in frame
    assert frame["message_id"] == str(ids["message_id"])


def test_new_groups_channels_and_channel_owners_reach_who_may_see_them() -> None:
    """channel_created / channel_ownership_transferred to the channel's members; a
    public group_created to its community (and creator), a private one to the creator."""
    ids = [uuid.uuid4() for _ in range(4)]
    r = route(recorded(ChannelCreated(channel_id=ids[0], community_id=ids[1],
                                      group_id=ids[2], kind="text", name="n", user_id=ids[3])))
    assert r is not None and r.channel_id == ids[0] and r.community_id is None
    assert msgspec.json.decode(r.frame)["type"] == "channel_created"
    r = route(recorded(ChannelOwnershipTransferred(
        channel_id=ids[0], community_id=ids[1], group_id=ids[2], user_id=ids[3],
        previous_owner_id=None, by=ids[3])))
    assert r is not None and r.channel_id == ids[0]
    public = route(recorded(GroupCreated(group_id=ids[2], community_id=ids[1],
                                         user_id=ids[3], name="g", public=True)))
    assert public is not None and public.community_id == ids[1]
    assert public.users == frozenset({ids[3]})
    private = route(recorded(GroupCreated(group_id=ids[2], community_id=ids[1],
                                          user_id=ids[3], name="g", public=False)))
    assert private is not None and private.community_id is None
    assert private.users == frozenset({ids[3]}) and private.channel_id is None


def test_membership_neutral_names_are_messaging_events() -> None:
    """The hub keeps what it knows of channel memberships across these (chatalot/ws/hub.py):
    each must be a registered type (a typo would only cost a question), and none may be
    recorded by a command that writes channel_members (the spaces context's)."""
    registry = build_registry()
    assert {name for name in MEMBERSHIP_NEUTRAL if name not in registry} == set()
    assert not MEMBERSHIP_NEUTRAL & {e.__name__ for e in SPACES_EVENTS}
    assert not MEMBERSHIP_NEUTRAL & set(WIRE_NAMES)
