"""Benchmark of the E2E crypto library (issue 5) against raw ChaCha20-Poly1305.

Plain program (docs: /work/shared/spec/bench.md): `python bench/crypto.py [--quick]`.
Each metric is measured in rounds that alternate with its baseline, a raw
ChaCha20-Poly1305 encrypt + decrypt of the same 1 KiB payload with one reused key, so both
see the same machine load; the medians are reported. Progress goes to stderr, the last
line of stdout is the JSON result.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305  # noqa: E402

from chatalot_crypto import x3dh  # noqa: E402
from chatalot_crypto.keys import IdentityKeyPair, LocalKeys  # noqa: E402
from chatalot_crypto.sender_keys import SenderKeyStore  # noqa: E402
from chatalot_crypto.sessions import SessionStore  # noqa: E402

PAYLOAD = os.urandom(1024)
BASELINE = "raw ChaCha20-Poly1305 encrypt+decrypt, 1 KiB, one key"

# Issue 5: a Double Ratchet message (encrypt + decrypt, 1 KiB) must run at >= 0.20 x the
# raw AEAD rate measured beside it.
TARGET_RATCHET_RATIO = 0.20


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed_rate(batch: Callable[[int], None], n: int) -> float:
    """Operations per second of batch(n), with the garbage collector paused (both sides)."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        batch(n)
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    return n / elapsed


def raw_aead_batch() -> Callable[[int], None]:
    aead = ChaCha20Poly1305(os.urandom(32))
    nonce = os.urandom(12)
    aad = os.urandom(104)  # the size of a DM's AD || HEADER

    def batch(n: int) -> None:
        for _ in range(n):
            aead.decrypt(nonce, aead.encrypt(nonce, PAYLOAD, aad), aad)

    return batch


def paired(name: str, make_batch: Callable[[], Callable[[int], None]], n: int, n_base: int,
           rounds: int) -> tuple[float, float]:
    """Median rates of the metric and of the baseline, measured in alternating rounds."""
    baseline = raw_aead_batch()
    baseline(100)  # warm up
    values, bases = [], []
    for r in range(rounds):
        bases.append(timed_rate(baseline, n_base))
        values.append(timed_rate(make_batch(), n))
        progress(f"  {name} round {r + 1}/{rounds}: {values[-1]:,.0f}/s "
                 f"(raw AEAD {bases[-1]:,.0f}/s)")
    return statistics.median(values), statistics.median(bases)


def result(metric: str, value: float, unit: str, baseline_value: float,
           target_ratio: float | None) -> dict[str, Any]:
    ratio = value / baseline_value
    out: dict[str, Any] = {
        "metric": metric, "value": round(value, 1), "unit": unit, "baseline": BASELINE,
        "baseline_value": round(baseline_value, 1), "ratio": round(ratio, 4),
    }
    if target_ratio is not None:
        out["target_ratio"] = target_ratio
        out["ok"] = ratio >= target_ratio
    return out


# --- workloads ------------------------------------------------------------------------------

ALICE_ID = uuid.UUID(int=0xA)
BOB_ID = uuid.UUID(int=0xB)
CHANNEL = uuid.UUID(int=0xC)


def _bob_keys() -> LocalKeys:
    keys = LocalKeys(IdentityKeyPair.generate())
    keys.add_signed_prekey(1)
    keys.add_one_time_prekeys(0, 1)
    return keys


def x3dh_batch() -> Callable[[int], None]:
    """Both sides of X3DH with a one-time prekey, the SPK signature check included."""
    alice = IdentityKeyPair.generate()
    bob = _bob_keys()
    bundle = bob.bundle(1, 0)
    spk, opk = bob.signed_prekeys[1], bob.one_time_prekeys[0]

    def batch(n: int) -> None:
        for _ in range(n):
            init = x3dh.initiate(alice, bundle)
            x3dh.respond(bob.identity, spk, opk, alice.public, init.ephemeral_public)

    return batch


def _established_stores() -> tuple[SessionStore, SessionStore]:
    bob_keys = _bob_keys()
    alice, bob = SessionStore(LocalKeys(IdentityKeyPair.generate())), SessionStore(bob_keys)
    alice.initiate(BOB_ID, bob_keys.bundle(1, 0))
    bob.decrypt(ALICE_ID, alice.encrypt(BOB_ID, b"hello"))
    alice.decrypt(BOB_ID, bob.encrypt(ALICE_ID, b"hi"))
    return alice, bob


def ratchet_stream_batch() -> Callable[[int], None]:
    """SessionStore.encrypt on one side, SessionStore.decrypt on the other (the client's
    API: peer lookup, envelope and session selection included)."""
    a, b = _established_stores()

    def batch(n: int) -> None:
        for _ in range(n):
            b.decrypt(ALICE_ID, a.encrypt(BOB_ID, PAYLOAD))

    return batch


def ratchet_turns_batch() -> Callable[[int], None]:
    """The direction changes with every message: each decrypt is a DH ratchet step."""
    a, b = _established_stores()

    def batch(n: int) -> None:
        for i in range(n):
            if i & 1:
                a.decrypt(BOB_ID, b.encrypt(ALICE_ID, PAYLOAD))
            else:
                b.decrypt(ALICE_ID, a.encrypt(BOB_ID, PAYLOAD))

    return batch


def _group() -> tuple[SenderKeyStore, SenderKeyStore]:
    sender, receiver = SenderKeyStore(ALICE_ID), SenderKeyStore(BOB_ID)
    receiver.process_distribution(CHANNEL, ALICE_ID, sender.start_chain(CHANNEL))
    return sender, receiver


def sender_encrypt_batch() -> Callable[[int], None]:
    sender, _ = _group()

    def batch(n: int) -> None:
        for _ in range(n):
            sender.encrypt(CHANNEL, PAYLOAD)

    return batch


def sender_decrypt_factory(n: int) -> Callable[[], Callable[[int], None]]:
    def make() -> Callable[[int], None]:
        sender, receiver = _group()
        envelopes = [sender.encrypt(CHANNEL, PAYLOAD) for _ in range(n)]

        def batch(count: int) -> None:
            for envelope in envelopes[:count]:
                receiver.decrypt(CHANNEL, ALICE_ID, envelope)

        return batch

    return make


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="finish in under 60 s")
    args = parser.parse_args()
    quick: bool = args.quick
    rounds = 9 if quick else 21
    scale = 2 if quick else 8
    n_base = 20_000 * scale
    results = []

    progress("X3DH handshakes (initiator + responder)")
    value, base = paired("x3dh", x3dh_batch, 150 * scale, n_base, rounds)
    results.append(result("x3dh_handshakes", value, "handshakes/s", base, None))

    progress("Double Ratchet, 1 KiB, one direction (encrypt + decrypt)")
    value, base = paired("ratchet", ratchet_stream_batch, 4_000 * scale, n_base, rounds)
    results.append(result("ratchet_roundtrip_1kib", value, "msgs/s", base,
                          TARGET_RATCHET_RATIO))

    progress("Double Ratchet, 1 KiB, direction changes every message")
    value, base = paired("ratchet turns", ratchet_turns_batch, 300 * scale, n_base, rounds)
    results.append(result("ratchet_roundtrip_1kib_dh_step_each", value, "msgs/s", base, None))

    progress("Sender keys, 1 KiB, encrypt (incl. Ed25519 signature)")
    value, base = paired("sender encrypt", sender_encrypt_batch, 1_000 * scale, n_base, rounds)
    results.append(result("sender_key_encrypt_1kib", value, "msgs/s", base, None))

    progress("Sender keys, 1 KiB, decrypt (incl. strict signature verification)")
    n = 600 * scale
    value, base = paired("sender decrypt", sender_decrypt_factory(n), n, n_base, rounds)
    results.append(result("sender_key_decrypt_1kib", value, "msgs/s", base, None))

    print(json.dumps({"bench": "crypto", "quick": quick, "results": results}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
