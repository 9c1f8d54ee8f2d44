"""Events per stream category and type, and where each stream stands.

Useful to operators (which parts of the log grow, which streams are hot, how much was
redacted) and the reference for bulk-friendly projectors: it folds a whole batch in memory
and writes each table with one set-based statement, so a rebuild costs a few statements
per thousands of events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from psycopg import sql

from event_store import EventRedacted, RecordedEvent
from projections.projector import EVERY_EVENT, ProjectionContext, Projector

_COUNTS = """
INSERT INTO {t} AS t (category, type, events, first_recorded_at, last_recorded_at,
                      last_epoch, last_transaction_id, last_sequence)
SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::timestamptz[],
                     %s::timestamptz[], %s::int[], %s::bigint[], %s::bigint[])
ON CONFLICT (category, type) DO UPDATE
   SET events = t.events + excluded.events,
       first_recorded_at = least(t.first_recorded_at, excluded.first_recorded_at),
       last_recorded_at = greatest(t.last_recorded_at, excluded.last_recorded_at),
       last_epoch = excluded.last_epoch,
       last_transaction_id = excluded.last_transaction_id,
       last_sequence = excluded.last_sequence
"""

_REDACTED = """
UPDATE {t} AS t SET redacted = t.redacted + r.n
  FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS r(category, type, n)
 WHERE t.category = r.category AND t.type = r.type
"""

_HEADS = """
INSERT INTO {t} AS h (stream_id, category, version, events, last_type, last_recorded_at,
                      last_epoch, last_transaction_id, last_sequence)
SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::bigint[], %s::text[],
                     %s::timestamptz[], %s::int[], %s::bigint[], %s::bigint[])
ON CONFLICT (stream_id) DO UPDATE
   SET version = greatest(h.version, excluded.version),
       events = h.events + excluded.events,
       last_type = excluded.last_type,
       last_recorded_at = excluded.last_recorded_at,
       last_epoch = excluded.last_epoch,
       last_transaction_id = excluded.last_transaction_id,
       last_sequence = excluded.last_sequence
"""


def category(stream_id: str) -> str:
    """The stream id's prefix before the first "-" (the event store's categories)."""
    return stream_id.partition("-")[0]


class EventStats(Projector):
    name = "event_stats"
    version = 1
    event_types = EVERY_EVENT
    tables: ClassVar = {
        "event_type_counts": """
            category text COLLATE "C" NOT NULL,
            type text COLLATE "C" NOT NULL,
            events bigint NOT NULL,
            redacted bigint NOT NULL DEFAULT 0,
            first_recorded_at timestamptz NOT NULL,
            last_recorded_at timestamptz NOT NULL,
            last_epoch integer NOT NULL,
            last_transaction_id bigint NOT NULL,
            last_sequence bigint NOT NULL,
            PRIMARY KEY (category, type)""",
        "stream_heads": """
            stream_id text COLLATE "C" PRIMARY KEY,
            category text COLLATE "C" NOT NULL,
            version bigint NOT NULL,
            events bigint NOT NULL,
            last_type text COLLATE "C" NOT NULL,
            last_recorded_at timestamptz NOT NULL,
            last_epoch integer NOT NULL,
            last_transaction_id bigint NOT NULL,
            last_sequence bigint NOT NULL""",
    }
    indexes: ClassVar = [
        "CREATE INDEX ON {stream_heads} (category, last_recorded_at DESC)",
    ]

    async def apply(self, events: Sequence[RecordedEvent], ctx: ProjectionContext) -> None:
        counts: dict[tuple[str, str], tuple[int, datetime, datetime, RecordedEvent]] = {}
        heads: dict[str, tuple[int, RecordedEvent]] = {}
        redacted: dict[tuple[str, str], int] = {}
        for event in events:
            stream = event.stream_id
            key = (category(stream), event.type)
            at = event.recorded_at
            found = counts.get(key)
            if found is None:
                counts[key] = (1, at, at, event)
            else:
                counts[key] = (found[0] + 1, min(found[1], at), max(found[2], at), event)
            head = heads.get(stream)
            heads[stream] = (1 if head is None else head[0] + 1, event)
            if isinstance(event.data, EventRedacted):
                target = (category(event.data.stream_id), event.data.event_type)
                redacted[target] = redacted.get(target, 0) + 1

        rows = list(counts.items())
        await ctx.conn.execute(
            sql.SQL(_COUNTS).format(t=ctx.table("event_type_counts")),
            (
                [k[0] for k, _ in rows], [k[1] for k, _ in rows], [v[0] for _, v in rows],
                [v[1] for _, v in rows], [v[2] for _, v in rows],
                [v[3].position.epoch for _, v in rows],
                [v[3].position.transaction_id for _, v in rows],
                [v[3].position.sequence for _, v in rows],
            ),
        )
        if redacted:
            items = list(redacted.items())
            await ctx.conn.execute(
                sql.SQL(_REDACTED).format(t=ctx.table("event_type_counts")),
                ([k[0] for k, _ in items], [k[1] for k, _ in items], [n for _, n in items]),
            )
        streams = list(heads)
        last = [heads[s][1] for s in streams]
        await ctx.conn.execute(
            sql.SQL(_HEADS).format(t=ctx.table("stream_heads")),
            (
                streams, [category(s) for s in streams], [e.version for e in last],
                [heads[s][0] for s in streams], [e.type for e in last],
                [e.recorded_at for e in last], [e.position.epoch for e in last],
                [e.position.transaction_id for e in last],
                [e.position.sequence for e in last],
            ),
        )
