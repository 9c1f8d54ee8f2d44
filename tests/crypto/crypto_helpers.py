"""Helpers shared by the crypto tests (imported by name: tests/ has no packages)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from chatalot_crypto.keys import IdentityKeyPair, LocalKeys
from chatalot_crypto.ratchet import RatchetState

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "crypto"


def load_vectors(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="ascii"))


class QueueRandom:
    """A random source that returns recorded values, in order, of the recorded lengths."""

    def __init__(self, values: list[str]) -> None:
        self.values = [bytes.fromhex(v) for v in values]

    def __call__(self, n: int) -> bytes:
        assert self.values, "the implementation took more random values than recorded"
        value = self.values.pop(0)
        assert len(value) == n, f"asked for {n} bytes, recorded {len(value)}"
        return value

    def assert_done(self) -> None:
        assert not self.values, f"{len(self.values)} recorded random values left unused"


class SeededRandom:
    """Reproducible randomness for property tests (never for real keys)."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def __call__(self, n: int) -> bytes:
        return self._random.randbytes(n)


def ratchet_snapshot(state: RatchetState) -> dict[str, Any]:
    """The same fields, in the same form, as the vectors' "state"."""
    return {
        "dhs_public": state.dhs_public.hex(),
        "dhr": None if state.dhr is None else state.dhr.hex(),
        "rk": state.rk.hex(),
        "cks": None if state.cks is None else state.cks.hex(),
        "ckr": None if state.ckr is None else state.ckr.hex(),
        "ns": state.ns,
        "nr": state.nr,
        "pn": state.pn,
        "skipped": [[dh.hex(), n, mk.hex()] for (dh, n), mk in state.skipped.items()],
    }


def flip_bit(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def make_keys(seed_byte: int, one_time: int = 5, rng: Any = None) -> LocalKeys:
    """Keys with signed prekey 1 and one-time prekeys 100.. (fixed identity per seed_byte)."""
    keys = LocalKeys(IdentityKeyPair.from_seed(bytes([seed_byte]) * 32))
    if rng is None:
        keys.add_signed_prekey(1)
        keys.add_one_time_prekeys(100, one_time)
    else:
        keys.add_signed_prekey(1, rng)
        keys.add_one_time_prekeys(100, one_time, rng)
    return keys
