"""`chatalot events verify|checkpoint|replay|channel-state`: tamper evidence, a stream's
history step by step, and a channel as of a point in the log, for operators."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import uuid
from datetime import datetime
from typing import IO, Any

import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from chatalot.auth.jwt_keys import ensure_jwt_keys
from chatalot.cli.events import CliError, _position, _time, open_store
from chatalot.config import Settings
from chatalot.domain.errors import DomainError
from chatalot.domain.logbook.rules import LogScope
from chatalot.logbook import log_queries
from chatalot.logbook.checkpoints import (
    checkpoint_now,
    load_public_key,
    seal_checker,
    sealer,
)
from chatalot.logbook.log_queries import EventFilter
from chatalot.logbook.time_travel import channel_state
from event_store import EventStore, Position
from event_store.integrity import VerifyReport, verify

_encoder = msgspec.json.Encoder()


async def run_verify(store: EventStore, settings: Settings, out: IO[str], *,
                     quiet: bool) -> VerifyReport:
    """Every stream's chain, then every checkpoint; one JSON line per broken stream, then a
    summary line."""
    public = load_public_key(settings.public_key_path)
    async with store.pool.connection() as conn:
        total_row = await (await conn.execute("SELECT count(*) FROM events")).fetchone()
        total = int(total_row[0]) if total_row else 0
        with Progress(TextColumn("verifying"), BarColumn(), MofNCompleteColumn(),
                      console=Console(stderr=True), disable=quiet) as bar:
            task = bar.add_task("verify", total=total)
            report = await verify(conn, seal_checker(public) if public else None,
                                  progress=lambda n: bar.advance(task, n))
    for broken in report.streams_broken:
        out.write(_encoder.encode({"broken": dataclasses.asdict(broken)}).decode() + "\n")
    out.write(_encoder.encode({
        "ok": report.ok, "events": report.events,
        "streams_broken": len(report.streams_broken), "checkpoints": report.checkpoints,
        "checkpoint_problem": report.checkpoint_problem,
        "seals_checked": public is not None,
        "sealed_events": report.sealed_events, "unsealed_events": report.unsealed_events,
    }).decode() + "\n")
    return report


def _changes(state: dict[str, Any], data: dict[str, Any]) -> dict[str, list[Any]]:
    changed = {key: [state.get(key), value] for key, value in data.items()
               if state.get(key) != value}
    state.update(data)
    return changed


async def replay(store: EventStore, stream: str, until: str | None, out: IO[str]) -> int:
    """The stream's events in order up to `until` (a position or an RFC 3339 time), each
    with the fields it changed in the stream's folded state (every field an event carries
    is the latest value of that field), then the state as of the last one."""
    f = EventFilter(stream=stream)
    at: Position | None = None
    moment: datetime | None = None
    if until is not None:
        if _looks_like_position(until):
            at = _position(until)
        else:
            moment = _time(until, "until")
    state: dict[str, Any] = {}
    steps = 0
    async for row in log_queries.iterate(store.pool, store, f):
        item = log_queries.to_item(row)
        if at is not None and Position(row["epoch"], row["transaction_id"],
                                       row["position"]) > at:
            break
        if moment is not None and row["recorded_at"] > moment:
            break
        steps += 1
        out.write(_encoder.encode({
            "version": item.version, "position": item.position, "type": item.type,
            "recorded_at": item.recorded_at, "actor_id": item.metadata.get("actor_id"),
            "redacted": item.redacted, "changes": _changes(state, item.data),
        }).decode() + "\n")
    if steps == 0:
        raise CliError(f"stream {stream!r} has no events" + (" by then" if until else ""))
    out.write(_encoder.encode({"state": state, "events": steps}).decode() + "\n")
    return steps


async def print_channel_state(store: EventStore, channel_id: str, at: str | None,
                              out: IO[str]) -> None:
    """GET /api/admin/channels/{id}/state, for operators: `at` a position or a time."""
    try:
        cid = uuid.UUID(channel_id)
    except ValueError:
        raise CliError(f"{channel_id!r} is not a channel id") from None
    position = moment = None
    if at is not None:
        if _looks_like_position(at):
            position = _position(at)
        else:
            moment = _time(at, "at")
    try:
        state = await channel_state(store, cid, LogScope(None), at=position, at_time=moment)
    except DomainError as exc:
        raise CliError(str(exc)) from None
    out.write(_encoder.encode(state).decode() + "\n")


def _looks_like_position(text: str) -> bool:
    return text[:1].isdigit() and text.count(".") == 2 and ":" not in text


def run(database_url: str, settings: Settings, args: argparse.Namespace) -> None:
    async def main() -> int:
        async with open_store(database_url) as store:
            if args.events_command == "verify":
                report = await run_verify(store, settings, sys.stdout, quiet=args.quiet)
                return 0 if report.ok else 3
            if args.events_command == "checkpoint":
                private, _ = ensure_jwt_keys(settings.private_key_path, settings.public_key_path)
                point = await checkpoint_now(store, sealer(private))
                print(_encoder.encode(None if point is None else {
                    "seq": point.seq, "events": point.events, "total": point.total,
                    "position": Position(point.epoch, point.transaction_id,
                                         point.position).encode(),
                    "combined": point.combined.hex()}).decode())
                return 0
            if args.events_command == "channel-state":
                await print_channel_state(store, args.channel_id, args.at, sys.stdout)
                return 0
            await replay(store, args.stream, args.until, sys.stdout)
            return 0

    try:
        status = asyncio.run(main())
    except CliError as exc:
        print(f"chatalot: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    if status:
        raise SystemExit(status)
