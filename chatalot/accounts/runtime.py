"""What account commands and queries need: store, pool, hashing, tokens, secrets, clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from chatalot.auth.jwt_keys import ensure_jwt_keys
from chatalot.auth.passwords import PasswordHasher
from chatalot.auth.tokens import TokenService
from chatalot.auth.totp import SecretBox, load_totp_key
from chatalot.config import Settings
from chatalot.domain.accounts.rules import LockoutPolicy
from event_store import EventStore


@dataclass
class AccountsRuntime:
    settings: Settings
    store: EventStore
    pool: AsyncConnectionPool[Any]
    hasher: PasswordHasher
    tokens: TokenService
    box: SecretBox
    clock: Callable[[], float] = time.time

    @classmethod
    def create(cls, settings: Settings, store: EventStore, pool: AsyncConnectionPool[Any], *,
               clock: Callable[[], float] = time.time) -> AccountsRuntime:
        private, public = ensure_jwt_keys(settings.private_key_path, settings.public_key_path)
        security = settings.security
        return cls(
            settings=settings,
            store=store,
            pool=pool,
            hasher=PasswordHasher.from_settings(security),
            tokens=TokenService(private, public, issuer=settings.base_url,
                                ttl_secs=security.access_token_ttl_secs, clock=clock),
            box=SecretBox(load_totp_key(security.totp_encryption_key, settings.data_dir)),
            clock=clock,
        )

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    @property
    def lockout(self) -> LockoutPolicy:
        s = self.settings.security
        return LockoutPolicy(s.lockout_threshold, s.lockout_base_delay_secs,
                             s.lockout_max_delay_secs)
