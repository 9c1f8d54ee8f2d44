"""Messaging commands, one module per capability. Each is a plain async function
`verb(rt, actor, ..., info) -> (result, position)` that REST controllers and WebSocket
frame handlers call alike (PORTS.md)."""

from chatalot.messaging.commands.messages import delete_message, edit_message, send_message
from chatalot.messaging.commands.reactions import (
    add_reaction,
    pin_message,
    remove_reaction,
    unpin_message,
)
from chatalot.messaging.commands.reads import (
    add_bookmark,
    mark_all_read,
    mark_read,
    remove_bookmark,
)

__all__ = [
    "add_bookmark", "add_reaction", "delete_message", "edit_message", "mark_all_read",
    "mark_read", "pin_message", "remove_bookmark", "remove_reaction", "send_message",
    "unpin_message",
]
