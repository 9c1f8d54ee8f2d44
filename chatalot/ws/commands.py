"""Command frames: each decodes into the Struct its REST route takes and calls the same
command function (PORTS.md, "Commands callable from REST and WebSocket alike").

An entry is `frame type -> (body Struct, call)`, where `call(services, principal, body,
info, ref)` runs the command and returns the reply frame (`ack {ref, position}`, or
`message_sent` for send_message). Refusals are the command's own DomainError.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Call = Callable[[Any, Any, Any, Any, "str | None"], Awaitable["bytes | None"]]

COMMANDS: dict[str, tuple[type[Any], Call]] = {}
