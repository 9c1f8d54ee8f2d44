"""Queries while a rebuild runs (issue 21): the server (`chatalot serve`) in a subprocess on
its own scratch database, 4 clients reading `GET /api/account/me` back to back and one
writer doing read-your-writes (a profile change, then `/me` at its position), first with
no rebuild, then while `event_stats` is rebuilt:

- out of process: `chatalot projections rebuild event_stats` (the documented way), paced
  (its default share) and unpaced (`--share 1`), beside a server that hands rebuilds off;
- in process: the server builds it itself, unpaced (as before issue 21) and paced (the
  share a serving node falls back to).

With --quick: 20,000 events, and only the documented way (out of process, paced).

Only the requests sent while the build loads count (from its first batch to its
flip). Also sampled: the longest rebuild batch transaction (it holds every log reader).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from _common import ROOT, percentile, progress
from auth import free_port, key_fields, server, server_env

from chatalot.bootstrap import build_registry
from chatalot.db import drop_database, ensure_database, make_pool, with_database
from event_store import EventRedacted, EventStore, NewEvent
from event_store.migrations import migrate

READERS = 4
PROJECTOR = "event_stats"
LIFTED = {
    "CHATALOT_RATE_LIMIT_GENERAL_PER_SEC": "1000000",
    "CHATALOT_RATE_LIMIT_GENERAL_BURST": "1000000",
    "CHATALOT_RATE_LIMIT_AUTH_PER_SEC": "1000000", "CHATALOT_RATE_LIMIT_AUTH_BURST": "1000000",
    "CHATALOT_ARGON2_MEMORY_KIB": "8192", "CHATALOT_ARGON2_TIME_COST": "1",
}


@dataclass
class Phase:
    name: str
    reads: list[float] = field(default_factory=list)
    """(ms) of the readers' requests inside the window"""
    ryw: list[float] = field(default_factory=list)
    """(ms) of the writer's read-your-writes reads inside the window"""
    seconds: float = 0.0
    events: int = 0
    longest_tx_ms: float = 0.0

    @property
    def req_per_s(self) -> float:
        return len(self.reads) / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        text = (f"{self.name}: {self.req_per_s:,.0f} req/s, p50"
                f" {percentile(self.reads, 50):.1f} ms, p99 {percentile(self.reads, 99):.1f} ms;"
                f" read-your-writes p99 {percentile(self.ryw, 99):.0f} ms, max"
                f" {max(self.ryw, default=float('nan')):.0f} ms ({len(self.ryw)})")
        if self.events:
            text += (f"; {self.events:,} events in {self.seconds:.1f} s ="
                     f" {self.events / self.seconds:,.0f} events/s, longest batch"
                     f" transaction {self.longest_tx_ms:.0f} ms")
        return text


async def seed(url: str, total: int) -> None:
    """Redaction records: a type every registry (the server's included) decodes."""
    pool = make_pool(url, min_size=4, max_size=6)
    await pool.open(wait=True)
    store = EventStore(pool, build_registry())
    await store.start()

    async def writer(w: int) -> None:
        for i in range(w, total // 20, 4):
            await store.append(f"redaction-{i % 500}", [NewEvent(EventRedacted(
                uuid.uuid4(), f"message-{i}", "MessageSent", "seed")) for _ in range(20)])

    try:
        await asyncio.gather(*(writer(w) for w in range(4)))
    finally:
        await store.close()
        await pool.close()


class Load:
    """Readers and a writer, recording (start time, latency) until stopped."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.auth = {"Authorization": f"Bearer {token}"}
        self.reads: list[tuple[float, float]] = []
        self.ryw: list[tuple[float, float]] = []
        self.errors = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def _reader(self) -> None:
        while not self._stop.is_set():
            t = time.perf_counter()
            r = await self.http.get("/api/account/me", headers=self.auth)
            self.reads.append((t, (time.perf_counter() - t) * 1000))
            self.errors += r.status_code != 200

    async def _writer(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            r = await self.http.patch("/api/account/profile", headers=self.auth,
                                      json={"bio": f"bio {n}"})
            position = r.json().get("position") if r.status_code == 200 else None
            if position is None:
                self.errors += 1
                continue
            t = time.perf_counter()
            r = await self.http.get("/api/account/me",
                                    headers={**self.auth, "Chatalot-Min-Position": position})
            self.ryw.append((t, (time.perf_counter() - t) * 1000))
            self.errors += r.status_code != 200
            await asyncio.sleep(0.02)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._reader()) for _ in range(READERS)]
        self._tasks.append(asyncio.create_task(self._writer()))

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def window(self, phase: Phase, start: float, end: float) -> None:
        phase.reads = [ms for t, ms in self.reads if start <= t and t + ms / 1000 <= end]
        phase.ryw = [ms for t, ms in self.ryw if start <= t and t + ms / 1000 <= end]
        phase.seconds = end - start


@contextlib.asynccontextmanager
async def loaded(base: str, token: str) -> AsyncIterator[Load]:
    limits = httpx.Limits(max_connections=READERS + 2, max_keepalive_connections=READERS + 2)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        load = Load(http, token)
        load.start()
        try:
            yield load
        finally:
            await load.stop()


async def build_row(conn: psycopg.AsyncConnection[Any], after: int) -> tuple[Any, ...] | None:
    cur = await conn.execute(
        "SELECT b.build, b.state, b.events_done, v.active_build = b.build FROM projection_builds b"
        " JOIN projection_versions v USING (name) WHERE b.name = %s AND b.build > %s"
        " ORDER BY b.build DESC LIMIT 1", (PROJECTOR, after))
    return await cur.fetchone()


async def newest_build(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT coalesce(max(build), 0) FROM projection_builds WHERE name = %s", (PROJECTOR,))
        row = await cur.fetchone()
        return int(row[0]) if row else 0


async def watch_build(url: str, after: int, limit: float) -> tuple[float, float, int, float]:
    """Until the build after `after` flips: (first batch seen at, flipped at, events it
    loaded, the longest batch transaction sampled in ms)."""
    started = flipped = None
    longest = 0.0
    done = 0
    deadline = time.perf_counter() + limit
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while time.perf_counter() < deadline:
            row = await build_row(conn, after)
            now = time.perf_counter()
            if row is not None and row[2] > 0 and started is None:
                started = now
            if row is not None:
                done = row[2]
            if row is not None and row[3]:
                flipped = now
                break
            cur = await conn.execute(
                "SELECT coalesce(max(extract(epoch FROM clock_timestamp() - xact_start)), 0)"
                " FROM pg_stat_activity WHERE application_name LIKE %s"
                " AND backend_xid IS NOT NULL", (f"projection-{PROJECTOR}-b%-write",))
            found = await cur.fetchone()
            longest = max(longest, float(found[0]) * 1000 if found else 0.0)
            await asyncio.sleep(0.005)
    if started is None or flipped is None:
        raise RuntimeError(f"the rebuild did not finish within {limit:.0f} s")
    return started, flipped, done, longest


async def rebuild_phase(name: str, url: str, base: str, token: str, trigger: Any,
                        limit: float) -> Phase:
    phase = Phase(name)
    after = await newest_build(url)
    async with loaded(base, token) as load:
        await asyncio.sleep(0.5)
        proc = await trigger()
        try:
            started, flipped, phase.events, phase.longest_tx_ms = await watch_build(
                url, after, limit)
        finally:
            if proc is not None:
                await asyncio.to_thread(proc.wait, 60)
    load.window(phase, started, flipped)
    progress("  " + phase.summary())
    return phase


def cli_rebuild(url: str, data_dir: str, port: int, *args: str) -> subprocess.Popen[bytes]:
    env = server_env(url, data_dir, port)
    return subprocess.Popen(
        [sys.executable, "-c", "from chatalot.cli.main import main; main()", "projections",
         "rebuild", PROJECTOR, *args],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_live(base: str, limit: float = 180) -> None:
    """Every projector live and caught up (the server's health says so)."""
    deadline = time.perf_counter() + limit
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        while time.perf_counter() < deadline:
            found = (await http.get("/api/health")).json()["projections"]
            if all(p["state"] == "live" and p["lag_events"] == 0 for p in found.values()):
                return
            await asyncio.sleep(0.2)
    raise RuntimeError("the projections did not catch up")


async def owner_token(base: str) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        r = await http.post("/api/auth/register", json={
            "username": f"owner{uuid.uuid4().hex[:8]}", "password": "bench password, long enough",
            **key_fields()})
        r.raise_for_status()
        return str(r.json()["access_token"])


async def admin_rebuild(base: str, token: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        r = await http.post(f"/api/admin/projections/{PROJECTOR}/rebuild",
                            headers={"Authorization": f"Bearer {token}"})
        r.raise_for_status()


OUT_PACED = "out of process, paced (default share)"
OUT_UNPACED = "out of process, unpaced"
IN_UNPACED = "in process, unpaced (before issue 21)"
IN_PACED = "in process, paced (fallback share)"


async def measure(admin_url: str, quick: bool, only: set[str] | None = None) -> list[Phase]:
    """The phases: with --quick only the documented way; `only` picks some by name."""
    total = 20_000 if quick else 325_000  # the log: about 325,000 events
    wanted = only or ({OUT_PACED} if quick else {OUT_PACED, OUT_UNPACED, IN_UNPACED, IN_PACED})
    url = with_database(admin_url, f"chatalot_bench_serving_{uuid.uuid4().hex[:8]}")
    ensure_database(url)
    phases: list[Phase] = []
    try:
        from chatalot.db import MIGRATIONS_DIR

        await migrate(url, MIGRATIONS_DIR)
        progress(f"queries during a rebuild: seeding {total:,} events ...")
        await seed(url, total)
        with tempfile.TemporaryDirectory(prefix="chatalot-bench-") as data_dir:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            # a serving node as configured by default: rebuilds handed off to a process
            with server(server_env(url, data_dir, port, **LIFTED)):
                token = await owner_token(base)
                progress("  first build of every projector ...")
                await wait_live(base)
                idle = Phase("no rebuild")
                async with loaded(base, token) as load:
                    await asyncio.sleep(0.5)
                    start = time.perf_counter()
                    await asyncio.sleep(3.0 if quick else 10.0)
                    end = time.perf_counter()
                load.window(idle, start, end)
                progress("  " + idle.summary())
                phases.append(idle)
                runs = [(OUT_PACED, ()), (OUT_UNPACED, ("--share", "1"))]
                for label, args in [run for run in runs if run[0] in wanted]:
                    async def start_cli(args: tuple[str, ...] = args) -> Any:
                        return cli_rebuild(url, data_dir, port, *args)

                    phases.append(await rebuild_phase(label, url, base, token, start_cli, 600))
                    await asyncio.sleep(6.0)  # the replaced build is dropped
            in_process = [(IN_UNPACED, "1"), (IN_PACED, None)]
            for label, share in [run for run in in_process if run[0] in wanted]:
                env = {**LIFTED, "CHATALOT_REBUILD_HAND_OFF_SECS": "0"}
                if share is not None:
                    env["CHATALOT_REBUILD_SHARE"] = share
                with server(server_env(url, data_dir, port, **env)):
                    await wait_live(base)

                    async def start_here() -> Any:
                        await admin_rebuild(base, token)
                        return None

                    phases.append(await rebuild_phase(label, url, base, token, start_here, 600))
                    await asyncio.sleep(6.0)
    finally:
        with contextlib.suppress(Exception):
            drop_database(url)
    return phases

