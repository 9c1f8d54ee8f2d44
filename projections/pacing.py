"""Pacing a rebuild so that the serving path keeps its speed.

A rebuild's bulk load would otherwise take all it can: the CPU of its process (the event
loop that also answers queries, when it runs in the server) and a share of the database.
The pacer bounds it three ways, after each batch:

- `share`: the fraction of wall time the load may be busy (0.25 = a quarter of a core):
  after a batch that took t seconds it rests t * (1 / share - 1);
- `rate`: at most this many events per second;
- adaptively: when its own rests wake late (the event loop is busy serving others, or
  the host is short of CPU), or a trivial query takes well over the fastest one seen (the
  database is busy), it rests longer, up to ten times the share's rest, and relaxes again
  as they recover.

It also sizes the batches so that one transaction stays short (`batch_seconds`): a batch
transaction holds the cluster-wide read horizon of the log for its whole duration, so
every live reader waits behind it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

FIRST_BATCH = 100
MAX_SLOWDOWN = 10.0


@dataclass
class Pacer:
    share: float = 1.0
    rate: float | None = None
    batch_seconds: float = 0.05
    max_batch: int = 5000
    min_batch: int = 50

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise ValueError("share must be in (0, 1]")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be positive")
        self.batch = min(self.max_batch, FIRST_BATCH)
        """Events in the next batch: starts small, grows while transactions stay short."""
        self._slowdown = 1.0
        self._started = time.monotonic()
        self._events = 0
        self.rested = 0.0
        """Seconds spent resting so far (what pacing cost the rebuild)."""
        self.longest = 0.0
        """The longest batch transaction so far, in seconds."""
        self._fastest_probe: float | None = None

    @property
    def paced(self) -> bool:
        return self.share < 1 or self.rate is not None

    def measured(self, events: int, seconds: float) -> None:
        """A batch of `events` committed in `seconds`: size the next one."""
        self._events += events
        self.longest = max(self.longest, seconds)
        if events <= 0 or seconds <= 0:
            return
        fit = int(events * self.batch_seconds / seconds)
        # shrink at once when over the bound, grow by at most half per batch
        wanted = fit if fit < self.batch else min(fit, self.batch + max(self.batch // 2, 1))
        self.batch = max(self.min_batch, min(self.max_batch, wanted))

    def probed(self, seconds: float) -> None:
        """A trivial query's round trip: well over the fastest one, the database is busy."""
        fastest = self._fastest_probe
        self._fastest_probe = seconds if fastest is None else min(fastest, seconds)
        if fastest is not None and seconds > 3 * fastest + 0.002:
            self._slow_down()

    def _slow_down(self) -> None:
        self._slowdown = min(self._slowdown * 1.5, MAX_SLOWDOWN)

    async def rest(self, busy: float) -> None:
        """After `busy` seconds of work: wait so that the share and the rate hold."""
        delay = busy * (1 / self.share - 1) * self._slowdown if self.share < 1 else 0.0
        if self.rate is not None:
            due = self._started + self._events / self.rate
            delay = max(delay, due - time.monotonic())
        if delay <= 0:
            await asyncio.sleep(0)  # let the loop serve others between batches
            return
        started = time.monotonic()
        await asyncio.sleep(delay)
        slept = time.monotonic() - started
        self.rested += slept
        late = slept - delay
        if self.share < 1:
            if late > max(0.005, delay * 0.5):
                self._slow_down()
            else:
                self._slowdown = max(1.0, self._slowdown * 0.9)
