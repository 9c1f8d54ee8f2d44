"""`chatalot projections run|status|rebuild|reset` end to end, as an operator runs them."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid

from chatalot.bootstrap import build_registry
from chatalot.db import make_pool
from event_store import EventRedacted, EventStore, NewEvent


def chatalot(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chatalot.cli.main", *args],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout, check=False,
    )


def seed(database_url: str, count: int) -> None:
    async def run() -> None:
        pool = make_pool(database_url, min_size=1, max_size=2)
        await pool.open(wait=True)
        store = EventStore(pool, build_registry())
        await store.start()
        for i in range(count):
            # the redaction record is an event type every registry knows
            await store.append(f"redaction-{i % 5}", [NewEvent(EventRedacted(
                uuid.uuid4(), f"x-{i}", "Noted", "seed")) for _ in range(10)])
        await pool.close()

    asyncio.run(run())


def status(env: dict[str, str]) -> dict[str, dict]:
    result = chatalot("projections", "status", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return {item["name"]: item for item in json.loads(result.stdout)}


def test_status_rebuild_reset(database_url, tmp_path):
    env = {"DATABASE_URL": database_url, "CHATALOT_DATA_DIR": str(tmp_path)}
    seed(database_url, 30)
    assert status(env)["event_stats"]["state"] == "stopped"  # never built, nobody runs it

    first = chatalot("projections", "rebuild", "event_stats", env=env)
    assert first.returncode == 0, first.stderr
    live = status(env)["event_stats"]
    assert (live["state"], live["lag_events"], live["version"]) == ("live", 0, 1)

    again = chatalot("projections", "rebuild", "event_stats", "--share", "0.5", env=env)
    assert again.returncode == 0, again.stderr
    assert "rebuild requested" in again.stderr
    # the closing line: events, duration, average rate
    assert re.search(r"event_stats: 300 events in [\d.]+ s \([\d,]+ events/s on average\);"
                     r" build \d+ answers queries", again.stderr), again.stderr
    assert status(env)["event_stats"]["position"] == live["position"]
    assert status(env)["event_stats"]["rebuild"] is None
    bad = chatalot("projections", "rebuild", "event_stats", "--share", "2", env=env)
    assert bad.returncode == 2 and "share between 0" in bad.stderr

    table = chatalot("projections", "status", env=env)
    assert table.returncode == 0 and "event_stats" in table.stdout and "live" in table.stdout

    unknown = chatalot("projections", "rebuild", "nope", env=env)
    assert unknown.returncode == 1 and "no projector named 'nope'" in unknown.stderr
    refused = chatalot("projections", "reset", "event_stats", env=env)
    assert refused.returncode == 1 and "--yes" in refused.stderr
    reset = chatalot("projections", "reset", "event_stats", "--yes", env=env)
    assert reset.returncode == 0 and "dropped event_stats_v1_b" in reset.stdout
    assert status(env)["event_stats"]["state"] == "stopped"


def test_run_follows_the_log_until_stopped(database_url, tmp_path):
    env = {"DATABASE_URL": database_url, "CHATALOT_DATA_DIR": str(tmp_path)}
    seed(database_url, 5)
    process = subprocess.Popen(
        [sys.executable, "-m", "chatalot.cli.main", "projections", "run"],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while status(env)["event_stats"]["state"] != "live":
            assert time.monotonic() < deadline, "never went live"
            time.sleep(0.2)
        seed(database_url, 2)
        while status(env)["event_stats"]["lag_events"]:
            assert time.monotonic() < deadline, "did not follow"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "projections stopped" in err
