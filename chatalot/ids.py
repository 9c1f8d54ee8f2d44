"""Server-generated ids are UUIDv7 (time-ordered; RFC 9562)."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0

_POOL_BYTES = 4096
"""OS random bytes fetched at once: one getrandom call per 500 ids instead of two per id
(about a microsecond each, and a point where the scheduler may hand the core to
PostgreSQL in the middle of a send)."""
_pool = b""
_taken = 0


def _random(n: int) -> bytes:
    """`n` bytes from the OS's CSPRNG, drawn from a block fetched ahead (under `_lock`)."""
    global _pool, _taken
    if _taken + n > len(_pool):
        _pool, _taken = os.urandom(_POOL_BYTES), 0
    start = _taken
    _taken += n
    return _pool[start:_taken]


def _forget_pool() -> None:
    """A forked child must not hand out its parent's unused random bytes again."""
    global _pool, _taken
    _pool, _taken = b"", 0


os.register_at_fork(after_in_child=_forget_pool)


def uuid7() -> uuid.UUID:
    """48-bit Unix milliseconds, then a 12-bit counter within the millisecond (so ids made
    by one process stay ordered), then 62 random bits."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _counter = int.from_bytes(_random(2), "big") & 0x3FF
        counter = _counter
        rand = int.from_bytes(_random(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand
    return uuid.UUID(int=value)
