"""The messages projector numbers each channel's messages (`ord`) batch by batch, and unread
counts subtract those numbers (chatalot/messaging/unreads.py). Property: however the log is
cut into batches (live: a few events each; a rebuild: thousands), the tables come out the
same, and every user's unread and mention counts in every channel equal a count made from
the events themselves."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql

from chatalot.domain.messaging.events import (
    MessageDeleted,
    MessageEdited,
    MessageSent,
    ReadCursorMoved,
)
from chatalot.messaging.unreads import _UNREAD, _UNREAD_BY_POSITION
from event_store import Metadata, Position, RecordedEvent
from projections.projector import ProjectionContext
from projections.read_models.messaging import Messages

CHANNELS = [uuid.UUID(int=0xC0 + i) for i in range(3)]
USERS = [uuid.UUID(int=0xA0 + i) for i in range(3)]
AT = datetime(2026, 1, 1, tzinfo=UTC)

users = st.frozensets(st.integers(0, 2), max_size=2)
op_strategy = st.one_of(
    st.tuples(st.just("send"), st.integers(0, 2), st.integers(0, 3), users),
    st.tuples(st.just("edit"), st.integers(0, 99), st.just(0), users),
    st.tuples(st.just("delete"), st.integers(0, 99), st.just(0), users),
    st.tuples(st.just("mark"), st.integers(0, 99), st.integers(0, 2), users),
)


def events_of(ops: list[tuple[str, int, int, frozenset[int]]]) -> tuple[list[RecordedEvent],
                                                                         dict[Any, Any]]:
    """The ops as recorded events, and the truth: {(user, channel): (unread, mentions)}."""
    sent: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None]] = []  # id, channel, sender
    mentions: dict[uuid.UUID, set[uuid.UUID]] = {}
    deleted: set[uuid.UUID] = set()
    cursors: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
    out: list[RecordedEvent] = []

    def record(stream: str, data: Any) -> None:
        n = len(out) + 1
        out.append(RecordedEvent(Position(1, 1000 + n // 3, n), stream, 1, uuid.uuid4(),
                                 type(data).__name__, data, Metadata(), AT))

    for kind, a, b, who in ops:
        people = {USERS[i] for i in who}
        if kind == "send":
            mid = uuid.uuid4()
            sender = USERS[b] if b < 3 else None  # a webhook's message has no sender
            sent.append((mid, CHANNELS[a], sender))
            mentions[mid] = people
            record(f"message-{mid}", MessageSent(
                message_id=mid, channel_id=CHANNELS[a], sender_id=sender, ciphertext="eA==",
                nonce="", encryption="none", message_type="text", mentions=sorted(people)))
        elif sent:
            k = a % len(sent)
            mid, channel, _ = sent[k]
            if kind == "edit":
                if mid not in deleted:
                    mentions[mid] = people
                record(f"message-{mid}", MessageEdited(
                    message_id=mid, channel_id=channel, editor_id=USERS[0], ciphertext="eQ==",
                    nonce="", mentions=sorted(people)))
            elif kind == "delete":
                deleted.add(mid)
                record(f"message-{mid}", MessageDeleted(
                    message_id=mid, channel_id=channel, deleted_by=USERS[0],
                    by_moderator=False))
            else:
                cursors[(USERS[b], channel)] = k
                record(f"reads-{USERS[b]}", ReadCursorMoved(
                    channel_id=channel, user_id=USERS[b], message_id=mid, receipt=True))
    truth = {}
    for user in USERS:
        for channel in CHANNELS:
            after = cursors.get((user, channel), -1)
            unread = [mid for i, (mid, ch, sender) in enumerate(sent)
                      if ch == channel and i > after and sender != user and mid not in deleted]
            truth[(user, channel)] = (len(unread), sum(user in mentions[m] for m in unread))
    return out, truth


async def project(conn: Any, schema: str, events: list[RecordedEvent],
                  cuts: list[int]) -> None:
    projector = Messages()
    await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    for statement in projector.table_statements(schema):
        await conn.execute(statement)
    for statement in projector.index_statements(schema):
        await conn.execute(statement)
    ctx = ProjectionContext(conn, schema, projector.tables, rebuilding=False,
                            store=None)  # type: ignore[arg-type]  # never read here
    bounds = [0, *sorted(c % (len(events) + 1) for c in cuts), len(events)]
    for start, end in itertools.pairwise(bounds):
        if end > start:
            async with conn.transaction():
                await projector.apply(events[start:end], ctx)


async def tables(conn: Any, schema: str) -> dict[str, list[Any]]:
    state = {}
    for table in Messages.tables:
        cur = await conn.execute(sql.SQL("SELECT * FROM {}").format(
            sql.Identifier(schema, table)))
        state[table] = sorted(await cur.fetchall(), key=repr)
    return state


async def counts(conn: Any, schema: str, text: str = _UNREAD) -> dict[Any, tuple[int, int]]:
    query = sql.SQL(text).format(
        cursors=sql.Identifier(schema, "read_cursors"),
        messages=sql.Identifier(schema, "messages"),
        heads=sql.Identifier(schema, "channel_heads"),
        channels=sql.SQL("unnest(%(channels)s::uuid[])"))
    found = {}
    for user in USERS:
        cur = await conn.execute(query, {"channels": CHANNELS, "user": user})
        for channel, _, n, mentioned in await cur.fetchall():
            found[(user, channel)] = (n, mentioned)
    return found


@given(ops=st.lists(op_strategy, min_size=1, max_size=30),
       cuts=st.lists(st.integers(0, 1000), max_size=6))
async def test_unread_counts_and_tables_do_not_depend_on_batching(
        pool: Any, ops: list[Any], cuts: list[int]) -> None:
    events, truth = events_of(ops)
    if not events:
        return
    tag = uuid.uuid4().hex[:8]
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        await project(conn, f"one_{tag}", events, [])
        await project(conn, f"cut_{tag}", events, cuts)
        await project(conn, f"each_{tag}", events, list(range(1, len(events))))
        one = await tables(conn, f"one_{tag}")
        assert await tables(conn, f"cut_{tag}") == one
        assert await tables(conn, f"each_{tag}") == one
        assert await counts(conn, f"one_{tag}") == truth
        assert await counts(conn, f"cut_{tag}") == truth
        # the fallback for builds without `ord` (while an upgrade rebuilds) agrees
        assert await counts(conn, f"cut_{tag}", _UNREAD_BY_POSITION) == truth
