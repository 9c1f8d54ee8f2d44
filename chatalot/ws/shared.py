"""State the nodes share (in Redis when REDIS_URL is set, else in this process): live
sockets per user (the 8-socket limit), presence, typing de-duplication, voice rooms.

Every Redis call falls back to the process's own view when Redis is unreachable: a node
that loses Redis keeps serving its own sockets with a node-local limit and presence.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

log = logging.getLogger(__name__)

SOCKET_TTL = 120.0  # a node refreshes its sockets' entries every 30 s
_P = "chatalot:ws:"


class SharedState:
    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._conns: dict[uuid.UUID, set[str]] = {}
        self._presence: dict[uuid.UUID, str] = {}
        self._typing: dict[tuple[uuid.UUID, uuid.UUID], float] = {}
        self._voice: dict[uuid.UUID, set[uuid.UUID]] = {}
        self._voice_of: dict[uuid.UUID, uuid.UUID] = {}

    def _failed(self, what: str, exc: Exception) -> None:
        log.warning("shared %s: Redis unavailable (%s), using this node's view",
                    what, type(exc).__name__)

    # -- sockets per user -------------------------------------------------------------

    async def claim_socket(self, user: uuid.UUID, socket_id: uuid.UUID, limit: int) -> bool:
        """Count this socket against the user's limit; False (and nothing counted) when
        the user already has `limit` live sockets on all nodes."""
        sid = str(socket_id)
        local = self._conns.setdefault(user, set())
        if self.redis is not None:
            key, now = f"{_P}conns:{user}", time.time()
            try:
                pipe = self.redis.pipeline(transaction=True)
                pipe.zremrangebyscore(key, 0, now)
                pipe.zadd(key, {sid: now + SOCKET_TTL})
                pipe.zcard(key)
                pipe.expire(key, int(SOCKET_TTL))
                *_, count, _ = await pipe.execute()
                if count > limit:
                    await self.redis.zrem(key, sid)
                    return False
                local.add(sid)
                return True
            except Exception as exc:
                self._failed("socket count", exc)
        if len(local) >= limit:
            return False
        local.add(sid)
        return True

    async def release_socket(self, user: uuid.UUID, socket_id: uuid.UUID) -> int:
        """Uncount the socket; how many the user still has (on every node)."""
        sid = str(socket_id)
        local = self._conns.get(user, set())
        local.discard(sid)
        if not local:
            self._conns.pop(user, None)
        if self.redis is not None:
            key = f"{_P}conns:{user}"
            try:
                pipe = self.redis.pipeline(transaction=True)
                pipe.zrem(key, sid)
                pipe.zremrangebyscore(key, 0, time.time())
                pipe.zcard(key)
                *_, count = await pipe.execute()
                return int(count)
            except Exception as exc:
                self._failed("socket count", exc)
        return len(local)

    async def sockets_count(self, user: uuid.UUID) -> int:
        if self.redis is not None:
            key = f"{_P}conns:{user}"
            try:
                await self.redis.zremrangebyscore(key, 0, time.time())
                return int(await self.redis.zcard(key))
            except Exception as exc:
                self._failed("socket count", exc)
        return len(self._conns.get(user, ()))

    async def refresh_sockets(self) -> None:
        """Keep this node's entries alive (a crashed node's expire on their own)."""
        if self.redis is None or not self._conns:
            return
        try:
            pipe = self.redis.pipeline(transaction=False)
            until = time.time() + SOCKET_TTL
            for user, sids in self._conns.items():
                if sids:
                    pipe.zadd(f"{_P}conns:{user}", dict.fromkeys(sids, until))
                    pipe.expire(f"{_P}conns:{user}", int(SOCKET_TTL))
                    pipe.expire(f"{_P}presence:{user}", int(SOCKET_TTL))
            await pipe.execute()
        except Exception as exc:
            self._failed("socket refresh", exc)

    # -- presence ---------------------------------------------------------------------

    async def set_presence(self, user: uuid.UUID, status: str) -> None:
        """One key per user that expires unless a node with the user's sockets refreshes
        it (refresh_sockets): a crashed node's users fall offline on their own."""
        if status == "offline":
            self._presence.pop(user, None)
        else:
            self._presence[user] = status
        if self.redis is not None:
            try:
                if status == "offline":
                    await self.redis.delete(f"{_P}presence:{user}")
                else:
                    await self.redis.set(f"{_P}presence:{user}", status, ex=int(SOCKET_TTL))
            except Exception as exc:
                self._failed("presence", exc)

    async def presence_of(self, users: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        """Each user's stored status ("offline" when none)."""
        if self.redis is not None and users:
            try:
                values = await self.redis.mget([f"{_P}presence:{u}" for u in users])
                return {u: (v.decode() if v else "offline") for u, v in zip(users, values,
                                                                          strict=True)}
            except Exception as exc:
                self._failed("presence", exc)
        return {u: self._presence.get(u, "offline") for u in users}

    # -- typing -----------------------------------------------------------------------

    async def first_typing(self, user: uuid.UUID, channel: uuid.UUID, window: float) -> bool:
        """True once per user per channel per `window` seconds (the rest are duplicates)."""
        if self.redis is not None:
            try:
                return bool(await self.redis.set(f"{_P}typing:{channel}:{user}", b"1",
                                                 nx=True, px=int(window * 1000)))
            except Exception as exc:
                self._failed("typing", exc)
        now = time.monotonic()
        if self._typing.get((user, channel), 0.0) > now:
            return False
        self._typing[(user, channel)] = now + window
        if len(self._typing) > 10_000:
            self._typing = {k: v for k, v in self._typing.items() if v > now}
        return True

    async def typing_done(self, user: uuid.UUID, channel: uuid.UUID) -> None:
        self._typing.pop((user, channel), None)
        if self.redis is not None:
            try:
                await self.redis.delete(f"{_P}typing:{channel}:{user}")
            except Exception as exc:
                self._failed("typing", exc)

    # -- voice rooms ------------------------------------------------------------------

    async def join_voice(self, channel: uuid.UUID, user: uuid.UUID, limit: int
                         ) -> list[uuid.UUID] | None:
        """The participants after joining, or None when the room is full."""
        if self.redis is not None:
            key = f"{_P}voice:{channel}"
            try:
                await self.redis.sadd(key, str(user))
                members = {uuid.UUID(m.decode()) for m in await self.redis.smembers(key)}
                if len(members) > limit:
                    await self.redis.srem(key, str(user))
                    return None
                await self.redis.hset(f"{_P}voice_of", str(user), str(channel))
                return sorted(members)
            except Exception as exc:
                self._failed("voice", exc)
        room = self._voice.setdefault(channel, set())
        if user not in room and len(room) >= limit:
            return None
        room.add(user)
        self._voice_of[user] = channel
        return sorted(room)

    async def leave_voice(self, channel: uuid.UUID, user: uuid.UUID) -> list[uuid.UUID]:
        room = self._voice.get(channel, set())
        room.discard(user)
        if self._voice_of.get(user) == channel:
            self._voice_of.pop(user, None)
        if not room:
            self._voice.pop(channel, None)
        if self.redis is not None:
            key = f"{_P}voice:{channel}"
            try:
                await self.redis.srem(key, str(user))
                current = await self.redis.hget(f"{_P}voice_of", str(user))
                if current is not None and current.decode() == str(channel):
                    await self.redis.hdel(f"{_P}voice_of", str(user))
                return sorted(uuid.UUID(m.decode()) for m in await self.redis.smembers(key))
            except Exception as exc:
                self._failed("voice", exc)
        return sorted(room)

    async def voice_channels(self, users: list[uuid.UUID]) -> list[uuid.UUID | None]:
        """The voice channel each user is in (None: none)."""
        if self.redis is not None:
            try:
                values = await self.redis.hmget(f"{_P}voice_of", [str(u) for u in users])
                return [uuid.UUID(v.decode()) if v else None for v in values]
            except Exception as exc:
                self._failed("voice", exc)
        return [self._voice_of.get(u) for u in users]
