"""What the file commands, queries and handlers need: the store, the pool, the blob
storage, the image workers, the limits and the clock. One per process (the storage and
the worker slots are shared by every request), made on first use from the services."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from chatalot.domain.files import rules
from chatalot.files.scanning import ImageWorkers
from chatalot.files.storage import BlobStorage, LocalBlobStorage
from event_store import EventStore


@dataclass(frozen=True)
class FileLimits:
    max_file_bytes: int
    quota_bytes: int  # 0 = no quota
    uploads_per_minute: int
    media_max_bytes: int = rules.MEDIA_MAX_BYTES


@dataclass(frozen=True)
class FilesRuntime:
    store: EventStore
    pool: AsyncConnectionPool[Any]
    storage: BlobStorage
    workers: ImageWorkers
    limits: FileLimits
    public_url: str
    clock: Callable[[], float] = time.time

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)


_ATTRIBUTE = "_files_runtime"


def files_runtime(services: Any) -> FilesRuntime:
    """The process's files runtime, kept on its services (made once)."""
    runtime: FilesRuntime | None = getattr(services, _ATTRIBUTE, None)
    if runtime is None:
        settings = services.settings
        limits = settings.limits
        runtime = FilesRuntime(
            store=services.store, pool=services.pool,
            storage=LocalBlobStorage(settings.data_dir / "files"),
            workers=ImageWorkers(),
            limits=FileLimits(
                max_file_bytes=limits.max_file_size_mb * rules.MIB,
                quota_bytes=limits.upload_quota_mb * rules.MIB,
                uploads_per_minute=limits.uploads_per_minute),
            public_url=settings.base_url,
            clock=services.accounts.clock,
        )
        setattr(services, _ATTRIBUTE, runtime)
    return runtime
