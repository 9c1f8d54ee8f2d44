"""Messaging rules: plain functions over typed state that return a decision or raise a
DomainError. Who may read, post, moderate or manage a channel is never decided here:
chatalot/domain/spaces/permissions.py decides it, these rules add what is about messages
(bodies, limits, edit window, slow mode, reactions, pins). docs/messaging.md lists them."""

from __future__ import annotations

import base64
import binascii
import math
import uuid
from collections.abc import Iterable, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from chatalot.domain.errors import DomainError, bad_request, forbidden, not_found

ENCRYPTIONS: Final = frozenset({"none", "double_ratchet", "sender_key"})
MESSAGE_TYPES: Final = frozenset({"text", "file", "system", "webhook"})
USER_MESSAGE_TYPES: Final = frozenset({"text", "file", "system"})
"""What a member may send; `webhook` messages come only through a webhook's token."""
SERVER_READABLE_TYPES: Final = frozenset({"webhook", "system"})

MAX_MENTIONS: Final = 50
MAX_REACTION_EMOJI: Final = 20
EMOJI_MAX_CHARS: Final = 32
MAX_PINS: Final = 50
HISTORY_MAX_LIMIT: Final = 100


@dataclass(frozen=True)
class Body:
    """A checked message body: the decoded ciphertext and, when server-readable, its text."""

    ciphertext: bytes
    text: str | None


def _b64(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(f"{field} is not standard base64") from None


def check_body(ciphertext: str, nonce: str, encryption: str, max_bytes: int) -> Body:
    """400 for bad base64 or an empty body, 413 too_large over `max_bytes` (decoded), 400
    for an `encryption: none` body that is not valid UTF-8. An E2E body's `nonce` may be
    empty (crypto.md: the DM and group envelopes derive theirs), but must be base64."""
    if encryption not in ENCRYPTIONS:
        raise bad_request(f"unknown encryption {encryption!r}")
    # a base64 text is 4/3 of its bytes: refuse an oversized one before decoding it
    if len(ciphertext) > math.ceil(max_bytes / 3) * 4 + 4:
        raise DomainError("too_large", f"a message is at most {max_bytes // 1024} KiB")
    raw = _b64(ciphertext, "ciphertext")
    nonce_raw = _b64(nonce, "nonce")
    if not raw:
        raise bad_request("the message is empty")
    if len(raw) > max_bytes:
        raise DomainError("too_large", f"a message is at most {max_bytes // 1024} KiB")
    if encryption == "none":
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request("a message with encryption none must be UTF-8 text") from None
        if "\x00" in text:
            raise bad_request("the message contains a NUL character")
        return Body(raw, text)
    # crypto.md: E2E envelopes carry their own (derived) nonces; `nonce` is empty for them
    del nonce_raw
    return Body(raw, None)


def check_encryption(encryption: str, e2e_required: bool) -> None:
    """An E2E-required channel (every DM) refuses `none`: 422 e2e_required."""
    if e2e_required and encryption == "none":
        raise DomainError("e2e_required", "this channel requires end-to-end encryption")


def check_message_type(message_type: str, *, moderator: bool) -> None:
    """Members send text and file messages; `system` messages only moderators; `webhook`
    messages only webhooks (400 / 403)."""
    if message_type not in USER_MESSAGE_TYPES:
        raise bad_request(f"message_type {message_type!r} cannot be sent by a user")
    if message_type == "system" and not moderator:
        raise forbidden("only moderators send system messages")


def check_mentions(mentions: Iterable[uuid.UUID], members: Set[uuid.UUID]) -> list[uuid.UUID]:
    """At most 50 distinct members of the channel, else 400 (protocol.md, Settled
    details). Returns them without duplicates, in order."""
    unique = list(dict.fromkeys(mentions))
    if len(unique) > MAX_MENTIONS:
        raise bad_request(f"at most {MAX_MENTIONS} mentions")
    for user_id in unique:
        if user_id not in members:
            raise bad_request(f"mentioned user {user_id} is not a member of this channel")
    return unique


def slow_mode_wait(slow_mode_secs: int, exempt: bool, last_sent_at: datetime | None,
                   now: datetime) -> int:
    """Seconds the sender must still wait (0: may send). Rounded up, at least 1 while
    waiting, so `retry_after_secs` is never 0."""
    if slow_mode_secs <= 0 or exempt or last_sent_at is None:
        return 0
    remaining = (last_sent_at + timedelta(seconds=slow_mode_secs) - now).total_seconds()
    return max(1, math.ceil(remaining)) if remaining > 0 else 0


def check_slow_mode(wait_secs: int) -> None:
    if wait_secs > 0:
        raise DomainError("slow_mode", f"slow mode: wait {wait_secs} s",
                          retry_after_secs=wait_secs)


@dataclass(frozen=True)
class MessageFacts:
    """A message as its commands decide on it (the `messaging_messages` decision table)."""

    message_id: uuid.UUID
    channel_id: uuid.UUID
    sender_id: uuid.UUID | None
    encryption: str
    sent_at: datetime
    deleted: bool
    pinned: bool = False


def check_exists(facts: MessageFacts | None) -> MessageFacts:
    """404 for an unknown or deleted message."""
    if facts is None or facts.deleted:
        raise not_found("no such message")
    return facts


def check_edit(facts: MessageFacts, actor: uuid.UUID, now: datetime, window_secs: int,
               encryption: str) -> None:
    """Own messages only, within the edit window (0 = no limit), with the message's own
    encryption: 403 otherwise, 400 for a changed encryption."""
    if facts.sender_id != actor:
        raise forbidden("only the sender may edit a message")
    if window_secs and now - facts.sent_at > timedelta(seconds=window_secs):
        raise forbidden(f"messages can be edited for {window_secs} s after sending")
    if encryption != facts.encryption:
        raise bad_request("an edit keeps the message's encryption")


def deleted_by_moderator(facts: MessageFacts, actor: uuid.UUID) -> bool:
    """Whether deleting needs the moderator's right (someone else's message)."""
    return facts.sender_id != actor


def check_emoji(emoji: str) -> str:
    if not 1 <= len(emoji) <= EMOJI_MAX_CHARS or not emoji.isprintable() or emoji.strip() != emoji:
        raise bad_request(f"an emoji is 1-{EMOJI_MAX_CHARS} printable characters")
    return emoji


def check_new_reaction_emoji(present: Set[str], emoji: str) -> None:
    """A new distinct emoji on a message that already has 20: 422 limit_reached."""
    if emoji not in present and len(present) >= MAX_REACTION_EMOJI:
        raise DomainError("limit_reached",
                          f"at most {MAX_REACTION_EMOJI} different emoji per message")


def check_pin_room(pinned_count: int) -> None:
    if pinned_count >= MAX_PINS:
        raise DomainError("limit_reached", f"at most {MAX_PINS} pinned messages per channel")


def check_quarantine(quarantined: bool, wanted: bool) -> None:
    """Quarantining a quarantined message, or releasing one that is not: 409."""
    if quarantined == wanted:
        raise DomainError("conflict", "the message is already quarantined" if wanted
                          else "the message is not quarantined")
