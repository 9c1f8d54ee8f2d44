"""`chatalot events tail|show|export|stats`: the log as JSON lines, for operators and
scripts. Every command takes the filters of GET /api/admin/events."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from chatalot.bootstrap import build_registry
from chatalot.db import make_pool
from chatalot.domain.errors import DomainError
from chatalot.logbook import log_queries
from chatalot.logbook.log_queries import EventFilter
from event_store import EventStore, InvalidPosition, Position

_encoder = msgspec.json.Encoder()


class CliError(Exception):
    """One line for the operator (exit status 1)."""


@contextlib.asynccontextmanager
async def open_store(database_url: str) -> AsyncIterator[EventStore]:
    pool = make_pool(database_url, min_size=1, max_size=2)
    await pool.open(wait=True)
    store = EventStore(pool, build_registry())
    try:
        await store.start()
        yield store
    finally:
        await store.close()
        await pool.close()


def add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stream", help="only this stream")
    parser.add_argument("--category", help="only streams <category>-... (user, channel, ...)")
    parser.add_argument("--type", action="append", dest="types", default=[],
                        help="only this event type (repeat for several)")
    parser.add_argument("--actor", help="only events whose metadata actor_id is this")
    parser.add_argument("--correlation-id", help="only this correlation id")
    parser.add_argument("--after", help="only after this position")
    parser.add_argument("--before", help="only before this position")
    parser.add_argument("--since", help="only recorded at or after this time (RFC 3339)")
    parser.add_argument("--until", help="only recorded at or before this time (RFC 3339)")
    parser.add_argument("--newest-first", action="store_true", help="newest events first")


def _position(value: str | None) -> Position | None:
    if value is None:
        return None
    try:
        return Position.parse(value)
    except InvalidPosition as exc:
        raise CliError(str(exc)) from None


def _time(value: str | None, name: str) -> datetime | None:
    try:
        return log_queries.parse_time(value, f"--{name}")
    except DomainError as exc:
        raise CliError(str(exc)) from None


def event_filter(args: argparse.Namespace) -> EventFilter:
    return EventFilter(
        stream=args.stream, category=args.category, types=tuple(args.types),
        actor=args.actor, correlation_id=args.correlation_id,
        after=_position(args.after), before=_position(args.before),
        since=_time(args.since, "since"), until=_time(args.until, "until"),
        newest_first=args.newest_first)


def line(row: dict[str, Any]) -> str:
    return _encoder.encode(log_queries.to_item(row)).decode() + "\n"


async def tail(store: EventStore, f: EventFilter, *, follow: bool, limit: int | None,
               out: IO[str], poll: float = 0.5) -> None:
    """Print the matching events up to the head; with `follow`, keep printing new ones."""
    printed = 0
    while True:
        last = None
        async for row in log_queries.iterate(store.pool, store, f):
            out.write(line(row))
            printed += 1
            last = row
            if limit is not None and printed >= limit:
                out.flush()
                return
        out.flush()
        if not follow:
            return
        if last is not None:
            f = msgspec.structs.replace(f, after=Position(
                last["epoch"], last["transaction_id"], last["position"]), newest_first=False)
        elif f.after is None:
            f = msgspec.structs.replace(f, after=await store.head(), newest_first=False)
        await asyncio.sleep(poll)


async def show(store: EventStore, ref: str, out: IO[str]) -> None:
    """One event by id or position, with its chain link."""
    key: tuple[Any, ...]
    if "." in ref:
        at = _position(ref)
        assert at is not None
        where, key = "e.position = %s AND e.transaction_id = %s", (at.sequence, at.transaction_id)
    else:
        try:
            where, key = "e.event_id = %s", (uuid.UUID(ref),)
        except ValueError:
            raise CliError(f"{ref!r} is neither an event id nor a position") from None
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT e.event_id, encode(e.data_hash, 'hex'), encode(e.hash, 'hex')"
            f" FROM events e WHERE {where}", key)
        found = await cur.fetchone()
    if found is None:
        raise CliError(f"no event {ref}")
    row = await log_queries.find_event(store.pool, found[0])
    assert row is not None
    item = msgspec.to_builtins(log_queries.to_item(row))
    item.update(data_hash=found[1], hash=found[2])
    out.write(_encoder.encode(item).decode() + "\n")


async def export(store: EventStore, f: EventFilter, path: Path, *, quiet: bool) -> int:
    """Every matching event to `path` as JSON lines, with a progress bar on stderr."""
    total = await log_queries.count(store.pool, store, f)
    written = 0
    with path.open("w", encoding="utf-8") as handle, Progress(
            TextColumn("exporting"), BarColumn(), MofNCompleteColumn(),
            TimeRemainingColumn(), console=Console(stderr=True), disable=quiet) as bar:
        task = bar.add_task("export", total=total)
        async for row in log_queries.iterate(store.pool, store, f):
            handle.write(line(row))
            written += 1
            if written % 1000 == 0:
                bar.update(task, completed=written)
        bar.update(task, completed=written)
    return written


async def stats(store: EventStore, f: EventFilter) -> dict[str, Any]:
    """Counts by category and type, the time span, and the log's size on disk."""
    by_type: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    first = last = None
    async for row in log_queries.iterate(store.pool, store, f, page=5000):
        by_type[row["type"]] += 1
        by_category[row["stream_id"].split("-", 1)[0]] += 1
        first = first or row["recorded_at"]
        last = row["recorded_at"]
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT pg_total_relation_size('events'), (SELECT count(*) FROM event_checkpoints),"
            " (SELECT max(total) FROM event_checkpoints)")
        size, checkpoints, sealed = await cur.fetchone() or (0, 0, 0)
    return {
        "events": sum(by_type.values()),
        "by_category": dict(by_category.most_common()),
        "by_type": dict(by_type.most_common()),
        "first_recorded_at": first.isoformat() if first else None,
        "last_recorded_at": last.isoformat() if last else None,
        "log_bytes": size, "checkpoints": checkpoints, "sealed_events": sealed or 0,
    }


def run(database_url: str, args: argparse.Namespace) -> None:
    """The `events` subcommands that read: tail, show, export, stats."""
    async def main() -> None:
        async with open_store(database_url) as store:
            command = args.events_command
            if command == "tail":
                f = event_filter(args)
                await tail(store, f, follow=args.follow, limit=args.limit, out=sys.stdout)
            elif command == "show":
                await show(store, args.ref, sys.stdout)
            elif command == "export":
                n = await export(store, event_filter(args), Path(args.file), quiet=args.quiet)
                print(f"exported {n} event(s) to {args.file}", file=sys.stderr)
            elif command == "stats":
                print(_encoder.encode(await stats(store, event_filter(args))).decode())

    try:
        asyncio.run(main())
    except CliError as exc:
        print(f"chatalot: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
