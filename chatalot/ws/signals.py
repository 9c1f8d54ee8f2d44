"""Ephemeral signals (typing, presence, voice, WebRTC relay): never in the log.

A signal is delivered to this node's sockets at once, then published on Redis for the
other nodes (redis-py's asyncio pub/sub, directly: Litestar's channels plugin would add a
layer whose backlog and resume we would not use, since signals are fire-and-forget, and
whose audience is a channel name, while ours is "the members of channel X now" computed
by each receiving node for its own sockets). Without REDIS_URL there is one node and the
local delivery is all. A node that loses Redis keeps serving its own sockets; the
listener reconnects with a growing pause and log events catch up from the log anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

import msgspec

from chatalot.ws.hub import Hub, audiences_for
from chatalot.ws.routing import Route

log = logging.getLogger(__name__)

CHANNEL = "chatalot:ws:signals"


class Signal(msgspec.Struct, frozen=True, array_like=True):
    frame: bytes
    users: list[uuid.UUID] = []
    channel_id: uuid.UUID | None = None
    sharers_of: uuid.UUID | None = None
    exclude: uuid.UUID | None = None
    node: str = ""


class SignalBus:
    def __init__(self, hub: Hub, redis: Any, node_id: str) -> None:
        self.hub = hub
        self.redis = redis
        self.node_id = node_id
        self._task: asyncio.Task[None] | None = None
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(Signal)

    async def start(self) -> None:
        if self.redis is not None and self._task is None:
            self._task = asyncio.create_task(self._listen(), name="ws-signals")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def send(self, frame: bytes, *, users: list[uuid.UUID] | None = None,
                   channel_id: uuid.UUID | None = None, sharers_of: uuid.UUID | None = None,
                   exclude: uuid.UUID | None = None) -> None:
        signal = Signal(frame, users or [], channel_id, sharers_of, exclude, self.node_id)
        await self._deliver(signal)
        if self.redis is not None:
            try:
                await self.redis.publish(CHANNEL, self._encoder.encode(signal))
            except Exception as exc:  # best effort: this node's sockets already have it
                log.warning("signal publish failed: %s", type(exc).__name__)

    async def _deliver(self, signal: Signal) -> None:
        hub = self.hub
        if not hub.sockets:
            return
        r = Route(signal.frame, "", users=frozenset(signal.users),
                  channel_id=signal.channel_id, sharers_of=signal.sharers_of)
        users = set(hub.by_user)
        answers = await audiences_for(hub.audience, [r], users)
        for user in answers.recipients(r, set(hub.by_user)):
            if user == signal.exclude:
                continue
            for sock in hub.sockets_of(user):
                if r.channel_id is None or r.channel_id not in sock.muted:
                    sock.push(r.frame)

    async def _listen(self) -> None:
        backoff = 0.05
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                backoff = 0.05
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        signal = self._decoder.decode(message["data"])
                    except msgspec.DecodeError:
                        continue
                    if signal.node != self.node_id:
                        await self._deliver(signal)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("signal listener lost Redis: %s", type(exc).__name__)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
