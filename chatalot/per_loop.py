"""One helper object per owner and event loop (a process may run several loops: tests,
and each `TestClient`), kept only while both live."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class PerLoop(Generic[K, V]):
    """owner -> loop -> object, weakly on both. The last (owner, loop) pair asked for is
    remembered: a serving process asks for the same one twice a send, and each
    WeakKeyDictionary lookup builds a weak reference to its key."""

    def __init__(self) -> None:
        self._table: weakref.WeakKeyDictionary[
            K, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, V]] = (
            weakref.WeakKeyDictionary())
        self._last: tuple[weakref.ref[K], weakref.ref[asyncio.AbstractEventLoop], V] | None = (
            None)

    def get(self, owner: K, make: Callable[[], V]) -> V:
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0]() is owner and last[1]() is loop:
            return last[2]
        by_loop = self._table.get(owner)
        if by_loop is None:
            by_loop = self._table[owner] = weakref.WeakKeyDictionary()
        found = by_loop.get(loop)
        if found is None:
            found = by_loop[loop] = make()
        self._last = (weakref.ref(owner), weakref.ref(loop), found)
        return found


def per_loop(table: PerLoop[K, V], owner: K, make: Callable[[], V]) -> V:
    """`owner`'s object on the running loop, made on first use."""
    return table.get(owner, make)
