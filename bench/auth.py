"""Authentication costs and the perimeter under a login flood (issue 4).

    python bench/auth.py [--quick]

Starts the server (`chatalot serve`) in a subprocess on a scratch database (an embedded
PostgreSQL when DATABASE_URL is unset) with the configured Argon2id parameters (default
64 MiB, t=3, p=4; CHATALOT_ARGON2_* override them), then measures:

- login_per_sec: successful logins/s through HTTP (the auth rate limit lifted for this
  phase only), beside raw argon2-cffi verifications/s of the same hash with the same
  parameters and the same concurrency, in this process.
- token_verify_per_sec: access-token checks/s of TokenService.verify_access (EdDSA
  signature, iss/aud/exp), beside raw PyJWT decoding of the same token with the same key;
  and authenticate_per_sec: the whole check REST and the WebSocket gateway run
  (`authenticate_access_token`: JWT plus the user and session lookup).
- health_p99_under_login_flood: p99 latency of GET /api/health while one client IP floods
  POST /api/auth/login with default rate limits; the flood is refused with cheap 429s
  before it reaches Argon2, so the server stays responsive. Also reported: the share of
  the flood answered 429 and the server's CPU use during the flood (of all cores).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import argon2
import httpx
import jwt
from _common import (
    ROOT,
    percentile,
    progress,
    ratio_result,
    run_database_bench,
    target_result,
)

from chatalot.auth.principal import authenticate_access_token
from chatalot.bootstrap import services as open_services
from chatalot.config import load_settings
from chatalot_crypto.keys import IdentityKeyPair, OneTimePrekey, SignedPrekey

# Targets set by issue 4 (accounts and the perimeter), on a 2-core machine.
TARGET_HEALTH_P99_MS = 50.0  # GET /api/health p99 while one IP floods the login route
TARGET_LOGIN_RATIO = 0.7  # HTTP logins/s vs raw Argon2id verifications/s, same parameters
TARGET_VERIFY_RATIO = 0.7  # verify_access (PyJWT + typed claims) vs raw PyJWT EdDSA decode
TARGET_AUTHENTICATE_PER_SEC = 1000.0  # JWT + user/session lookup, one task
TARGET_FLOOD_CPU_SHARE = 0.75  # server CPU during the flood, share of all cores

PASSWORD = "bench password, long enough"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def key_fields() -> dict[str, Any]:
    identity = IdentityKeyPair.generate()
    signed = SignedPrekey.generate(identity, 1)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return {
        "identity_key": b64(identity.public),
        "signed_prekey": {"key_id": 1, "public_key": b64(signed.public),
                          "signature": b64(signed.signature)},
        "one_time_prekeys": [{"key_id": i, "public_key": b64(OneTimePrekey.generate(i).public)}
                             for i in range(1, 4)],
    }


def server_env(url: str, data_dir: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_URL")}
    env.update({
        "DATABASE_URL": url, "CHATALOT_DATA_DIR": data_dir, "HOST": "127.0.0.1",
        "PORT": str(port), "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "REGISTRATION_MODE": "open", "PYTHONPATH": str(ROOT),
    })
    env.update(extra)
    return env


@contextlib.contextmanager
def server(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    # stderr goes to a file, never a pipe nobody drains: a full pipe blocks the server's
    # event loop in its next log write (the 16-sender phase of bench/messaging.py did)
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from chatalot.cli.main import main; main()", "serve",
             "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log,
        )
        try:
            base = f"http://127.0.0.1:{env['PORT']}"
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError("the server exited: "
                                       + log.read().decode(errors="replace")[-2000:])
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start within 60 s")
                time.sleep(0.2)
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def client(base: str, connections: int = 64) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as c:
        yield c


async def register(http: httpx.AsyncClient, keys: dict[str, Any]) -> dict[str, Any]:
    r = await http.post("/api/auth/register", json={
        "username": f"bench{uuid.uuid4().hex[:10]}", "password": PASSWORD, **keys})
    r.raise_for_status()
    return dict(r.json())


async def login_throughput(base: str, users: list[str], duration: float, concurrency: int
                           ) -> float:
    async with client(base) as http:
        done = 0
        stop = time.perf_counter() + duration

        async def worker(i: int) -> None:
            nonlocal done
            while time.perf_counter() < stop:
                r = await http.post("/api/auth/login", json={
                    "username": users[(i + done) % len(users)], "password": PASSWORD})
                r.raise_for_status()
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        return done / (time.perf_counter() - started)


def raw_verify_rate(parameters: dict[str, int], duration: float, concurrency: int) -> float:
    hasher = argon2.PasswordHasher(memory_cost=parameters["memory_kib"],
                                   time_cost=parameters["time_cost"],
                                   parallelism=parameters["parallelism"])
    stored = hasher.hash(PASSWORD)
    import concurrent.futures

    count = 0
    stop = time.perf_counter() + duration

    def work() -> int:
        n = 0
        while time.perf_counter() < stop:
            hasher.verify(stored, PASSWORD)
            n += 1
        return n

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        count = sum(pool.map(lambda _: work(), range(concurrency)))
    return count / (time.perf_counter() - started)


def rate(fn: Any, duration: float) -> float:
    n = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < duration:
        for _ in range(100):
            fn()
        n += 100
    return n / elapsed


def flood_process(base: str, duration: float, concurrency: int, out: Any) -> None:
    """In its own process (so its CPU use does not delay the latency probe): flood the
    login route from one IP with guesses; report (requests, 429s)."""

    async def go() -> tuple[int, int]:
        total = limited = 0
        stop = time.perf_counter() + duration
        async with client(base, concurrency + 4) as http:
            async def attacker(i: int) -> None:
                nonlocal total, limited
                n = 0
                while time.perf_counter() < stop:
                    n += 1
                    r = await http.post("/api/auth/login", json={
                        "username": f"victim{i}x{n % 50}", "password": "guessing-it"})
                    total += 1
                    limited += r.status_code == 429
            await asyncio.gather(*(attacker(i) for i in range(concurrency)))
        return total, limited

    out.put(asyncio.run(go()))


async def flood(base: str, pid: int, duration: float, concurrency: int, health_rate: float
                ) -> tuple[list[float], int, int, float]:
    """Flood the login route from one IP (another process); meanwhile time GET
    /api/health from here."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    attacker = ctx.Process(target=flood_process, args=(base, duration, concurrency, out))
    attacker.start()
    await asyncio.sleep(1.0)  # the flood first
    cpu_before, wall_before = cpu_seconds(pid), time.perf_counter()
    latencies = await idle_health(base, duration - 1.5, health_rate)
    cpu = (cpu_seconds(pid) - cpu_before) / (time.perf_counter() - wall_before)
    total, limited = await asyncio.to_thread(out.get, True, duration + 30)
    await asyncio.to_thread(attacker.join, 30)
    return latencies, total, limited, cpu / (os.cpu_count() or 1)


async def idle_health(base: str, duration: float, health_rate: float) -> list[float]:
    latencies: list[float] = []
    async with client(base, 2) as probe:
        stop = time.perf_counter() + duration
        while time.perf_counter() < stop:
            t = time.perf_counter()
            await probe.get("/api/health")
            latencies.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(max(0.0, 1 / health_rate - (time.perf_counter() - t)))
    return latencies


async def token_checks(url: str, data_dir: str, port: int, access: str, duration: float
                       ) -> tuple[float, float, float]:
    env = server_env(url, data_dir, port, CHATALOT_RUN_PROJECTIONS="false")
    settings = load_settings(env)
    async with open_services(settings, url) as services:
        tokens = services.accounts.tokens
        public = tokens._public  # the same key the server verifies with
        ours = rate(lambda: tokens.verify_access(access), duration)
        raw = rate(lambda: jwt.decode(access, public, algorithms=["EdDSA"],
                                      audience="chatalot", issuer=tokens.issuer), duration)
        n = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < duration:
            await authenticate_access_token(services.accounts, access)
            n += 1
    return ours, raw, n / elapsed


async def run(quick: bool, url: str) -> list[dict[str, Any]]:
    phase = 4.0 if quick else 15.0
    results: list[dict[str, Any]] = []
    keys = key_fields()
    with tempfile.TemporaryDirectory(prefix="chatalot-bench-auth-") as data_dir:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        # Phase 1: throughput, with the auth rate limit lifted (one client IP).
        env = server_env(url, data_dir, port, CHATALOT_RATE_LIMIT_AUTH_PER_SEC="100000",
                         CHATALOT_RATE_LIMIT_AUTH_BURST="100000",
                         CHATALOT_RATE_LIMIT_GENERAL_PER_SEC="100000",
                         CHATALOT_RATE_LIMIT_GENERAL_BURST="100000")
        settings = load_settings(env)
        sec = settings.security
        parameters = {"memory_kib": sec.argon2_memory_kib, "time_cost": sec.argon2_time_cost,
                      "parallelism": sec.argon2_parallelism}
        concurrency = sec.hash_concurrency or max(1, (os.cpu_count() or 2) // 2)
        progress(f"Argon2id {parameters}, {concurrency} hash(es) at a time")
        progress("starting the server (limits lifted) ...")
        with server(env):
            async with client(base) as http:
                users = [await register(http, keys) for _ in range(4)]
            names = [u["user"]["username"] for u in users]
            progress("logins through HTTP ...")
            logins = await login_throughput(base, names, phase, concurrency * 4)
            progress(f"  {logins:.1f} logins/s")
        progress("raw Argon2id verifications ...")
        raw = raw_verify_rate(parameters, phase, concurrency)
        progress(f"  {raw:.1f} verifications/s")
        results.append(ratio_result(
            "login_per_sec", logins, "logins/s",
            f"raw argon2-cffi verify, m={parameters['memory_kib']} KiB"
            f" t={parameters['time_cost']} p={parameters['parallelism']},"
            f" {concurrency} thread(s)", raw, TARGET_LOGIN_RATIO))

        progress("token checks in process ...")
        ours, raw_jwt, full = await token_checks(url, data_dir, port, users[0]["access_token"],
                                                 phase / 2)
        progress(f"  verify_access {ours:,.0f}/s, raw PyJWT {raw_jwt:,.0f}/s,"
                 f" authenticate {full:,.0f}/s")
        results.append(ratio_result("token_verify_per_sec", ours, "tokens/s",
                                    "raw PyJWT EdDSA decode, same token and key", raw_jwt,
                                    TARGET_VERIFY_RATIO))
        results.append(target_result("authenticate_per_sec", full, "tokens/s",
                                     TARGET_AUTHENTICATE_PER_SEC, lower_is_better=False))

        # Phase 2: the perimeter with its default limits.
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        progress("starting the server (default limits) ...")
        with server(server_env(url, data_dir, port)) as proc:
            progress("health latency, idle ...")
            idle = await idle_health(base, phase / 2, 50)
            progress("health latency under a login flood from one IP ...")
            latencies, total, limited, cpu = await flood(base, proc.pid, phase * 1.5,
                                                         32, 50)
        p99, idle_p99 = percentile(latencies, 99), percentile(idle, 99)
        progress(f"  flood {total / (phase * 1.5):,.0f} req/s, {limited / max(total, 1):.1%}"
                 f" answered 429; server CPU {cpu:.0%} of the machine; health p99"
                 f" {p99:.1f} ms (idle {idle_p99:.1f} ms)")
        results.append(target_result("health_p99_under_login_flood", p99, "ms",
                                     TARGET_HEALTH_P99_MS))
        results.append(target_result("health_p99_idle", idle_p99, "ms", TARGET_HEALTH_P99_MS))
        results.append(target_result("login_flood_share_429", limited / max(total, 1),
                                     "fraction", 0.9, lower_is_better=False))
        results.append(target_result("login_flood_server_cpu", cpu, "share of all cores",
                                     TARGET_FLOOD_CPU_SHARE))
    return results


def main() -> None:
    run_database_bench("auth", __doc__.splitlines()[0], run)


if __name__ == "__main__":
    main()
