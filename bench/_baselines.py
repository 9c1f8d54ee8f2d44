"""What bench/event_store.py compares the event store against, for issue 11: the append
statements and schema from before the hash chain (a second scratch database, migrated
without the chain's migration and later ones except the events table's later indexes), and
today's schema without the log-page indexes (a third)."""

from __future__ import annotations

import functools
import re
import subprocess
import tempfile
import types
from collections.abc import Callable
from pathlib import Path

from _common import ROOT

from chatalot.db import MIGRATIONS_DIR, database_name, ensure_database, with_database
from event_store import EventStore
from event_store.migrations import migrate

BASELINE_COMMIT = "df279e8"  # main just before the hash chain (issue 11)
CHAIN_MIGRATION = 11
INDEX_MIGRATIONS = (25,)  # issue 11: the raw log's actor, correlation id and type indexes
# Every later migration that adds indexes to the events table: the chain's baseline has
# them all (0026's category, recorded_at and stream-order indexes and 0027's correlation
# order index update on every insert; without them the baseline wrote four index entries
# fewer per row, and that was charged to the chain).
EVENTS_INDEX_MIGRATIONS = (25, 26, 27)


class UnchainedStore(EventStore):
    """The event store with the append statements of BASELINE_COMMIT."""


def unchained_statements() -> types.ModuleType:
    text = subprocess.run(["git", "show", f"{BASELINE_COMMIT}:event_store/sql.py"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout
    module = types.ModuleType("unchained_sql")
    exec(compile(text, "unchained_sql.py", "exec"), module.__dict__)
    # before the chain, one statement served every size; the texts are kept once made, as
    # today's are (what is compared is the chain, not the formatting of the statements)
    by_mode = functools.cache(module.append_statement)
    module.append_statement = lambda mode, *, batch=False, size=0, native=False: by_mode(mode)
    in_tx = functools.cache(module.append_in_transaction)
    module.append_in_transaction = (
        lambda mode, *, batch, size=0, native=False: in_tx(mode, batch=batch))
    return module


async def variant_database(url: str, suffix: str, keep: Callable[[int], bool]) -> str:
    """A database beside `url`, migrated with the migration files `keep` keeps."""
    other = with_database(url, database_name(url) + suffix)
    ensure_database(other)
    with tempfile.TemporaryDirectory() as tmp:
        for path in MIGRATIONS_DIR.glob("*.sql"):
            if keep(int(path.name[:4])):
                (Path(tmp) / path.name).write_text(path.read_text())
        await migrate(other, Path(tmp))
    return other


async def unchained_database(url: str) -> str:
    """The schema before the chain, plus the later indexes of the events table (so the
    comparison is the chain's alone)."""
    later = events_migrations() - {CHAIN_MIGRATION}
    unknown = {n for n in later if n > CHAIN_MIGRATION} - set(EVENTS_INDEX_MIGRATIONS)
    if unknown:  # a new migration touches events: the baseline must have it, or say why
        raise SystemExit(f"bench/event_store.py: migrations {sorted(unknown)} touch the events"
                         " table; add them to EVENTS_INDEX_MIGRATIONS (or exclude them)")
    return await variant_database(
        url, "_before", lambda n: n < CHAIN_MIGRATION or n in EVENTS_INDEX_MIGRATIONS)


def events_migrations() -> set[int]:
    """The migrations that create indexes on, or alter, the events table."""
    found = set()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        text = " ".join(path.read_text().split())
        if re.search(r"\bON events\b|\bALTER TABLE events\b", text):
            found.add(int(path.name[:4]))
    return found


async def unindexed_database(url: str) -> str:
    """Today's schema without the log-page indexes (their cost on appends)."""
    return await variant_database(url, "_unindexed", lambda n: n not in INDEX_MIGRATIONS)
