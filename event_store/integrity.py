"""Tamper evidence: check the streams' hash chains and the sealed checkpoints.

Every row's `hash` links it to the previous event of its stream (migration 0011), so an
edited, reordered, removed or inserted row breaks its stream's chain at that row. What a
chain alone cannot show (a stream's tail cut off, a whole stream removed, or a chain forged
by someone who knows the formula) the checkpoints show: each one seals the log up to a
commit-order cursor with a combined hash and a signature made by a key kept outside the
database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from event_store.sql import XMIN

Conn = psycopg.AsyncConnection[Any]
Seal = Callable[[bytes], bytes]
CheckSeal = Callable[[bytes, bytes], bool]

_CHECKPOINT_LOCK = "SELECT pg_advisory_xact_lock(1702261620, 11)"  # "evst", issue 11

# One page of the log in stream order, each row judged against the row before it (the page
# starts at the previous page's last row, which only seeds the comparison).
_CHAIN_PAGE = """
WITH page AS (
    SELECT e.position, e.epoch, e.transaction_id, e.stream_id, e.version, e.event_id,
           e.redacted, e.hash, e.redacted OR e.data_hash = event_data_hash(e.data) AS data_ok,
           event_link_input(e.event_id, e.stream_id, e.version, e.type, e.metadata,
                            e.recorded_at, e.data_hash) AS link_input
      FROM events e
     WHERE (e.stream_id, e.version) >= (%(stream)s, %(version)s)
     ORDER BY e.stream_id, e.version
     LIMIT %(limit)s
), lagged AS (
    SELECT p.*, lag(p.hash) OVER w AS prev_hash, lag(p.version) OVER w AS prev_version,
           lag(ROW(p.epoch, p.transaction_id, p.position)) OVER w AS prev_at,
           row_number() OVER (ORDER BY p.stream_id, p.version) AS n
      FROM page p WINDOW w AS (PARTITION BY p.stream_id ORDER BY p.version)
), judged AS (
    SELECT l.position, l.stream_id, l.version, l.event_id, l.n, CASE
        WHEN l.version <> coalesce(l.prev_version, 0) + 1 THEN 'version'
        WHEN l.prev_at >= ROW(l.epoch, l.transaction_id, l.position) THEN 'order'
        WHEN NOT l.data_ok THEN 'data'
        -- event_link, from the input computed above
        WHEN l.hash <> sha256(coalesce(l.prev_hash, '\\x'::bytea) || l.link_input) THEN 'link'
        WHEN l.redacted AND NOT EXISTS (  -- its record, in redaction_stream(event_id)
            SELECT 1 FROM events r WHERE r.stream_id = 'redaction-' || l.event_id::text
        ) THEN 'redaction'
    END AS problem
      FROM lagged l
)
SELECT position, stream_id, version, event_id, problem, n, (SELECT max(n) FROM judged)
  FROM judged
 WHERE problem IS NOT NULL OR n = (SELECT max(n) FROM judged)
 ORDER BY n
"""

_COVERED = """
SELECT count(*), sha256(%(prev)s::bytea || coalesce(
           string_agg(e.hash, ''::bytea ORDER BY e.epoch, e.transaction_id, e.position),
           '\\x'::bytea))
  FROM events e
 WHERE (e.epoch, e.transaction_id, e.position) > (%(e0)s, %(t0)s, %(p0)s)
   AND (e.epoch, e.transaction_id, e.position) <= (%(e1)s, %(t1)s, %(p1)s)
"""

_NEXT_RANGE = f"""
WITH r AS (
    SELECT e.epoch, e.transaction_id, e.position, e.hash FROM events e
     WHERE (e.epoch, e.transaction_id, e.position) > (%(e0)s, %(t0)s, %(p0)s)
       AND (e.epoch, e.transaction_id) < (%(epoch)s, {XMIN})
     ORDER BY e.epoch, e.transaction_id, e.position
     LIMIT %(limit)s
)
SELECT count(*), sha256(%(prev)s::bytea || coalesce(
           string_agg(r.hash, ''::bytea ORDER BY r.epoch, r.transaction_id, r.position),
           '\\x'::bytea)),
       last.epoch, last.transaction_id, last.position
  FROM r, (SELECT * FROM r ORDER BY r.epoch DESC, r.transaction_id DESC, r.position DESC
            LIMIT 1) last
 GROUP BY last.epoch, last.transaction_id, last.position
"""

_CHECKPOINT_COLUMNS = "seq, epoch, transaction_id, position, events, total, combined, seal"


@dataclass(frozen=True)
class Checkpoint:
    """The log sealed up to (epoch, transaction_id, position), in commit order."""

    seq: int
    epoch: int
    transaction_id: int
    position: int
    events: int  # covered since the previous checkpoint
    total: int
    combined: bytes
    seal: bytes | None = None

    def payload(self) -> bytes:
        """What the seal signs: every field, in a form no other signed thing takes."""
        return (
            f"chatalot-event-checkpoint\n{self.seq}\n{self.epoch}\n{self.transaction_id}\n"
            f"{self.position}\n{self.events}\n{self.total}\n{self.combined.hex()}"
        ).encode()


@dataclass(frozen=True)
class Break:
    """The first broken link of one stream."""

    stream_id: str
    version: int
    position: int
    event_id: str
    problem: str  # version | order | data | link | redaction


@dataclass
class VerifyReport:
    events: int = 0
    streams_broken: list[Break] = field(default_factory=list)
    checkpoints: int = 0
    checkpoint_problem: str | None = None  # the first checkpoint that does not hold
    sealed_events: int = 0
    unsealed_events: int = 0

    @property
    def ok(self) -> bool:
        return not self.streams_broken and self.checkpoint_problem is None


async def verify_chains(conn: Conn, *, page: int = 20_000, max_breaks: int = 1000,
                        progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Walk every stream in order; report each broken stream's first broken link."""
    report = VerifyReport()
    seen: set[str] = set()
    stream, version, overlap = "", 0, False
    while True:
        cur = await conn.execute(_CHAIN_PAGE, {"stream": stream, "version": version,
                                               "limit": page + overlap})
        rows = await cur.fetchall()
        if not rows or (overlap and rows[-1][5] == 1):
            break
        for position, stream_id, row_version, event_id, problem, n, _ in rows:
            if problem is not None and not (overlap and n == 1) and stream_id not in seen:
                seen.add(stream_id)
                if len(report.streams_broken) < max_breaks:
                    report.streams_broken.append(
                        Break(stream_id, row_version, position, str(event_id), problem))
        last = rows[-1]
        checked = int(last[6]) - overlap
        report.events += checked
        if progress is not None:
            progress(checked)
        if int(last[6]) < page + overlap:
            break
        stream, version, overlap = last[1], int(last[2]), True
    return report


async def checkpoints(conn: Conn) -> list[Checkpoint]:
    cur = await conn.execute(f"SELECT {_CHECKPOINT_COLUMNS} FROM event_checkpoints ORDER BY seq")
    return [Checkpoint(*row) for row in await cur.fetchall()]


def _bounds(before: Checkpoint | None) -> dict[str, Any]:
    if before is None:
        return {"e0": 0, "t0": 0, "p0": 0, "prev": b""}
    return {"e0": before.epoch, "t0": before.transaction_id, "p0": before.position,
            "prev": before.combined}


async def verify_checkpoints(conn: Conn, report: VerifyReport,
                             check_seal: CheckSeal | None = None) -> None:
    """Recompute every checkpoint from the rows it covers; check each seal."""
    before: Checkpoint | None = None
    for point in await checkpoints(conn):
        report.checkpoints += 1
        params = _bounds(before) | {"e1": point.epoch, "t1": point.transaction_id,
                                    "p1": point.position}
        cur = await conn.execute(_COVERED, params)
        row = await cur.fetchone()
        assert row is not None
        count, combined = int(row[0]), bytes(row[1])
        total = (before.total if before else 0) + point.events
        if point.seq != (before.seq + 1 if before else 1) or point.total != total:
            report.checkpoint_problem = f"checkpoint {point.seq}: the sequence was rewritten"
        elif count != point.events:
            report.checkpoint_problem = (
                f"checkpoint {point.seq}: {count} events where {point.events} were sealed")
        elif combined != point.combined:
            report.checkpoint_problem = (
                f"checkpoint {point.seq}: the events it sealed changed (combined hash)")
        elif check_seal is not None and (
                point.seal is None or not check_seal(point.payload(), bytes(point.seal))):
            report.checkpoint_problem = f"checkpoint {point.seq}: the seal does not verify"
        if report.checkpoint_problem is not None:
            return
        before = point
    report.sealed_events = before.total if before else 0
    cur = await conn.execute("SELECT count(*) FROM events")
    row = await cur.fetchone()
    report.unsealed_events = (int(row[0]) if row else 0) - report.sealed_events


async def verify(conn: Conn, check_seal: CheckSeal | None = None, *,
                 progress: Callable[[int], None] | None = None) -> VerifyReport:
    report = await verify_chains(conn, progress=progress)
    await verify_checkpoints(conn, report, check_seal)
    return report


async def write_checkpoint(conn: Conn, epoch: int, seal: Seal | None = None, *,
                           max_events: int = 200_000) -> Checkpoint | None:
    """Seal the events readers can see that no checkpoint covers yet (None: there are
    none). Runs in its own transaction; concurrent writers take turns."""
    async with conn.transaction():
        await conn.execute(_CHECKPOINT_LOCK)
        cur = await conn.execute(
            f"SELECT {_CHECKPOINT_COLUMNS} FROM event_checkpoints ORDER BY seq DESC LIMIT 1")
        found = await cur.fetchone()
        before = Checkpoint(*found) if found else None
        cur = await conn.execute(
            _NEXT_RANGE, _bounds(before) | {"epoch": epoch, "limit": max_events})
        row = await cur.fetchone()
        if row is None:
            return None
        count = int(row[0])
        point = Checkpoint(
            (before.seq if before else 0) + 1, int(row[2]), int(row[3]), int(row[4]), count,
            (before.total if before else 0) + count, bytes(row[1]))
        if seal is not None:
            point = Checkpoint(**{**point.__dict__, "seal": seal(point.payload())})
        await conn.execute(
            f"INSERT INTO event_checkpoints ({_CHECKPOINT_COLUMNS})"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (point.seq, point.epoch, point.transaction_id, point.position, point.events,
             point.total, point.combined, point.seal))
        return point

