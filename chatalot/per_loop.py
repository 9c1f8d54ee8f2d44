"""One helper object per owner and event loop (a process may run several loops: tests,
and each `TestClient`), kept only while both live."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")

PerLoop = weakref.WeakKeyDictionary[K, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, V]]


def per_loop(table: PerLoop[K, V], owner: K, make: Callable[[], V]) -> V:
    """`owner`'s object on the running loop, made on first use. (Not `setdefault`: its
    default, a new WeakKeyDictionary, was built on every call, twice a send.)"""
    by_loop = table.get(owner)
    if by_loop is None:
        by_loop = table[owner] = weakref.WeakKeyDictionary()
    loop = asyncio.get_running_loop()
    found = by_loop.get(loop)
    if found is None:
        found = by_loop[loop] = make()
    return found
