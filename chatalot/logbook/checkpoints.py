"""Sealed checkpoints of the log (issue 11 item 6), signed with the instance's Ed25519 key
(the one that signs access tokens: the signed payload starts with
`chatalot-event-checkpoint`, so it can never pass for a token). Anyone with the public key
checks them; rewriting history needs the private key, which is not in the database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from event_store import EventStore
from event_store.integrity import Checkpoint, CheckSeal, Seal, write_checkpoint

log = logging.getLogger(__name__)


def sealer(private: Ed25519PrivateKey) -> Seal:
    return private.sign


def seal_checker(public: Ed25519PublicKey) -> CheckSeal:
    def check(payload: bytes, signature: bytes) -> bool:
        try:
            public.verify(signature, payload)
        except InvalidSignature:
            return False
        return True
    return check


def load_public_key(path: Path) -> Ed25519PublicKey | None:
    """None when there is no key file (the seals then go unchecked, and verify says so)."""
    if not path.exists():
        return None
    key = serialization.load_pem_public_key(path.read_bytes())
    return key if isinstance(key, Ed25519PublicKey) else None


async def checkpoint_now(store: EventStore, seal: Seal) -> Checkpoint | None:
    async with store.pool.connection() as conn:
        return await write_checkpoint(conn, store.epoch, seal)


@contextlib.asynccontextmanager
async def periodic_checkpoints(store: EventStore, seal: Seal, interval: float
                               ) -> AsyncIterator[None]:
    """Seal what is new every `interval` seconds while the block runs (0: never). Several
    nodes may each run this: the writers take turns and a turn with nothing new seals
    nothing."""
    async def loop() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                while (point := await checkpoint_now(store, seal)) is not None and (
                        point.events >= 200_000):
                    pass  # a long backlog: seal it in several checkpoints at once
            except Exception:  # the next turn tries again
                log.exception("writing an event log checkpoint failed")

    task = asyncio.create_task(loop(), name="event-checkpoints") if interval > 0 else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
