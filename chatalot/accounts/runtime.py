"""What account commands and queries need: store, pool, hashing, tokens, secrets, clock."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from chatalot.auth.keys import ensure_jwt_keys
from chatalot.auth.passwords import PasswordHasher
from chatalot.auth.tokens import TokenService
from chatalot.auth.totp import SecretBox, load_totp_key
from chatalot.config import Settings
from chatalot.domain.accounts.rules import LockoutPolicy
from event_store import EventStore, Metadata


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


@dataclass(frozen=True)
class RequestInfo:
    """Where a command came from; becomes the metadata of the events it appends."""

    ip: str | None = None
    user_agent: str | None = None
    correlation_id: str | None = None

    def metadata(self, command: str, actor_id: uuid.UUID | None) -> Metadata:
        return Metadata(
            actor_id=str(actor_id) if actor_id else None,
            correlation_id=self.correlation_id,
            ip=self.ip[:64] if self.ip else None,
            user_agent=self.user_agent[:512] if self.user_agent else None,
            command=command,
        )


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
             ("Chrome/", "Chrome"), ("Safari/", "Safari"), ("curl/", "curl"),
             ("python-httpx", "httpx"), ("chatalot", "Chatalot client"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"),
            ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
            ("Linux", "Linux"))
_CLEAN = re.compile(r"[^\w .,'()/+-]")


def device_name(given: str | None, user_agent: str | None) -> str | None:
    """The client's own name for the device, else `Browser on System` from the user agent."""
    if given and given.strip():
        return _CLEAN.sub("", given.strip())[:128] or None
    if not user_agent:
        return None
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), None)
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or _CLEAN.sub("", user_agent)[:64] or None
