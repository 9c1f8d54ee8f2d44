"""Token-bucket rate limits: one interface, kept in Redis (shared by every node) or in
process memory.

`hit(key, rate, burst)` takes one token from the bucket `key` (capacity `burst`, refilled
at `rate` tokens per second) and says whether the call may proceed, and if not, when it
may retry. The HTTP perimeter keys buckets by client IP; the WebSocket gateway can key them
by socket for frames.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

log = logging.getLogger(__name__)


class RateDecision(NamedTuple):
    allowed: bool
    retry_after: float  # seconds until one token is available (0 when allowed)

    @property
    def retry_after_secs(self) -> int:
        """For a Retry-After header: whole seconds, at least 1."""
        return max(1, math.ceil(self.retry_after))


class RateLimiter(Protocol):
    async def hit(self, key: str, rate: float, burst: float, cost: float = 1.0
                  ) -> RateDecision: ...

    async def close(self) -> None: ...


def _refill(tokens: float, last: float, now: float, rate: float, burst: float) -> float:
    return min(burst, tokens + max(0.0, now - last) * rate)


class MemoryRateLimiter:
    """One process's buckets; the least recently used are dropped beyond `max_keys`."""

    def __init__(self, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max_keys = max_keys
        self._clock = clock

    async def hit(self, key: str, rate: float, burst: float, cost: float = 1.0
                  ) -> RateDecision:
        return self.hit_now(key, rate, burst, cost)

    def hit_now(self, key: str, rate: float, burst: float, cost: float = 1.0) -> RateDecision:
        """Synchronous: usable from code that must not await (no I/O happens here)."""
        now = self._clock()
        state = self._buckets.pop(key, None)
        tokens = burst if state is None else _refill(state[0], state[1], now, rate, burst)
        if tokens >= cost:
            decision = RateDecision(True, 0.0)
            tokens -= cost
        else:
            decision = RateDecision(False, (cost - tokens) / rate)
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return decision

    async def close(self) -> None:
        self._buckets.clear()


# Atomic in Redis: refill from the server's own clock (nodes' clocks may differ), take the
# tokens, store, and let an idle bucket expire once it would be full again.
_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
else
  local elapsed = now - ts
  if elapsed < 0 then elapsed = 0 end
  tokens = math.min(burst, tokens + elapsed * rate)
end
local allowed = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(retry)}
"""


class RedisRateLimiter:
    """Buckets in Redis, shared by every node; falls back to memory while Redis is down."""

    def __init__(self, redis: Any, prefix: str = "chatalot:rl:") -> None:
        self._redis = redis
        self._script = redis.register_script(_LUA)
        self._prefix = prefix
        self._fallback = MemoryRateLimiter()
        self._warned_at = 0.0

    async def hit(self, key: str, rate: float, burst: float, cost: float = 1.0
                  ) -> RateDecision:
        try:
            allowed, retry = await self._script(
                keys=[self._prefix + key], args=[rate, burst, cost]
            )
        except Exception as exc:  # any Redis failure: degrade, do not fail
            now = time.monotonic()
            if now - self._warned_at > 60:
                self._warned_at = now
                log.warning("rate limiter: Redis unavailable (%s); using process memory",
                            type(exc).__name__)
            return self._fallback.hit_now(key, rate, burst, cost)
        return RateDecision(bool(int(allowed)), float(retry))

    async def close(self) -> None:
        await self._fallback.close()
