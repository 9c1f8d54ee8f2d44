"""One live socket as the hub sees it: who it is, what it has been sent, its send queue.

The hub never awaits a socket: it puts already-encoded frames on the socket's queue and
moves on. A writer task per socket drains the queue. A queue past its bound means a
consumer too slow to keep up: the socket is closed (1013, "resume from your last
position") rather than let it stall the hub or grow memory without bound; the client
resumes from the log.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

from event_store import Position

SLOW_CONSUMER_CLOSE = 1013


@dataclass(frozen=True)
class Close:
    code: int
    reason: str


class TokenBucket:
    """Per socket, in memory (a socket lives on one node, so nothing to share)."""

    def __init__(self, burst: int, per_sec: float) -> None:
        self.capacity = float(burst)
        self.rate = per_sec
        self.tokens = float(burst)
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(eq=False)
class Socket:
    user_id: uuid.UUID
    session_id: uuid.UUID
    queue_limit: int
    socket_id: uuid.UUID = field(default_factory=uuid.uuid4)
    queue: deque[bytes] = field(default_factory=deque)
    """Log events and signals, in order."""
    replies: deque[bytes] = field(default_factory=deque)
    """Answers to this socket's own frames: the writer sends them first, so a reply never
    waits behind a long replay (or a burst of fan-out) queued for the same socket."""
    muted: set[uuid.UUID] = field(default_factory=set)
    """Channels this socket asked not to receive (`unsubscribe`)."""
    last_sent: Position | None = None
    """The position of the last log event handed to this socket: anything at or before
    it is a duplicate (replay and live overlap) and is dropped."""
    replaying: bool = False
    buffered: list[tuple[Position, bytes]] = field(default_factory=list)
    overflowed: bool = False
    closing: Close | None = None
    voice: uuid.UUID | None = None
    """The voice channel this socket joined (left when it closes)."""
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    drained: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def queued(self) -> int:
        return len(self.queue) + len(self.replies)

    async def drained_enough(self) -> None:
        """Wait until the writer has taken the queue below half its bound (or closing)."""
        while len(self.queue) > self.queue_limit // 2 and self.closing is None:
            self.drained.clear()
            await self.drained.wait()

    def take(self) -> bytes | Close | None:
        """For the writer, without waiting: the close (ahead of the rest), a reply, the
        next queued frame, or None when there is nothing to send."""
        if self.closing is not None:
            return self.closing
        if self.replies:
            return self.replies.popleft()
        if self.queue:
            data = self.queue.popleft()
            if len(self.queue) <= self.queue_limit // 2:
                self.drained.set()
            return data
        return None

    async def next_frame(self) -> bytes | Close:
        """For the writer: the next frame, or the close to send."""
        while (item := self.take()) is None:
            self.ready.clear()
            await self.ready.wait()
        return item

    def _overflow(self) -> bool:
        if self.queued() >= self.queue_limit:
            self.close(SLOW_CONSUMER_CLOSE, "slow consumer: resume from your last position")
            return True
        return False

    def push(self, data: bytes) -> None:
        """An ephemeral frame (no position), in order with the log events."""
        if self.closing is not None or self._overflow():
            return
        self.queue.append(data)
        self.ready.set()

    def reply(self, data: bytes) -> None:
        """An answer to one of this socket's frames: sent before anything queued."""
        if self.closing is not None or self._overflow():
            return
        self.replies.append(data)
        self.ready.set()

    def deliver(self, position: Position, data: bytes) -> None:
        """A log event, in log order; duplicates of what was sent are dropped."""
        if self.closing is not None:
            return
        if self.replaying:
            if len(self.buffered) >= self.queue_limit:
                self.buffered.clear()
                self.overflowed = True  # the replay reads these from the log again
            elif not self.overflowed:
                self.buffered.append((position, data))
            return
        if self.last_sent is not None and position <= self.last_sent:
            return
        self.last_sent = position
        self.push(data)

    def close(self, code: int, reason: str) -> None:
        if self.closing is None:
            self.closing = Close(code, reason)
            self.queue.clear()
            self.replies.clear()
            self.ready.set()
            self.drained.set()
            self.closed.set()
