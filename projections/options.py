"""How a projection runner behaves: batch sizes, intervals, pacing, hand-off."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field


def _node_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class RunnerOptions:
    bulk_batch: int = 5000
    """Events per transaction while loading from position 0."""
    live_batch: int = 500
    """At most this many events per transaction once live."""
    lease_interval: float = 1.0
    """How often a node tries to take the projectors it does not lead (failover time)."""
    poll_interval: float = 1.0
    """Live readers re-read this often even without a wake-up (a lost one only delays)."""
    recheck_interval: float = 10.0
    """Leaders re-plan this often even without a message."""
    drop_delay: float = 5.0
    """Seconds between a flip and dropping the replaced build's schema."""
    retry_base: float = 0.5
    retry_max: float = 60.0
    node: str = field(default_factory=_node_name)
    rebuild_share: float = 1.0
    """Share of wall time (about: of a core) a build's bulk load may be busy; 1 = unpaced.
    See projections/pacing.py."""
    rebuild_rate: float | None = None
    """At most this many events/s in a bulk load (None: no cap)."""
    batch_seconds: float = 0.05
    """Bulk batches shrink until one transaction lasts about this long at most: each holds
    the log's cluster-wide read horizon, so live readers wait behind it."""
    hand_off: float | None = None
    """Seconds the leader of a projector leaves a new build to a dedicated process (one
    with `take_rebuilds`, e.g. `chatalot projections rebuild`) before building it itself;
    None builds at once. Serving nodes set it, so that rebuilds run beside them."""
    take_rebuilds: bool = False
    """Build new builds of projectors that another node leads (until they answer queries;
    the leader takes them over from there)."""
