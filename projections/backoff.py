"""Exponential back-off between retries."""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, base: float, maximum: float) -> None:
        self.base = base
        self.maximum = maximum
        self._next = base

    def next(self) -> float:
        """The delay to wait now (with 10% jitter, so nodes do not retry in step)."""
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay * (0.9 + random.random() * 0.2)  # noqa: S311 - not cryptographic

    def reset(self) -> None:
        self._next = self.base
