"""What each client frame does. Ephemeral frames (typing, presence, subscriptions, voice,
WebRTC relay) are handled here; command frames call the same command functions as REST
(chatalot/ws/commands.py), so no rule has a second copy.

A handler returns the reply frame (or None: no reply) or raises DomainError, which the
connection answers as `error {ref, code, message}`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from chatalot.auth.principal import Principal
from chatalot.domain.errors import DomainError
from chatalot.domain.spaces import permissions
from chatalot.domain.spaces.access import ChannelAccess
from chatalot.request_info import RequestInfo
from chatalot.spaces.access import load_channel_access
from chatalot.ws import frames as f
from chatalot.ws.commands import COMMANDS
from chatalot.ws.runtime import Gateway
from chatalot.ws.socket import Socket


@dataclass
class Ctx:
    gw: Gateway
    sock: Socket
    principal: Principal
    info: RequestInfo
    ref: str | None

    @property
    def user(self) -> uuid.UUID:
        return self.principal.user_id

    def ack(self, position: str | None = None) -> bytes | None:
        """`ack` answers frames that carry a ref (the client asked to be told)."""
        return f.ack_frame(self.ref, position) if self.ref is not None else None

    async def access(self, channel: uuid.UUID) -> ChannelAccess:
        """The spaces context's decision (404 for an unknown channel)."""
        async with self.gw.services.pool.connection() as conn:
            return await load_channel_access(conn, channel, self.user)


Handler = Callable[[Ctx, Any], Awaitable[bytes | None]]


async def ping(ctx: Ctx, body: f.Ping) -> bytes | None:
    return f.frame("pong", timestamp=body.timestamp)


async def subscribe(ctx: Ctx, body: f.ChannelSet) -> bytes | None:
    wanted = set(body.channel_ids)
    readable = await ctx.gw.audience.readable_among(ctx.user, wanted)
    if readable != wanted:
        raise DomainError("forbidden", "not a member of every channel asked for")
    ctx.sock.muted -= wanted
    return ctx.ack()


async def unsubscribe(ctx: Ctx, body: f.ChannelSet) -> bytes | None:
    ctx.sock.muted |= set(body.channel_ids)
    return ctx.ack()


async def typing(ctx: Ctx, body: f.ChannelRef) -> bytes | None:
    permissions.require_read(await ctx.access(body.channel_id))
    await ctx.gw.typing(ctx.user, body.channel_id)
    return ctx.ack()


async def stop_typing(ctx: Ctx, body: f.ChannelRef) -> bytes | None:
    permissions.require_read(await ctx.access(body.channel_id))
    await ctx.gw.stop_typing(ctx.user, body.channel_id)
    return ctx.ack()


async def update_presence(ctx: Ctx, body: f.UpdatePresence) -> bytes | None:
    await ctx.gw.set_presence(ctx.user, body.status)
    return ctx.ack()


async def _announce_room(gw: Gateway, channel: uuid.UUID, participants: list[uuid.UUID]
                         ) -> None:
    await gw.bus.send(f.frame("voice_state_update", channel_id=str(channel),
                              participants=[str(p) for p in participants]),
                      channel_id=channel)


async def join_voice(ctx: Ctx, body: f.ChannelRef) -> bytes | None:
    access = await ctx.access(body.channel_id)
    permissions.require_read(access)
    if access.kind != "voice":
        raise DomainError("bad_request", "not a voice channel")
    gw = ctx.gw
    current = (await gw.shared.voice_channels([ctx.user]))[0]
    if current is not None and current != body.channel_id:
        await _leave(gw, current, ctx.user)
    participants = await gw.shared.join_voice(
        body.channel_id, ctx.user, gw.settings.limits.voice_max_participants)
    if participants is None:
        raise DomainError("limit_reached", "the voice channel is full")
    ctx.sock.voice = body.channel_id
    await gw.bus.send(f.frame("user_joined_voice", channel_id=str(body.channel_id),
                              user_id=str(ctx.user)), channel_id=body.channel_id)
    await _announce_room(gw, body.channel_id, participants)
    return ctx.ack()


async def _leave(gw: Gateway, channel: uuid.UUID, user: uuid.UUID) -> None:
    participants = await gw.shared.leave_voice(channel, user)
    await gw.bus.send(f.frame("user_left_voice", channel_id=str(channel), user_id=str(user)),
                      channel_id=channel)
    await _announce_room(gw, channel, participants)


async def leave_voice(ctx: Ctx, body: f.ChannelRef) -> bytes | None:
    if (await ctx.gw.shared.voice_channels([ctx.user]))[0] == body.channel_id:
        await _leave(ctx.gw, body.channel_id, ctx.user)
    ctx.sock.voice = None
    return ctx.ack()


async def kick_from_voice(ctx: Ctx, body: f.KickFromVoice) -> bytes | None:
    permissions.require_moderate(await ctx.access(body.channel_id))
    if (await ctx.gw.shared.voice_channels([body.user_id]))[0] != body.channel_id:
        raise DomainError("not_found", "that user is not in this voice channel")
    await ctx.gw.bus.send(f.frame("kicked_from_voice", channel_id=str(body.channel_id),
                                  kicked_by=str(ctx.user)), users=[body.user_id])
    await _leave(ctx.gw, body.channel_id, body.user_id)
    return ctx.ack()


def _relay(kind: str, field: str) -> Handler:
    async def relay(ctx: Ctx, body: Any) -> bytes | None:
        """Only between two participants of the same voice channel."""
        mine, theirs = await ctx.gw.shared.voice_channels([ctx.user, body.target_user_id])
        if mine is None or mine != theirs:
            raise DomainError("forbidden", "both users must be in the same voice channel")
        await ctx.gw.bus.send(f.frame(kind, from_user_id=str(ctx.user),
                                      session_id=body.session_id,
                                      **{field: getattr(body, field)}),
                              users=[body.target_user_id])
        return ctx.ack()
    return relay


HANDLERS: dict[str, tuple[type[Any], Handler]] = {
    "ping": (f.Ping, ping),
    "subscribe": (f.ChannelSet, subscribe),
    "unsubscribe": (f.ChannelSet, unsubscribe),
    "typing": (f.ChannelRef, typing),
    "stop_typing": (f.ChannelRef, stop_typing),
    "update_presence": (f.UpdatePresence, update_presence),
    "join_voice": (f.ChannelRef, join_voice),
    "leave_voice": (f.ChannelRef, leave_voice),
    "kick_from_voice": (f.KickFromVoice, kick_from_voice),
    "rtc_offer": (f.RtcDescription, _relay("rtc_offer", "sdp")),
    "rtc_answer": (f.RtcDescription, _relay("rtc_answer", "sdp")),
    "rtc_ice_candidate": (f.RtcIceCandidate, _relay("rtc_ice_candidate", "candidate")),
}


def _command(call: Callable[..., Awaitable[bytes | None]]) -> Handler:
    async def handle(ctx: Ctx, body: Any) -> bytes | None:
        return await call(ctx.gw.services, ctx.principal, body, ctx.info, ctx.ref)
    return handle


HANDLERS.update({name: (body, _command(call)) for name, (body, call) in COMMANDS.items()})
BODIES: dict[str, type[Any]] = {name: body for name, (body, _) in HANDLERS.items()}
