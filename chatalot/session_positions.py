"""Read-your-writes by default: each session's last command position, remembered for a
short while, so that a query sent with that session's token waits for the projections to
apply it without the client naming it (`Chatalot-Min-Position` still works, and wins when
later).

Kept in Redis when several nodes share one (a command on one node, the next query on
another), else in the process. Either way only the newest position of a session is kept,
however its commands interleave, and it is forgotten after `TTL_SECS`: by then every
projector has long applied it, or answers 503 projection_lag anyway.
"""

from __future__ import annotations

import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from event_store import Position

TTL_SECS = 30


@dataclass
class RequestWrites:
    """What one request's commands committed: filled by the command runner, read by the
    HTTP layer before the reply goes out. `session_id` names the session the position
    belongs to when it is not the caller's (register and login start one)."""

    position: Position | None = None
    session_id: uuid.UUID | None = None

    def committed(self, position: Position) -> None:
        if self.position is None or position > self.position:
            self.position = position


current_writes: ContextVar[RequestWrites | None] = ContextVar("chatalot_writes", default=None)


class SessionPositions(Protocol):
    async def remember(self, session_id: uuid.UUID, position: Position) -> None: ...

    async def last(self, session_id: uuid.UUID) -> Position | None: ...


class InProcessSessionPositions:
    """One node: a dict, pruned as it goes."""

    def __init__(self, ttl_secs: float = TTL_SECS) -> None:
        self._ttl = ttl_secs
        self._kept: dict[uuid.UUID, tuple[Position, float]] = {}
        self._next_prune = 0.0

    async def remember(self, session_id: uuid.UUID, position: Position) -> None:
        now = time.monotonic()
        kept = self._kept.get(session_id)
        if kept is None or kept[1] < now or position > kept[0]:
            self._kept[session_id] = (position, now + self._ttl)
        if now >= self._next_prune:
            self._next_prune = now + self._ttl
            self._kept = {k: v for k, v in self._kept.items() if v[1] >= now}

    async def last(self, session_id: uuid.UUID) -> Position | None:
        kept = self._kept.get(session_id)
        if kept is None or kept[1] < time.monotonic():
            return None
        return kept[0]


# Keep the larger of the stored and the given position (epoch, transaction id, sequence),
# with the TTL renewed; one round trip, atomic across nodes.
_REMEMBER = """
local old = redis.call('GET', KEYS[1])
if old then
  local a = {}
  for n in string.gmatch(old, '[^.]+') do a[#a + 1] = tonumber(n) end
  local b = {tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])}
  for i = 1, 3 do
    if a[i] > b[i] then redis.call('EXPIRE', KEYS[1], ARGV[5]) return 0 end
    if a[i] < b[i] then break end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[5])
return 1
"""


class RedisSessionPositions:
    def __init__(self, redis: Any, ttl_secs: int = TTL_SECS) -> None:
        self._redis = redis
        self._ttl = ttl_secs
        self._script = redis.register_script(_REMEMBER)

    @staticmethod
    def _key(session_id: uuid.UUID) -> str:
        return f"chatalot:session-position:{session_id}"

    async def remember(self, session_id: uuid.UUID, position: Position) -> None:
        await self._script(keys=[self._key(session_id)], args=[
            position.encode(), position.epoch, position.transaction_id, position.sequence,
            self._ttl])

    async def last(self, session_id: uuid.UUID) -> Position | None:
        raw = await self._redis.get(self._key(session_id))
        return None if raw is None else Position.parse(raw.decode())
