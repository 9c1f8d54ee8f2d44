"""The audit log (issue 11 item 1): every moderation and security action, who did it to
whom, where, when, why, from which address and user agent; read through
`read_models.audit_log` by chatalot/logbook/audit_queries.py (GET /api/admin/audit-log).

Which event types are audited is the application's choice (chatalot/logbook/context.py
names them in a subclass); the fields are read by the conventions every context follows (the
spaces port, PORTS.md): the concerned user is `user_id`, a moderator is `moderator_id`, the
place is `community_id` / `channel_id`, the why is `reason`; the acting user, address and
user agent are in the metadata. This module imports nothing from chatalot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from psycopg import sql

from event_store import RecordedEvent
from projections.projector import ProjectionContext, Projector

_INSERT = """
INSERT INTO {t} (event_id, epoch, transaction_id, sequence, action, actor_id, target_user_id,
                 community_id, channel_id, reason, ip, user_agent, created_at)
SELECT * FROM unnest(%s::uuid[], %s::int[], %s::bigint[], %s::bigint[], %s::text[],
                     %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                     %s::text[], %s::timestamptz[])
ON CONFLICT (event_id) DO NOTHING
"""
_FORGET = "DELETE FROM {t} WHERE event_id = %s"
_TARGETS = ("user_id", "target_user_id", "blocked_user_id", "target_id")
_ORDER = "epoch DESC, transaction_id DESC, sequence DESC"


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def row(event: RecordedEvent) -> tuple[Any, ...]:
    d, meta = event.data, event.metadata
    actor = meta.actor_id or _text(getattr(d, "moderator_id", None)) or _text(
        getattr(d, "reviewer_id", None) or getattr(d, "created_by", None))
    target = next((_text(getattr(d, name)) for name in _TARGETS
                   if getattr(d, name, None) is not None), None)
    reason = getattr(d, "reason", None)
    return (event.event_id, event.position.epoch, event.position.transaction_id,
            event.position.sequence, event.type, actor, target,
            _text(getattr(d, "community_id", None)), _text(getattr(d, "channel_id", None)),
            reason if isinstance(reason, str) else None, meta.ip, meta.user_agent,
            event.recorded_at)


class AuditLog(Projector):
    name = "audit_log"
    version = 1
    tables: ClassVar = {"audit_log": (
        "event_id uuid PRIMARY KEY, epoch integer NOT NULL, transaction_id bigint NOT NULL,"
        " sequence bigint NOT NULL, action text NOT NULL, actor_id text, target_user_id text,"
        " community_id text, channel_id text, reason text, ip text, user_agent text,"
        " created_at timestamptz NOT NULL")}
    indexes: ClassVar = [
        f"CREATE INDEX ON {{audit_log}} ({_ORDER})",
        f"CREATE INDEX ON {{audit_log}} (actor_id, {_ORDER})",
        f"CREATE INDEX ON {{audit_log}} (target_user_id, {_ORDER})",
        f"CREATE INDEX ON {{audit_log}} (action, {_ORDER})",
        f"CREATE INDEX ON {{audit_log}} (community_id, {_ORDER})",
        f"CREATE INDEX ON {{audit_log}} (channel_id, {_ORDER})",
        "CREATE INDEX ON {audit_log} (created_at)",  # since/until: a window, then sorted
    ]

    # The application subclasses with the types it audits, EventRedacted among them: the
    # redaction is an audited action, and the entry of the event it redacted is written
    # again from what the log holds now (a rebuild sees only that).
    event_types: ClassVar[frozenset[str] | str] = frozenset({"EventRedacted"})

    async def apply(self, events: Sequence[RecordedEvent], ctx: ProjectionContext) -> None:
        rows: list[tuple[Any, ...]] = []
        for event in events:
            if event.type == "EventRedacted":
                redacted = await ctx.current(event.data.stream_id, event.data.event_id)
                if redacted is not None and redacted.type in self.event_types:
                    await self._write(rows, ctx)
                    rows = []
                    await ctx.conn.execute(sql.SQL(_FORGET).format(t=ctx.table("audit_log")),
                                           (redacted.event_id,))
                    rows.append(row(redacted))
            rows.append(row(event))
        await self._write(rows, ctx)

    @staticmethod
    async def _write(rows: list[tuple[Any, ...]], ctx: ProjectionContext) -> None:
        if rows:
            await ctx.conn.execute(sql.SQL(_INSERT).format(t=ctx.table("audit_log")),
                                   [list(column) for column in zip(*rows, strict=True)])
