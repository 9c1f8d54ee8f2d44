"""`chatalot projections run|status|rebuild|reset`: operating the read models."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
)
from rich.table import Table
from rich.text import Text

from chatalot.bootstrap import build_registry, default_projectors
from chatalot.config import Settings
from chatalot.db import make_pool
from event_store import EventStore, HeldBack, PostgresNotifyBus, RedisBus, WakeupBus
from projections import (
    ProjectionRunner,
    ProjectionStatus,
    RebuildProgress,
    RunnerOptions,
    catalog,
    read_status,
)
from projections.projector import Projector, validate
from projections.status import format_seconds

_stderr = Console(stderr=True)


class ProjectionError(SystemExit):
    def __init__(self, message: str) -> None:
        print(f"chatalot: {message}", file=sys.stderr)
        super().__init__(1)


@contextlib.asynccontextmanager
async def _store(database_url: str, bus: WakeupBus | None = None) -> AsyncIterator[EventStore]:
    pool = make_pool(database_url, min_size=1, max_size=8)
    await pool.open(wait=True, timeout=30)
    store = EventStore(pool, build_registry(), bus)
    try:
        await store.start()
        yield store
    finally:
        await store.close()
        await pool.close()


def check_projectors() -> None:
    """Before anything starts: the read models' declarations against the event types."""
    _projectors()


def _projectors() -> dict[str, Projector]:
    return validate(default_projectors(), build_registry())


async def _status(store: EventStore) -> list[ProjectionStatus]:
    async with store.pool.connection() as conn, conn.transaction():
        return await read_status(conn, _projectors())


# -- run -------------------------------------------------------------------------------------


async def _run(settings: Settings, database_url: str, share: float) -> None:
    """Lead whatever projectors no other node leads, until SIGINT/SIGTERM."""
    bus: WakeupBus = (
        RedisBus(settings.redis_url) if settings.redis_url else PostgresNotifyBus(database_url)
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    options = RunnerOptions(take_rebuilds=True, rebuild_share=share)
    async with _store(database_url, bus) as store, ProjectionRunner(
        store, _projectors().values(), options=options
    ):
        _stderr.print(f"running projections: {', '.join(sorted(_projectors()))}")
        await stop.wait()
    _stderr.print("projections stopped")


def run(settings: Settings, database_url: str, args: argparse.Namespace) -> None:
    asyncio.run(_run(settings, database_url, args.share))


# -- status ----------------------------------------------------------------------------------


class _Item(msgspec.Struct):
    name: str
    version: int | None
    state: str
    position: str | None
    lag_events: int
    lag_seconds: float
    error: str | None
    rebuild: RebuildProgress | None
    held_back: HeldBack | None = None
    """Who holds the log back from every projector, when that has lasted over a second."""


def _table(items: list[ProjectionStatus]) -> Table:
    table = Table(title="projections")
    for column in ("name", "version", "state", "position", "lag (events)", "lag (s)"):
        table.add_column(column, justify="right" if column.startswith("lag") else "left")
    for s in items:
        style = {"live": "green", "failed": "red", "stopped": "yellow"}.get(s.state, "cyan")
        table.add_row(s.name, str(s.version or "-"), Text(s.describe(), style=style),
                      s.position or "-", f"{s.lag_events:,}", f"{s.lag_seconds:.1f}")
    return table


async def _print_status(database_url: str, as_json: bool) -> None:
    async with _store(database_url) as store:
        items = await _status(store)
        held = await store.held_back()
    if held is not None and not held.is_news:
        held = None
    if as_json:
        out = [_Item(s.name, s.version, s.label, s.position, s.lag_events, s.lag_seconds,
                     s.error, s.rebuild, held) for s in items]
        print(msgspec.json.encode(out).decode())
    else:
        Console().print(_table(items))
        if held is not None:
            Console().print(Text(f"log held back: {held.describe()}", style="yellow"))


def status(settings: Settings, database_url: str, args: argparse.Namespace) -> None:
    asyncio.run(_print_status(database_url, args.json))


# -- rebuild ---------------------------------------------------------------------------------


class _RateColumn(ProgressColumn):
    """The rate the build's worker measured (events/s over its last few seconds)."""

    def render(self, task: Task) -> Text:
        rate = task.fields.get("rate")
        return Text(f"{rate:,.0f} events/s" if rate else "starting", style="magenta")


class _EtaColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        eta = task.fields.get("eta")
        return Text(f"ETA {format_seconds(eta)}" if eta is not None else "", style="cyan")


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        _EtaColumn(),
        console=_stderr,
    )


async def _active(store: EventStore, name: str) -> tuple[int | None, int, int]:
    """The active build, how many builds (of any state) the projector has, and how many
    events the active build has applied."""
    async with store.pool.connection() as conn:
        builds = await catalog.load_builds(conn, name)
        active = (await catalog.active_builds(conn)).get(name)
    done = next((b.events_done for b in builds if b.build == active), 0)
    return active, len(builds), done


async def _rebuild(database_url: str, name: str, wait: bool, share: float,
                   rate: float | None) -> None:
    projectors = _projectors()
    if name not in projectors:
        raise ProjectionError(f"no projector named {name!r} (known: {', '.join(projectors)})")
    async with _store(database_url) as store:
        before, _, _ = await _active(store, name)
        async with store.pool.connection() as conn, conn.transaction():
            requested = await catalog.request_rebuild(conn, name)
        _stderr.print(f"{name}: " + (
            "rebuild requested" if requested
            else "not built yet; building it" if before is None
            else "already being built; following it"))
        if not wait:
            return
        # The new build is loaded here, in this process, paced: when a serving node leads
        # the projector it hands new builds off to this process; when no node does, this
        # process leads it. Either way this command follows the build until the flip.
        options = RunnerOptions(
            drop_delay=1.0, node=f"cli-{socket.gethostname()}-{os.getpid()}",
            take_rebuilds=True, rebuild_share=share, rebuild_rate=rate,
        )
        async with ProjectionRunner(store, [projectors[name]], options=options):
            await _follow(store, name, before)


async def _follow(store: EventStore, name: str, before: int | None) -> None:
    started = time.monotonic()
    first: tuple[float, int] | None = None  # the first progress seen: (when, events done)
    flipped: tuple[float, int] | None = None
    with _progress() as progress:
        task = progress.add_task(f"rebuilding {name}", total=None, rate=None, eta=None)
        while True:
            found = next((s for s in await _status(store) if s.name == name), None)
            active, builds, active_done = await _active(store, name)
            if found is not None and found.state == "failed":
                progress.stop()
                raise ProjectionError(f"{name}: {found.describe()} (the build stays; runners"
                                      " retry it, and it resumes where it stopped)")
            rebuild = found.rebuild if found is not None else None
            if rebuild is not None and flipped is None:
                if first is None and rebuild.events_done:
                    first = (time.monotonic(), rebuild.events_done)
                progress.update(task, total=rebuild.events_total, completed=rebuild.events_done,
                                rate=rebuild.rate, eta=rebuild.eta_seconds)
            elif active is not None and active != before:
                if flipped is None:
                    flipped = (time.monotonic(), active_done)
                    progress.update(task, total=active_done, completed=active_done,
                                    rate=_average(started, first, flipped), eta=None)
                if builds == 1:  # the replaced build is dropped too
                    break
            await asyncio.sleep(0.25)
    assert flipped is not None
    _stderr.print(
        f"{name}: {flipped[1]:,} events in {format_seconds(flipped[0] - started)}"
        f" ({_average(started, first, flipped):,.0f} events/s on average); build {active}"
        " answers queries; the old one is dropped", soft_wrap=True)


def _average(started: float, first: tuple[float, int] | None,
             flipped: tuple[float, int]) -> float:
    """Events/s while loading: from the first progress seen to the flip, or, when that
    was too short to tell, over the whole command."""
    if first is not None and flipped[0] - first[0] >= 1.0:
        return (flipped[1] - first[1]) / (flipped[0] - first[0])
    return flipped[1] / max(flipped[0] - started, 1e-3)


def rebuild(settings: Settings, database_url: str, args: argparse.Namespace) -> None:
    asyncio.run(_rebuild(database_url, args.name, not args.no_wait, args.share, args.rate))


# -- reset -----------------------------------------------------------------------------------


async def _reset(database_url: str, name: str) -> None:
    async with _store(database_url) as store, store.pool.connection() as conn, \
            conn.transaction():
        dropped = await catalog.reset(conn, [name])
    if dropped:
        print(f"{name}: dropped {', '.join(dropped)}; it is rebuilt from position 0 when a"
              " runner next leads it")
    else:
        print(f"{name}: nothing to reset")


def reset(settings: Settings, database_url: str, args: argparse.Namespace) -> None:
    if not args.yes:
        if not sys.stdin.isatty():
            raise ProjectionError("reset drops the projector's tables; pass --yes to confirm")
        answer = input(f"Drop every table of {args.name!r} and rebuild from scratch? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise ProjectionError("reset cancelled")
    asyncio.run(_reset(database_url, args.name))


# -- arguments -------------------------------------------------------------------------------


DEFAULT_SHARE = 0.25


def _share(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError("a share between 0 (exclusive) and 1")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("a positive number")
    return value


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("projections", help="read models: run, status, rebuild, reset")
    commands = parser.add_subparsers(dest="projections_command", required=True)
    runs = commands.add_parser(
        "run", help="run the projectors in this process (no other node leads them)"
    )
    runs.add_argument("--share", type=_share, default=DEFAULT_SHARE,
                      help="share of a core a rebuild may use here (0-1, default"
                           f" {DEFAULT_SHARE})")
    runs.set_defaults(action=run)
    show = commands.add_parser("status", help="position, lag and state of every projector")
    show.add_argument("--json", action="store_true", help="print JSON instead of a table")
    show.set_defaults(action=status)
    build = commands.add_parser("rebuild", help="rebuild a projector without downtime")
    build.add_argument("name")
    build.add_argument("--no-wait", action="store_true", help="request it and return")
    build.add_argument("--share", type=_share, default=DEFAULT_SHARE,
                       help="share of a core the rebuild may use (0-1, default"
                            f" {DEFAULT_SHARE}); it slows further when the host is busy")
    build.add_argument("--rate", type=_positive, default=None,
                       help="at most this many events/s (default: no cap)")
    build.set_defaults(action=rebuild)
    wipe = commands.add_parser("reset", help="development: drop a projector's tables")
    wipe.add_argument("name")
    wipe.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    wipe.set_defaults(action=reset)
    parser.set_defaults(func=_dispatch)


def _dispatch(settings: Settings, args: argparse.Namespace) -> None:
    from chatalot.cli.database import resolve_database

    with resolve_database(settings) as database_url, contextlib.suppress(KeyboardInterrupt):
        args.action(settings, database_url, args)
