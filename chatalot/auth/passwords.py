"""Argon2id password hashing, off the event loop, bounded in concurrency.

Hashes run in dedicated worker threads (argon2-cffi releases the GIL), at most
`concurrency` at a time per process, so a login flood queues here instead of starving
every other request. On Linux those threads (and the lane threads libargon2 starts from
them, which inherit it) run at a lower scheduling priority: when the CPU is short,
requests are served first and logins wait.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import hmac
import os
import secrets
import threading
from typing import Any

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from chatalot.config import Security


class PasswordHasher:
    def __init__(self, memory_kib: int = 65536, time_cost: int = 3, parallelism: int = 4,
                 concurrency: int = 0) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism,
            hash_len=32, salt_len=16, type=argon2.Type.ID,
        )
        self.concurrency = concurrency or max(1, (os.cpu_count() or 2) // 2)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            self.concurrency, thread_name_prefix="argon2", initializer=_lower_priority)
        self._dummy: str | None = None

    @classmethod
    def from_settings(cls, security: Security) -> PasswordHasher:
        return cls(security.argon2_memory_kib, security.argon2_time_cost,
                   security.argon2_parallelism, security.hash_concurrency)

    @property
    def parameters(self) -> dict[str, int]:
        h = self._hasher
        return {"memory_kib": h.memory_cost, "time_cost": h.time_cost,
                "parallelism": h.parallelism}

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def hash(self, password: str) -> str:
        result: str = await self._run(self._hasher.hash, password)
        return result

    def _verify_sync(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, stored: str, password: str) -> bool:
        result: bool = await self._run(self._verify_sync, stored, password)
        return result

    async def verify_dummy(self, password: str) -> None:
        """The same work as a real verification, for usernames that do not exist."""
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(16))
        await self.verify(self._dummy, password)

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored)
        except (InvalidHashError, ValueError):
            return True


HASH_NICENESS = 10


def _lower_priority() -> None:
    """Linux schedules threads one by one: lower this worker's priority (best effort)."""
    with contextlib.suppress(AttributeError, OSError, PermissionError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_NICENESS)


# -- high-entropy codes (recovery, backup): random, so a keyed SHA-256 is enough ----------

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0, 1


def new_code(groups: int, size: int) -> str:
    """e.g. groups=4, size=4: `ABCD-EFGH-JKLM-NPQR` (80 bits)."""
    return "-".join(
        "".join(secrets.choice(_CODE_ALPHABET) for _ in range(size)) for _ in range(groups)
    )


def normalize_code(code: str) -> str:
    return "".join(c for c in code.upper() if c.isalnum())


def hash_code(user_id: str, code: str) -> bytes:
    """SHA-256 of the normalized code, bound to its user (same code, other user: no match)."""
    return hashlib.sha256(f"{user_id}:{normalize_code(code)}".encode()).digest()


def code_matches(stored: bytes | None, user_id: str, code: str) -> bool:
    return stored is not None and hmac.compare_digest(stored, hash_code(user_id, code))
