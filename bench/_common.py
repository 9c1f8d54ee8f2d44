"""Shared plumbing for the benchmarks: a throwaway database, timing, the JSON line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chatalot.db import (  # noqa: E402
    drop_database,
    embedded_postgres,
    ensure_database,
    with_database,
)


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="finish in under 60 s")
    return parser.parse_args()


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """A new database on DATABASE_URL's server, or on an embedded one; dropped after
    (kept, with its name printed, when CHATALOT_BENCH_KEEP_DB=1 and DATABASE_URL is given:
    to EXPLAIN the read paths on the data a run left behind)."""
    given = os.environ.get("DATABASE_URL")
    with contextlib.ExitStack() as stack:
        if given:
            admin = given
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="chatalot-bench-"))
            os.chmod(tmp, 0o755)
            progress("starting an embedded PostgreSQL (set DATABASE_URL to use another)")
            admin = stack.enter_context(embedded_postgres(Path(tmp)))
        url = with_database(admin, f"chatalot_bench_{uuid.uuid4().hex[:8]}")
        ensure_database(url)
        keep = bool(given) and os.environ.get("CHATALOT_BENCH_KEEP_DB") == "1"
        try:
            yield url
        finally:
            if keep:
                progress(f"kept the database: {url}")
            else:
                drop_database(url)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values)


def ratio_result(metric: str, value: float, unit: str, baseline: str, baseline_value: float,
                 target_ratio: float | None, *, lower_is_better: bool = False) -> dict[str, Any]:
    ratio = (baseline_value / value) if lower_is_better else (value / baseline_value)
    result: dict[str, Any] = {
        "metric": metric, "value": round(value, 2), "unit": unit, "baseline": baseline,
        "baseline_value": round(baseline_value, 2), "ratio": round(ratio, 3),
    }
    if target_ratio is not None:
        result["target_ratio"] = target_ratio
        result["ok"] = ratio >= target_ratio
    return result


def target_result(metric: str, value: float, unit: str, target: float, *,
                  lower_is_better: bool = True) -> dict[str, Any]:
    ok = value <= target if lower_is_better else value >= target
    return {"metric": metric, "value": round(value, 2), "unit": unit, "target": target, "ok": ok}


def emit(bench: str, quick: bool, results: list[dict[str, Any]]) -> None:
    print(json.dumps({"bench": bench, "quick": quick, "results": results}), flush=True)


def run_database_bench(
    name: str, description: str,
    run: Callable[[bool, str], Coroutine[Any, Any, list[dict[str, Any]]]],
) -> None:
    """The whole program of a database benchmark: arguments, a scratch database, the line."""
    args = parse_args(description)
    with scratch_database() as url:
        results = asyncio.run(run(args.quick, url))
    emit(name, args.quick, results)


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.start


async def backend_cpu_reader(conn: Any) -> Callable[[], float]:
    """A function returning the connection's server backend's CPU seconds so far, or -1
    when the server is not on this machine. From /proc/<pid>/schedstat (nanoseconds) where
    the kernel has it: /proc/<pid>/stat counts 10 ms ticks, several us an event over a
    short round of batches (docs/log.md, 6 December evening)."""
    pid = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone())[0]
    schedstat, stat = Path(f"/proc/{pid}/schedstat"), Path(f"/proc/{pid}/stat")
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        try:
            return int(schedstat.read_text().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            pass
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return -1.0
        return (int(fields[11]) + int(fields[12])) / tick

    return read if is_postgres(pid) else (lambda: -1.0)


def is_postgres(pid: int) -> bool:
    """A remote server's backend pid may be any local process's."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().startswith("postgres")
    except OSError:
        return False


async def paced(rate: float, count: int, one: Callable[[int], Coroutine[Any, Any, None]]
                ) -> None:
    """Start `one(i)` for i in 0..count-1 at `rate` a second (on its own schedule: a late
    start does not wait for the one before to finish), then wait for them all."""
    tasks = []
    start = time.perf_counter()
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
