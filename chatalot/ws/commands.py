"""Command frames: each decodes into the Struct its REST route takes
(chatalot/messaging/contracts.py) and calls the same command function (PORTS.md,
"Commands callable from REST and WebSocket alike"); no rule has a second copy here.

Messaging's contracts also offer FRAMES, the tagged union of these Structs; the gateway
decodes through one table of its own frames and these, so a frame of either kind gets
the same `bad_request` and `ref` handling. An entry is `frame type -> (body Struct,
call)`, where `call(services, principal, body, info, ref)` runs the command and returns
the reply frame: `message_sent` for send_message, else `ack {ref, position}`. Refusals
are the command's own DomainError.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from chatalot.auth.principal import Principal
from chatalot.domain.errors import DomainError
from chatalot.messaging import commands as messaging
from chatalot.messaging import contracts as mc
from chatalot.messaging.runtime import MessagingRuntime
from chatalot.request_info import RequestInfo
from chatalot.ws.frames import ack_frame, encode

Call = Callable[[Any, Principal, Any, RequestInfo, "str | None"], Awaitable["bytes | None"]]


def _required(value: uuid.UUID | None, name: str) -> uuid.UUID:
    if value is None:
        raise DomainError("bad_request", f"{name} is required")
    return value


async def send_message(services: Any, who: Principal, body: mc.SendMessage,
                       info: RequestInfo, ref: str | None) -> bytes:
    channel = _required(body.channel_id, "channel_id")
    reply, _ = await messaging.send_message(MessagingRuntime.of(services), who.user_id, channel,
                                            body, info)
    return encode({"type": "message_sent", "ref": ref, **msgspec.to_builtins(reply)})


async def edit_message(services: Any, who: Principal, body: mc.EditMessage,
                       info: RequestInfo, ref: str | None) -> bytes:
    message = _required(body.message_id, "message_id")
    _, position = await messaging.edit_message(MessagingRuntime.of(services), who.user_id,
                                               message, body, info)
    return ack_frame(ref, position)


async def delete_message(services: Any, who: Principal, body: mc.DeleteMessage,
                         info: RequestInfo, ref: str | None) -> bytes:
    _, position = await messaging.delete_message(MessagingRuntime.of(services), who.user_id,
                                                 body.message_id, info)
    return ack_frame(ref, position)


def _reaction(verb: Callable[..., Awaitable[tuple[Any, str]]]) -> Call:
    async def call(services: Any, who: Principal, body: mc.Reaction, info: RequestInfo,
                   ref: str | None) -> bytes:
        message = _required(body.message_id, "message_id")
        _, position = await verb(MessagingRuntime.of(services), who.user_id, message,
                                 body.emoji, info)
        return ack_frame(ref, position)
    return call


async def mark_read(services: Any, who: Principal, body: mc.MarkRead, info: RequestInfo,
                    ref: str | None) -> bytes:
    channel = _required(body.channel_id, "channel_id")
    _, position = await messaging.mark_read(MessagingRuntime.of(services), who.user_id, channel,
                                            body.message_id, info)
    return ack_frame(ref, position)


async def mark_all_read(services: Any, who: Principal, body: mc.MarkAllRead, info: RequestInfo,
                        ref: str | None) -> bytes:
    _, position = await messaging.mark_all_read(MessagingRuntime.of(services), who.user_id,
                                                info)
    return ack_frame(ref, position)


COMMANDS: dict[str, tuple[type[Any], Call]] = {
    "send_message": (mc.SendMessage, send_message),
    "edit_message": (mc.EditMessage, edit_message),
    "delete_message": (mc.DeleteMessage, delete_message),
    "add_reaction": (mc.AddReaction, _reaction(messaging.add_reaction)),
    "remove_reaction": (mc.RemoveReaction, _reaction(messaging.remove_reaction)),
    "mark_read": (mc.MarkRead, mark_read),
    "mark_all_read": (mc.MarkAllRead, mark_all_read),
}
