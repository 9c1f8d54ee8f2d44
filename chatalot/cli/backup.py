"""`chatalot backup FILE`, `chatalot restore FILE` and `chatalot advance-epoch`, with a
progress bar on stderr (chatalot/backup.py does the work)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from chatalot.backup import BackupError, advance_epoch, backup, restore
from chatalot.config import Settings

_stderr = Console(stderr=True)


@contextlib.contextmanager
def _bar(label: str) -> Iterator[tuple[Progress, list[TaskID]]]:
    progress = Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("rows"), TransferSpeedColumn(), TimeRemainingColumn(),
                        console=_stderr, transient=False)
    task: list[TaskID] = []
    with progress:
        yield progress, task


def run_backup(settings: Settings, args: argparse.Namespace) -> None:
    from chatalot.cli.database import resolve_database

    target = Path(args.file)
    started = time.monotonic()
    with resolve_database(settings) as database_url, _bar("backup") as (progress, task):
        header = backup(
            database_url, target,
            on_start=lambda total: task.append(progress.add_task("rows", total=total)),
            progress=lambda rows: progress.advance(task[0], rows),
            compresslevel=args.level)
    rows = sum(t["rows"] for t in header["tables"])
    _stderr.print(f"backed up {rows:,} rows of {len(header['tables'])} tables"
                  f" (head {header['head']}, {len(header['migrations'])} migrations) to"
                  f" {target} ({target.stat().st_size:,} bytes) in"
                  f" {time.monotonic() - started:.1f} s")


def run_restore(settings: Settings, args: argparse.Namespace) -> None:
    from chatalot.cli.database import resolve_database

    source = Path(args.file)
    if not source.is_file():
        raise BackupError(f"{source}: no such file")
    started = time.monotonic()
    with resolve_database(settings) as database_url, _bar("restore") as (progress, task):
        header = asyncio.run(restore(
            database_url, source,
            on_start=lambda total: task.append(progress.add_task("rows", total=total)),
            progress=lambda rows: progress.advance(task[0], rows)))
        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT epoch FROM event_store_meta").fetchone()
    rows = sum(t["rows"] for t in header["tables"])
    _stderr.print(f"restored {rows:,} rows of {len(header['tables'])} tables in"
                  f" {time.monotonic() - started:.1f} s; epoch {header['epoch']} ->"
                  f" {row[0] if row else '?'}. The read models rebuild when a node starts.")


def run_advance_epoch(settings: Settings, args: argparse.Namespace) -> None:
    from chatalot.cli.database import resolve_database

    with resolve_database(settings) as database_url, psycopg.connect(database_url) as conn:
        epoch = advance_epoch(conn)
    _stderr.print(f"epoch is now {epoch}")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    save = sub.add_parser("backup", help="export the event log, migration state and decision"
                                         " tables to a compressed file")
    save.add_argument("file", help="the file to write (gzip)")
    save.add_argument("--level", type=int, default=6, choices=range(1, 10),
                      metavar="1-9", help="gzip level (default 6)")
    save.set_defaults(func=run_backup)
    load = sub.add_parser("restore", help="load a backup into an empty database")
    load.add_argument("file", help="a file written by `chatalot backup`")
    load.set_defaults(func=run_restore)
    sub.add_parser("advance-epoch", help="after restoring with pg_restore: move the position"
                                         " epoch forward (before any node starts)"
                   ).set_defaults(func=run_advance_epoch)
