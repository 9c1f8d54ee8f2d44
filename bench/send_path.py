"""The send path alone: SQL statements per send and send throughput (issue 13 item 7).

    python bench/send_path.py [--quick]

The send phases of bench/messaging.py without its seeding, reads and rebuilds, plus a
count of the SQL statements the server runs per sequential send (`log_statement = all`
on the embedded PostgreSQL, counted in its log while N sends run one after another and
their messages are visible in history), and per send while 16 senders send at once.
Needs the embedded PostgreSQL (DATABASE_URL unset): it reads the server's log file.
CHATALOT_BENCH_PORT picks the server's port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
from _common import emit, parse_args, progress, ratio_result, target_result
from auth import free_port, server, server_env
from messaging import (
    LIFTED,
    TARGET_SEND_16,
    TARGET_SEND_RATIO_16,
    LeanSender,
    auth,
    b64,
    ok,
    raw_append_rate,
    send_rate,
    setup,
)

from chatalot.bootstrap import build_registry
from chatalot.db import embedded_postgres, ensure_database, make_pool, with_database
from event_store import EventStore, Position

COUNTED = 200
COUNTED_EACH = 25  # per sender, 16 senders
_STATEMENT = re.compile(r"LOG:  (statement|execute [^:]*):")
_LINE = re.compile(r"LOG:  (?:statement|execute [^:]*): (.*(?:\n\t.*)*)")


def _cpu_secs(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _log_file(pg_dir: Path) -> Path:
    log = pg_dir / "log"  # where pgserver has pg_ctl write the server's log
    if not log.is_file():
        raise RuntimeError(f"no PostgreSQL log file at {log}")
    return log


@contextlib.asynccontextmanager
async def _statements_logged(admin: str, pg_dir: Path) -> AsyncIterator[Callable[[], str]]:
    """PostgreSQL logs every statement inside the block; the callable returns what it
    logged so far (call it after the block, once the late checkpoints are in)."""
    log = _log_file(pg_dir)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET log_statement = 'all'")
        conn.execute("SELECT pg_reload_conf()")
    await asyncio.sleep(0.5)
    before = log.stat().st_size

    def logged() -> str:
        with log.open("rb") as f:
            f.seek(before)
            return f.read().decode(errors="replace")

    try:
        yield logged
        await asyncio.sleep(1.5)  # the checkpoints saved late are counted too
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM RESET log_statement")
            conn.execute("SELECT pg_reload_conf()")


async def statements_per_send(http: httpx.AsyncClient, admin: str, pg_dir: Path,
                              user: Any, channel: str) -> float:
    for _ in range(50):  # warm up: caches, prepared statements, pool connections
        await ok(http.post(f"/api/channels/{channel}/messages", headers=auth(user),
                           json={"ciphertext": b64("warm"), "encryption": "none"}), 201)
    await asyncio.sleep(1.5)  # every projector saved its checkpoint, the log is quiet
    async with _statements_logged(admin, pg_dir) as logged:
        for _ in range(COUNTED):
            r = await ok(http.post(f"/api/channels/{channel}/messages", headers=auth(user),
                                   json={"ciphertext": b64("counted"),
                                         "encryption": "none"}), 201)
            await ok(http.get(f"/api/channels/{channel}/messages", params={"limit": 1},
                              headers={**auth(user), "Chatalot-Min-Position": r["position"]}))
    text = logged()
    counted = [m.group(0) for m in _STATEMENT.finditer(text)]
    _show_shapes(text, COUNTED)
    # the history read (one per send) and the ALTER SYSTEM are not the send's
    return len(counted) / COUNTED


async def statements_per_concurrent_send(http: httpx.AsyncClient, admin: str, pg_dir: Path,
                                         users: list[Any], channel: str) -> float:
    """The same count while 16 senders send COUNTED_EACH messages each at once (group
    commit and projector batches share statements between sends), the last one then
    read once at its position."""
    body = {"ciphertext": b64("counted"), "encryption": "none"}
    senders = [LeanSender(str(http.base_url), f"/api/channels/{channel}/messages",
                          u["access_token"], body) for u in users]
    positions: list[str] = []

    async def sender(lean: LeanSender) -> None:
        for _ in range(COUNTED_EACH):
            status, reply = await lean.post()
            if status != 201:
                raise RuntimeError(reply.decode(errors="replace"))
            positions.append(msgspec.json.decode(reply)["position"])

    async with _statements_logged(admin, pg_dir) as logged:
        try:
            await asyncio.gather(*(sender(s) for s in senders))
        finally:
            for s in senders:
                await s.close()
        last = max(positions, key=Position.parse)
        await ok(http.get(f"/api/channels/{channel}/messages", params={"limit": 1},
                          headers={**auth(users[0]), "Chatalot-Min-Position": last}))
    text = logged()
    _show_shapes(text, len(positions))
    return len(_STATEMENT.findall(text)) / len(positions)


def _show_shapes(text: str, sends: int) -> None:
    """With CHATALOT_BENCH_SHOW_STATEMENTS: each statement shape, per send."""
    if not os.environ.get("CHATALOT_BENCH_SHOW_STATEMENTS"):
        return
    shapes: dict[str, int] = {}
    for m in _LINE.finditer(text):
        shape = " ".join(m.group(1).split())[:90]
        shapes[shape] = shapes.get(shape, 0) + 1
    for shape, n in sorted(shapes.items(), key=lambda kv: -kv[1]):
        progress(f"{n / sends:6.2f} {shape}")


async def run(quick: bool, admin: str, pg_dir: Path) -> list[dict[str, Any]]:
    duration = 4.0 if quick else 10.0
    url = with_database(admin, f"chatalot_bench_{uuid.uuid4().hex[:8]}")
    ensure_database(url)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="chatalot-bench-send-") as data_dir:
        port = int(os.environ.get("CHATALOT_BENCH_PORT") or free_port())
        env = server_env(url, data_dir, port, **LIFTED)
        progress("starting the server ...")
        with server(env) as proc:
            limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                         timeout=120) as http:
                _owner, users, channel = await setup(http, 16)
                per_send = await statements_per_send(http, admin, pg_dir, users[0], channel)
                progress(f"  {per_send:.1f} statements per sequential send (with its read)")
                results.append({"name": "statements_per_send", "value": round(per_send, 1),
                                "unit": "statements"})
                per_16 = await statements_per_concurrent_send(http, admin, pg_dir, users,
                                                              channel)
                progress(f"  {per_16:.1f} statements per send, 16 senders at once")
                results.append({"name": "statements_per_send_16", "value": round(per_16, 1),
                                "unit": "statements"})
                ours: dict[int, float] = {}
                for n in (1, 16):
                    cpu, started = _cpu_secs(proc.pid), time.perf_counter()
                    ours[n] = await send_rate(http, users[:n], channel, duration)
                    sends = ours[n] * (time.perf_counter() - started)
                    per = (_cpu_secs(proc.pid) - cpu) / sends * 1000
                    progress(f"  HTTP sends, {n} sender(s): {ours[n]:,.0f} msg/s,"
                             f" {per:.2f} server CPU ms per send")
                    # CPU per send hardly depends on how loaded the machine is
                    results.append({"name": f"server_cpu_ms_per_send_{n}", "value": round(per, 2),
                                    "unit": "ms"})
        pool = make_pool(url, min_size=4, max_size=17)
        await pool.open(wait=True)
        store = EventStore(pool, build_registry())
        await store.start()
        try:
            sender = uuid.UUID(users[0]["user"]["id"])
            for n in (1, 16):
                raw = await raw_append_rate(store, uuid.UUID(channel), sender, n, duration / 2)
                progress(f"  raw appends, {n} writer(s): {raw:,.0f}/s")
                results.append(ratio_result(
                    f"send_{n}_sender{'s' if n > 1 else ''}", ours[n], "msg/s",
                    f"raw event-store append of the same event, {n} writer(s), this run",
                    raw, TARGET_SEND_RATIO_16 if n == 16 else None))
        finally:
            await store.close()
            await pool.close()
    results.append(target_result("send_16_senders_absolute", ours[16], "msg/s",
                                 TARGET_SEND_16, lower_is_better=False))
    return results


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    if os.environ.get("DATABASE_URL"):
        raise SystemExit("bench/send_path.py reads the embedded PostgreSQL's log: unset"
                         " DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="chatalot-bench-") as tmp:
        os.chmod(tmp, 0o755)
        with embedded_postgres(Path(tmp)) as admin:
            results = asyncio.run(run(args.quick, admin, Path(tmp) / "pg"))
    emit("send_path", args.quick, results)


if __name__ == "__main__":
    main()
