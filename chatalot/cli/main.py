"""The `chatalot` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from chatalot.config import ConfigError, Settings, load_settings
from chatalot.logs import configure_logging


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _serve(settings: Settings, args: argparse.Namespace) -> None:

    from chatalot.auth.jwt_keys import ensure_jwt_keys
    from chatalot.auth.totp import load_totp_key
    from chatalot.bootstrap import create_app
    from chatalot.cli.database import resolve_database
    from chatalot.cli.projections import check_projectors
    from chatalot.cli.server import ChatalotServer, server_config

    # Every key is read (or created) and every read model checked before anything starts:
    # a bad one is one line here, not a traceback from the application's start-up.
    check_projectors()
    ensure_jwt_keys(settings.private_key_path, settings.public_key_path)
    load_totp_key(settings.security.totp_encryption_key, settings.data_dir)
    # uvicorn re-raises SIGTERM after its graceful shutdown; turn it into SystemExit so the
    # embedded PostgreSQL below is stopped by its context manager, not orphaned.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    with resolve_database(settings) as database_url:
        app = create_app(settings, database_url)
        ChatalotServer(server_config(settings, app, log_level=args.log_level)).run()


def _migrate(settings: Settings, args: argparse.Namespace) -> None:
    from chatalot.cli.database import resolve_database
    from chatalot.db import MIGRATIONS_DIR
    from event_store.migrations import migrate

    with resolve_database(settings) as database_url:
        applied = asyncio.run(migrate(database_url, MIGRATIONS_DIR))
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))


def _events(settings: Settings, args: argparse.Namespace) -> None:
    from chatalot.cli import events, log_tools
    from chatalot.cli.database import resolve_database

    with resolve_database(settings) as database_url, contextlib.suppress(KeyboardInterrupt):
        if args.events_command in ("verify", "checkpoint", "replay", "channel-state"):
            log_tools.run(database_url, settings, args)
        else:
            events.run(database_url, args)


def _add_events(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from chatalot.cli.events import add_filters

    events = sub.add_parser("events", help="read, export and verify the event log")
    events_sub = events.add_subparsers(dest="events_command", required=True)
    tail = events_sub.add_parser("tail", help="print events as JSON lines")
    add_filters(tail)
    tail.add_argument("--follow", "-f", action="store_true", help="keep following new events")
    tail.add_argument("--limit", type=int, default=None, help="at most this many")
    show = events_sub.add_parser("show", help="one event (by id or position) and its link")
    show.add_argument("ref", help="an event id or a position")
    export = events_sub.add_parser("export", help="write events to a file as JSON lines")
    export.add_argument("file", help="the file to write")
    export.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_filters(export)
    stats = events_sub.add_parser("stats", help="counts by category and type, size")
    add_filters(stats)
    verify = events_sub.add_parser(
        "verify", help="check every stream's hash chain and every sealed checkpoint"
                       " (exit status 3 when something is broken)")
    verify.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    events_sub.add_parser("checkpoint", help="seal the log up to now")
    replay = events_sub.add_parser("replay", help="a stream's events and state changes")
    replay.add_argument("--stream", required=True, help="the stream")
    replay.add_argument("--until", help="stop at this position or RFC 3339 time")
    state = events_sub.add_parser("channel-state",
                                  help="a channel's settings, members and bans as of a point")
    state.add_argument("channel_id", help="the channel")
    state.add_argument("--at", help="a position or an RFC 3339 time (default: now)")
    for command in (tail, show, export, stats, verify, replay, state):
        command.set_defaults(func=_events)
    events_sub.choices["checkpoint"].set_defaults(func=_events)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatalot", description="Chatalot chat server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server (embedded PostgreSQL by default)")
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(func=_serve)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=_migrate)
    _add_events(sub)
    from chatalot.cli.backup import add_parser as add_backup
    from chatalot.cli.projections import add_parser as add_projections

    add_projections(sub)
    add_backup(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"chatalot: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    # `serve --log-level` sets our loggers' level too, not only uvicorn's
    level = getattr(args, "log_level", "info").upper()
    configure_logging(settings.log_format, getattr(logging, level))
    try:
        args.func(settings, args)
    except Exception as exc:
        from chatalot.auth.jwt_keys import JwtKeyError
        from chatalot.auth.totp import TotpKeyError
        from chatalot.backup import BackupError
        from chatalot.cli.database import DatabaseUnreachable
        from event_store import EventStoreError
        from projections.errors import InvalidProjector

        if isinstance(exc, JwtKeyError | TotpKeyError | EventStoreError | DatabaseUnreachable
                      | InvalidProjector | BackupError):
            print(f"chatalot: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        raise


if __name__ == "__main__":
    main()
