"""What an admin purge (issue 11 item 5, docs/log.md) removes from the log: the body of
every event that carries one. Ids, channel, sender, type and positions stay, so a rebuilt
read model places the purged message where it was, as a deleted one, and the hash chain
still verifies (the row keeps its data hash)."""

from __future__ import annotations

from typing import Final

import msgspec

from chatalot.domain.messaging.events import MessageEdited, MessageScheduled, MessageSent

PURGE_BATCH: Final = 200
"""Messages purged per transaction: a purge of a user's or a channel's messages walks
them in batches of this many, so memory and each transaction stay bounded."""
REDACTION_REASON: Final = "message purged"
SCOPES: Final = frozenset({"message", "user", "channel"})

_Body = MessageSent | MessageEdited | MessageScheduled


def body_redaction(data: msgspec.Struct) -> msgspec.Struct | None:
    """The replacement of an event that carries a message body (empty ciphertext, nonce
    and mentions), or None when there is nothing (left) to redact."""
    if not isinstance(data, _Body) or (not data.ciphertext and not data.nonce):
        return None
    return msgspec.structs.replace(data, ciphertext="", nonce="", mentions=[])
