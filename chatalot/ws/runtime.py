"""The gateway's runtime: one per process, made on the first socket and closed with the
process's services. It owns the hub (the log reader), the signal bus, the shared state,
presence and the typing timers."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

from chatalot.config import Settings
from chatalot.ws.audience import Audience, co_members
from chatalot.ws.frames import frame
from chatalot.ws.hub import Hub
from chatalot.ws.shared import SharedState
from chatalot.ws.signals import SignalBus
from chatalot.ws.socket import Socket

if TYPE_CHECKING:
    from chatalot.services import Services

log = logging.getLogger(__name__)

TYPING_DEDUP_SECS = 3.0
TYPING_EXPIRES_SECS = 5.0
REFRESH_SECS = 30.0


def visible(status: str) -> str:
    """What others see: an invisible user appears offline."""
    return "offline" if status == "invisible" else status


class Gateway:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings: Settings = services.settings
        self.audience = Audience(services.pool)
        self.hub = Hub(services.store, self.audience)
        self.shared = SharedState(services.redis)
        self.node_id = uuid.uuid4().hex
        self.bus = SignalBus(self.hub, services.redis, self.node_id)
        self._typing: dict[tuple[uuid.UUID, uuid.UUID], asyncio.Task[None]] = {}
        self._offline: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._starting = asyncio.Lock()

    async def start(self) -> None:
        """Idempotent; sockets that arrive together all wait for the hub's first position."""
        async with self._starting:
            if self._started:
                return
            await self.hub.start()
            await self.bus.start()
            self._tasks.append(asyncio.create_task(self._refresh(), name="ws-refresh"))
            self._started = True

    async def close(self) -> None:
        for sock in list(self.hub.sockets.values()):
            sock.close(1001, "the server is going away")
        for task in [*self._tasks, *self._typing.values(), *self._offline.values()]:
            task.cancel()
        await self.bus.close()
        await self.hub.close()

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECS)
            await self.shared.refresh_sockets()

    # -- presence ---------------------------------------------------------------------

    async def came_online(self, sock: Socket) -> None:
        """The user's socket is live: cancel a pending offline, announce them if they
        were offline, and send this socket the presence of the people they share a
        channel with."""
        user = sock.user_id
        pending = self._offline.pop(user, None)
        if pending is not None:
            pending.cancel()
        status = (await self.shared.presence_of([user]))[user]
        if status == "offline":
            await self.set_presence(user, "online")
        peers = await co_members(self.services.pool, user)
        statuses = await self.shared.presence_of(peers) if peers else {}
        sock.push(frame("presence_bulk", users=[
            {"user_id": str(u), "status": visible(s)} for u, s in statuses.items()
            if visible(s) != "offline"]))

    async def set_presence(self, user: uuid.UUID, status: str) -> None:
        before = (await self.shared.presence_of([user]))[user]
        await self.shared.set_presence(user, status)
        if visible(before) != visible(status) or status == "invisible":
            await self.bus.send(frame("presence_update", user_id=str(user),
                                      status=visible(status)), sharers_of=user)

    async def went_away(self, sock: Socket, remaining: int) -> None:
        """The socket closed; with none left on any node, the user goes offline after the
        grace period (a quick reconnect does not flicker)."""
        for (user, channel), task in list(self._typing.items()):
            if user == sock.user_id and remaining == 0:
                task.cancel()
                await self.stop_typing(user, channel)
        if remaining > 0:
            return
        user = sock.user_id
        grace = self.settings.limits.presence_grace_secs

        async def later() -> None:
            await asyncio.sleep(grace)
            if self.hub.sockets_of(user):
                return
            if await self.shared.sockets_count(user) == 0:
                await self.set_presence(user, "offline")

        old = self._offline.pop(user, None)
        if old is not None:
            old.cancel()
        task = asyncio.create_task(later(), name="ws-offline")
        self._offline[user] = task
        task.add_done_callback(lambda t: self._offline.pop(user, None)
                               if self._offline.get(user) is t else None)

    # -- typing -----------------------------------------------------------------------

    async def typing(self, user: uuid.UUID, channel: uuid.UUID) -> None:
        """Announce at most once per user per channel per 3 s; stop after 5 s unless
        renewed."""
        old = self._typing.pop((user, channel), None)
        if old is not None:
            old.cancel()

        async def expire() -> None:
            await asyncio.sleep(TYPING_EXPIRES_SECS)
            self._typing.pop((user, channel), None)
            await self.stop_typing(user, channel)

        self._typing[(user, channel)] = asyncio.create_task(expire(), name="ws-typing")
        if await self.shared.first_typing(user, channel, TYPING_DEDUP_SECS):
            await self.bus.send(frame("user_typing", channel_id=str(channel),
                                      user_id=str(user)), channel_id=channel, exclude=user)

    async def stop_typing(self, user: uuid.UUID, channel: uuid.UUID) -> None:
        task = self._typing.pop((user, channel), None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        await self.shared.typing_done(user, channel)
        await self.bus.send(frame("user_stopped_typing", channel_id=str(channel),
                                  user_id=str(user)), channel_id=channel, exclude=user)


def gateway_of(services: Services) -> Gateway:
    """The process's gateway, made on first use and closed with the services."""
    gateway: Any = services.extras.get("gateway")
    if gateway is None:
        gateway = Gateway(services)
        services.extras["gateway"] = gateway
        services.closers.append(gateway.close)
    assert isinstance(gateway, Gateway)
    return gateway

