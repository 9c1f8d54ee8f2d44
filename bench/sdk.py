"""The client SDK (issue 15) against a real server: what E2E costs a client, side by side.

- group sends: one SDK client sending to a channel of 3 with sender keys (encrypt, the key
  file saved before the message leaves and after the reply) against the same client
  sending `encryption: none` over the same route (baseline);
- DM round trip: alice sends over the Double Ratchet, bob receives it live over /ws and
  decrypts it (p50 latency), against the same round trip in plain text.

The issue sets no target: the ratios are reported for the docs (docs/sdk.md).
With --quick: 40 messages per measurement.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _common import percentile, progress, ratio_result, run_database_bench
from auth import free_port, server, server_env

from chatalot_sdk import Client
from chatalot_sdk.models import Message

PASSWORD = "correct horse battery staple"
LIFTED = {
    "CHATALOT_RATE_LIMIT_GENERAL_PER_SEC": "1000000",
    "CHATALOT_RATE_LIMIT_GENERAL_BURST": "1000000",
    "CHATALOT_RATE_LIMIT_AUTH_PER_SEC": "1000000", "CHATALOT_RATE_LIMIT_AUTH_BURST": "1000000",
    "CHATALOT_ARGON2_MEMORY_KIB": "8192", "CHATALOT_ARGON2_TIME_COST": "1",
}


async def register(base: str, tmp: Path, name: str) -> Client:
    username = f"{name}{uuid.uuid4().hex[:8]}"
    return await Client.register(base, username, PASSWORD, tmp / username, "passphrase",
                                 one_time_prekeys=20)


async def sends_per_second(client: Client, channel: uuid.UUID, count: int,
                           encryption: Any) -> float:
    start = time.perf_counter()
    for i in range(count):
        await client.messages.send_text(channel, f"message {i}", encryption=encryption)
    return count / (time.perf_counter() - start)


async def round_trips(alice: Client, bob: Client, dm: uuid.UUID, count: int,
                      encryption: Any) -> list[float]:
    """(ms) from alice's send to bob's decrypted message, one at a time."""
    live = bob.live(min_delay=0.05)
    arrived: asyncio.Queue[Message] = asyncio.Queue()

    async def follow() -> None:
        async for item in live:
            if isinstance(item, Message) and item.channel_id == dm:
                await arrived.put(item)

    task = asyncio.create_task(follow())
    await asyncio.wait_for(live.connected.wait(), 10)
    times = []
    try:
        for i in range(count):
            start = time.perf_counter()
            await alice.messages.send_text(dm, f"ping {i}", encryption=encryption,
                                           peer=bob.user_id)
            got = await asyncio.wait_for(arrived.get(), 10)
            assert got.text == f"ping {i}", got
            times.append((time.perf_counter() - start) * 1000)
    finally:
        await live.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return times


async def run(quick: bool, url: str) -> list[dict[str, Any]]:
    count = 40 if quick else 400
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="chatalot-bench-sdk-") as tmp_dir:
        tmp = Path(tmp_dir)
        with server(server_env(url, str(tmp / "data"), port, **LIFTED)):
            base = f"http://127.0.0.1:{port}"
            alice, bob, carol = [await register(base, tmp, n) for n in ("a", "b", "c")]
            try:
                community = await alice.spaces.create_community("bench", public=True)
                group = await alice.spaces.create_group(community, "g")
                channel = await alice.spaces.create_channel(group, "c")
                plain_channel = await alice.spaces.create_channel(group, "p")
                for member in (bob, carol):
                    await member.spaces.join_community(community)
                dm = await alice.spaces.dm(bob.user_id)
                progress(f"{count} group sends each way ...")
                await alice.messages.send_text(channel, "warm up", encryption="sender_key")
                e2e = await sends_per_second(alice, channel, count, "sender_key")
                plain = await sends_per_second(alice, plain_channel, count, "none")
                progress(f"sender key {e2e:.0f}/s, plain {plain:.0f}/s; DM round trips ...")
                dm_times = await round_trips(alice, bob, dm, count, "double_ratchet")
                plain_times = await round_trips(alice, bob, plain_channel, count, "none")
            finally:
                for client in (alice, bob, carol):
                    await client.close()
    return [
        ratio_result("group_sends_sender_key", e2e, "messages/s",
                     "the same client sending encryption none", plain, None),
        ratio_result("dm_round_trip_p50", percentile(dm_times, 50), "ms",
                     "the same round trip in plain text", percentile(plain_times, 50), None,
                     lower_is_better=True),
    ]


def main() -> None:
    run_database_bench("sdk", __doc__.splitlines()[0], run)


if __name__ == "__main__":
    main()
