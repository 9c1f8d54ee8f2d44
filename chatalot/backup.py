"""`chatalot backup FILE` and `chatalot restore FILE`: the log, the migration state and the
decision tables, exported from one snapshot into one gzip file, and loaded back into an
empty database.

What is saved: every table of the `public` schema but the projections' bookkeeping
(`projection_*`): the event log (`events`, `event_store_meta`), every context's decision
tables (accounts, sessions, channel members, keys, idempotency replies, ...). What is not:
the read models, which are rebuilt from the log when the restored database first serves.

The file: a gzip stream of a first line `CHATALOT-BACKUP 1`, a JSON header (the applied
migrations with their checksums, the tables with their columns and row counts, the source
epoch and head), then per table a JSON line and its rows in COPY text format (one row per
line), and a JSON end line. A truncated file fails on its gzip checksum or the missing end.

After a restore the epoch moves forward (`advance_epoch`): the restored rows keep their
positions (epoch, transaction id, sequence), so a position taken before the backup still
points at the same place, and every event appended afterwards sorts after all of them even
in a cluster whose transaction ids restarted lower.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from chatalot.db import MIGRATIONS_DIR
from event_store.migrations import load, migrate

MAGIC = b"CHATALOT-BACKUP 1\n"
CHUNK = 1 << 20
Progress = Callable[[int], None]  # rows done since the last call


class BackupError(Exception):
    """One line for the operator."""


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: list[str]
    rows: int


_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'schema_migrations'
   AND c.relname NOT LIKE 'projection\\_%' ORDER BY c.relname
"""
_COLUMNS = """
SELECT attname FROM pg_attribute
 WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
 ORDER BY attnum
"""
# (table, table it references) for foreign keys between public tables
_REFERENCES = """
SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c
  JOIN pg_namespace n ON n.oid = c.connamespace
 WHERE c.contype = 'f' AND n.nspname = 'public'
"""
_SEQUENCES = """
SELECT c.table_name, c.column_name, pg_get_serial_sequence(quote_ident(c.table_name),
       c.column_name) FROM information_schema.columns c
 WHERE c.table_schema = 'public' AND c.table_name = ANY(%s)
   AND pg_get_serial_sequence(quote_ident(c.table_name), c.column_name) IS NOT NULL
"""


def _ident(name: str) -> sql.Composable:
    return sql.Identifier(name)


def _column_list(columns: list[str]) -> sql.Composable:
    return sql.SQL(", ").join(_ident(c) for c in columns)


def dependency_order(tables: list[str], references: list[tuple[str, str]]) -> list[str]:
    """Tables with each after those it references (a cycle keeps the given order)."""
    wanted = set(tables)
    needs = {t: {ref for src, ref in references if src == t and ref in wanted and ref != t}
             for t in tables}
    ordered: list[str] = []
    while len(ordered) < len(tables):
        ready = [t for t in tables if t not in ordered and needs[t] <= set(ordered)]
        if not ready:  # a cycle: load the rest as listed
            ready = [t for t in tables if t not in ordered]
        ordered.extend(ready[:1])
    return ordered


def backup(database_url: str, target: Path, *, on_start: Callable[[int], None] = print,
           progress: Progress = lambda n: None, compresslevel: int = 6) -> dict[str, Any]:
    """Write the backup; return its header. One REPEATABLE READ snapshot: the log, the
    decision tables and the migration state are of the same instant."""
    with psycopg.connect(database_url) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        header = _header(conn)
        on_start(sum(t["rows"] for t in header["tables"]))
        partial = target.with_name(target.name + ".partial")
        with gzip.open(partial, "wb", compresslevel=compresslevel) as out:
            out.write(MAGIC)
            _line(out, header)
            for table in header["tables"]:
                _line(out, {"table": table["name"], "rows": table["rows"]})
                query = sql.SQL("COPY {} ({}) TO STDOUT").format(
                    _ident(table["name"]), _column_list(table["columns"]))
                with conn.cursor().copy(query) as copy:
                    for data in copy:
                        out.write(data)
                        progress(bytes(data).count(b"\n"))
            _line(out, {"end": True})
        partial.replace(target)
    return header


def _header(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    migrations = [{"number": n, "name": name, "checksum": checksum} for n, name, checksum in
                  conn.execute("SELECT number, name, checksum FROM schema_migrations"
                               " ORDER BY number").fetchall()]
    if not migrations:
        raise BackupError("the database has no migrations applied: nothing to back up")
    # COPY FROM checks foreign keys row by row: a table comes after those it references
    names = dependency_order([n for (n,) in conn.execute(_TABLES).fetchall()],
                             [(a, b) for a, b in conn.execute(_REFERENCES).fetchall()])
    tables = []
    for name in names:
        columns = [c for (c,) in conn.execute(_COLUMNS, (f'"{name}"',)).fetchall()]
        count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(_ident(name)))
        tables.append({"name": name, "columns": columns, "rows": count.fetchone()[0]})  # type: ignore[index]
    epoch = conn.execute("SELECT epoch FROM event_store_meta").fetchone()
    head = conn.execute("SELECT epoch, transaction_id, position FROM events"
                        " ORDER BY epoch DESC, transaction_id DESC, position DESC LIMIT 1"
                        ).fetchone()
    return {"format": "chatalot-backup", "version": 1, "migrations": migrations,
            "tables": tables, "epoch": epoch[0] if epoch else None,
            "head": ".".join(map(str, head)) if head else None,
            "server_version": conn.info.server_version}


def _line(out: gzip.GzipFile, value: dict[str, Any]) -> None:
    out.write(json.dumps(value, separators=(",", ":")).encode() + b"\n")


def read_header(source: Path) -> dict[str, Any]:
    with gzip.open(source, "rb") as stream:
        return _read_header(stream)


def _read_header(stream: gzip.GzipFile) -> dict[str, Any]:
    try:
        if stream.readline() != MAGIC:
            raise BackupError("not a Chatalot backup (no CHATALOT-BACKUP header)")
        header: dict[str, Any] = json.loads(stream.readline())
    except (OSError, EOFError, ValueError) as exc:
        raise BackupError(f"not a readable Chatalot backup: {exc}") from None
    return header


def check_migrations(header: dict[str, Any]) -> int:
    """The backup's schema must be one this code can build: every migration it lists is
    here, unchanged. Returns the last one's number."""
    known = {m.number: m for m in load(MIGRATIONS_DIR)}
    for entry in header["migrations"]:
        mine = known.get(entry["number"])
        if mine is None or mine.checksum != entry["checksum"]:
            raise BackupError(f"the backup was taken with migration {entry['name']}, which"
                              " this version does not have as it was: restore with the"
                              " version that made it, then upgrade")
    return int(header["migrations"][-1]["number"])


async def restore(database_url: str, source: Path, *, on_start: Callable[[int], None] = print,
                  progress: Progress = lambda n: None) -> dict[str, Any]:
    """Load a backup into an empty database, advance the epoch, apply newer migrations.
    Everything loads in one transaction: a failed restore leaves the schema only."""
    header = read_header(source)
    upto = check_migrations(header)
    _require_empty(database_url)
    await migrate(database_url, MIGRATIONS_DIR, upto=upto)
    on_start(sum(t["rows"] for t in header["tables"]))
    with gzip.open(source, "rb") as stream, psycopg.connect(database_url) as conn:
        _read_header(stream)
        by_name = {t["name"]: t for t in header["tables"]}
        # what the migrations seeded (event_store_meta's row) makes way for the backup's
        for name in reversed(list(by_name)):
            conn.execute(sql.SQL("DELETE FROM {}").format(_ident(name)))
        for table in _sections(stream, by_name):
            query = sql.SQL("COPY {} ({}) FROM STDIN").format(
                _ident(table["name"]), _column_list(table["columns"]))
            with conn.cursor().copy(query) as copy:
                for chunk, rows in _rows(stream, table["rows"]):
                    copy.write(chunk)
                    progress(rows)
        _reset_sequences(conn, list(by_name))
        advance_epoch(conn)
    await migrate(database_url, MIGRATIONS_DIR)
    return header


def _sections(stream: gzip.GzipFile, tables: dict[str, dict[str, Any]]
              ) -> Iterator[dict[str, Any]]:
    """The table sections in file order, checked against the header, then the end line."""
    try:
        while True:
            line = json.loads(stream.readline() or b"null")
            if line is None:
                raise BackupError("the backup is truncated (no end marker)")
            if line.get("end"):
                return
            table = tables.get(line.get("table"))
            if table is None or table["rows"] != line.get("rows"):
                raise BackupError(f"the backup is damaged near table {line.get('table')!r}")
            yield table
    except (OSError, EOFError, ValueError) as exc:
        raise BackupError(f"the backup is damaged or truncated: {exc}") from None


def _rows(stream: gzip.GzipFile, count: int) -> Iterator[tuple[bytes, int]]:
    buffer: list[bytes] = []
    size = rows = 0
    for _ in range(count):
        line = stream.readline()
        if not line.endswith(b"\n"):
            raise BackupError("the backup is truncated inside a table")
        buffer.append(line)
        size += len(line)
        rows += 1
        if size >= CHUNK:
            yield b"".join(buffer), rows
            buffer, size, rows = [], 0, 0
    if buffer:
        yield b"".join(buffer), rows


def _require_empty(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')").fetchone()
    if found and found[0]:
        raise BackupError("restore needs an empty database (no tables in its public schema):"
                          " create one (createdb) and point DATABASE_URL at it")


def _reset_sequences(conn: psycopg.Connection[Any], tables: list[str]) -> None:
    """Identity and serial columns continue after the restored rows."""
    for table, column, sequence in conn.execute(_SEQUENCES, (tables,)).fetchall():
        conn.execute(sql.SQL("SELECT setval(%s, coalesce((SELECT max({}) FROM {}), 0) + 1,"
                             " false)").format(_ident(column), _ident(table)), (sequence,))


def advance_epoch(conn: psycopg.Connection[Any]) -> int:
    """Move the epoch past every restored event and record this cluster, so the server's
    start-up check does not move it again. Run it before any node starts on the database
    (a running node keeps the epoch it read at start)."""
    sysid: str | None = None
    try:
        with conn.transaction():  # a savepoint: pg_control_system() may be refused
            found = conn.execute("SELECT system_identifier::text FROM pg_control_system()"
                                 ).fetchone()
            sysid = found[0] if found else None
    except psycopg.Error:
        sysid = None
    row = conn.execute(
        "UPDATE event_store_meta SET epoch = greatest(epoch,"
        " coalesce((SELECT max(epoch) FROM events), 0)) + 1,"
        " system_identifier = coalesce(%s, system_identifier) RETURNING epoch",
        (sysid,)).fetchone()
    if row is None:
        raise BackupError("event_store_meta is empty: not a Chatalot database")
    return int(row[0])
