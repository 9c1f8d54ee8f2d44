"""A PostgreSQL event store: append with optimistic concurrency, read, subscribe, redact."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from types import ModuleType
from typing import Any, ClassVar

import msgspec
import psycopg
from psycopg_pool import AsyncConnectionPool

from event_store import sql
from event_store.errors import (
    ConcurrencyError,
    IdempotencyConflict,
    InvalidAppend,
    NotEncodable,
    PayloadTooLarge,
    StreamOrderConflict,
    UnknownEventType,
)
from event_store.horizon import HorizonWatch, held_back
from event_store.positions import START, Position
from event_store.records import (
    ANY,
    AppendResult,
    ExpectedVersion,
    HeldBack,
    Metadata,
    NewEvent,
    RecordedEvent,
)
from event_store.redaction import EventRedacted, redact_in, redaction_stream
from event_store.registry import EventRegistry
from event_store.stream_ids import validate_stream_id
from event_store.subscription import Subscription
from event_store.wakeups import InProcessBus, LocalSignal, WakeupBus
from event_store.window import LogWindow

log = logging.getLogger(__name__)

Conn = psycopg.AsyncConnection[Any]

MAX_PAYLOAD = 1024 * 1024
MAX_BATCH = 1000
_ANY_RETRIES = 20
_VERSION_KEY = "events_stream_id_version_key"


class EventStore:
    """The log. Every method is safe to call concurrently from many tasks."""

    # the append statements (bench/event_store.py swaps in the pre-chain ones, as baseline)
    _statements: ClassVar[ModuleType] = sql

    def __init__(self, pool: AsyncConnectionPool[Any], registry: EventRegistry,
                 bus: WakeupBus | None = None) -> None:
        if not isinstance(pool.conninfo, str):
            raise TypeError("the pool needs a plain conninfo string")
        self._pool = pool
        self.conninfo: str = pool.conninfo
        kwargs = pool.kwargs
        self.connect_kwargs: dict[str, Any] = dict(kwargs) if isinstance(kwargs, dict) else {}
        self.registry = registry
        self._bus: WakeupBus = bus or InProcessBus()
        self._signal = LocalSignal()
        self.horizon = HorizonWatch(self.conninfo, self.connect_kwargs, self._signal.fire)
        self.window = LogWindow(self)
        """The last events of the log, shared by this process's live subscriptions."""
        self._metadata_decoder = msgspec.json.Decoder(Metadata)
        self._metadata_cache: dict[str, Metadata] = {}  # bulk reads repeat metadata
        self._meta_encoder = msgspec.json.Encoder()
        self.epoch = 1
        self.native_chain = False  # batches chain with event_batch_hashes (0044): start()
        self.on_append: Callable[[int, float], None] | None = None  # (events, secs): metrics
        if EventRedacted.__name__ not in registry:
            registry.register(EventRedacted)

    @property
    def pool(self) -> AsyncConnectionPool[Any]:
        return self._pool

    @property
    def signal(self) -> LocalSignal:
        """Fired after every commit this process makes or hears of."""
        return self._signal

    async def start(self) -> None:
        """Read (or advance, after a restore into another cluster) the epoch; start the bus."""
        self.window.closed = False
        async with self._pool.connection() as conn:
            sysid: str | None = None
            with contextlib.suppress(psycopg.Error):
                cur = await conn.execute(
                    "SELECT system_identifier::text FROM pg_control_system()"
                )
                found = await cur.fetchone()
                sysid = found[0] if found else None
            if sysid is not None:
                await conn.execute(
                    "UPDATE event_store_meta SET system_identifier = %(s)s,"
                    " epoch = epoch + (system_identifier IS NOT NULL)::int"
                    " WHERE system_identifier IS DISTINCT FROM %(s)s",
                    {"s": sysid},
                )
            cur = await conn.execute("SELECT epoch FROM event_store_meta")
            row = await cur.fetchone()
            assert row is not None
            self.epoch = int(row[0])
            with contextlib.suppress(psycopg.Error):  # absent, or its library is missing
                async with conn.transaction():
                    await conn.execute(sql.NATIVE_PROBE)
                self.native_chain = True
        await self._bus.start(self._signal.fire)

    async def close(self) -> None:
        await self.window.close()
        await self.horizon.close()
        await self._bus.close()

    def committed(self) -> None:
        """Tell local and remote subscribers that the log grew; call only after commit."""
        self._signal.fire()
        self._bus.publish()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        """A transaction for appends plus the caller's own writes; wakes readers on commit."""
        async with self._pool.connection() as conn, conn.transaction():
            yield conn
        self.committed()

    # -- writing ---------------------------------------------------------------------------

    def _prepare(self, stream_id: str, events: Sequence[NewEvent]) -> str:
        """Validate everything and encode the batch as one JSON array, before any I/O."""
        validate_stream_id(stream_id)
        if not events:
            raise InvalidAppend("append needs at least one event")
        if len(events) > MAX_BATCH:
            raise InvalidAppend(f"at most {MAX_BATCH} events per append")
        rows: list[dict[str, Any]] = []
        ids: set[uuid.UUID] = set()
        for event in events:
            if not isinstance(event, NewEvent):
                raise InvalidAppend("append takes NewEvent values")
            name, version = self.registry.type_of(event.data)
            raw = self.registry.encode(event.data)
            if len(raw) > MAX_PAYLOAD:
                raise PayloadTooLarge(f"{name} payload is {len(raw)} bytes (max {MAX_PAYLOAD})")
            try:
                meta = self._meta_encoder.encode(event.metadata)
            except (TypeError, ValueError) as exc:
                raise NotEncodable(f"metadata cannot be encoded: {exc}") from None
            if b"\\u0000" in raw or b"\\u0000" in meta:  # jsonb cannot store NUL
                raise NotEncodable(f"{name} contains a NUL character")
            ids.add(event.event_id)
            rows.append({"id": event.event_id, "type": name, "schema": version,
                         "data": msgspec.Raw(raw), "meta": msgspec.Raw(meta)})
        if len(ids) != len(rows):
            raise InvalidAppend("duplicate event ids in one append")
        return self._meta_encoder.encode(rows).decode()

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
        *,
        conn: Conn | None = None,
    ) -> AppendResult:
        """Append a batch atomically.

        `expected_version`: ANY, NO_STREAM (0), or the stream's current version. Re-appending
        the same event ids with the same content returns the original result. With `conn`,
        the append joins the caller's transaction (see `transaction()`).
        """
        if expected_version is not ANY and (
            not isinstance(expected_version, int) or expected_version < 0
        ):
            raise InvalidAppend("expected_version must be ANY, NO_STREAM or a version >= 1")
        batch = self._prepare(stream_id, events)
        params: dict[str, Any] = {"stream": stream_id, "n": len(events), "batch": batch}
        if expected_version is ANY:
            mode, expected = "any", None
        elif expected_version == 0:
            mode, expected = "no_stream", 0
        else:
            mode, expected = "exact", expected_version
            params["expected"] = expected_version
        started = time.perf_counter()
        if conn is not None:
            result = await self._append_shared(conn, mode, params, expected)
        else:
            async with self._pool.connection() as own:
                result = await self._append_own(own, mode, params, expected)
            self.committed()
        if self.on_append is not None:  # after each append statement
            self.on_append(len(events), time.perf_counter() - started)
        return result

    async def _append_own(
        self, conn: Conn, mode: str, params: dict[str, Any], expected: int | None
    ) -> AppendResult:
        """Autocommit append. An ANY writer that lost its version to another writer tries
        again on the same connection (back in the pool's queue it would keep losing on a hot
        stream) and under the stream's transaction lock, so retrying writers go in turn."""
        stream_id: str = params["stream"]
        statement = self._statements.append_statement(
            mode, batch=params["n"] > 1, size=params["n"], native=self.native_chain)
        for attempt in range(_ANY_RETRIES if mode == "any" else 1):
            try:
                if attempt == 0:
                    rows = await (await conn.execute(statement, params)).fetchall()
                else:
                    async with conn.transaction():
                        await conn.execute(sql.STREAM_LOCK, (stream_id,))
                        rows = await (await conn.execute(statement, params)).fetchall()
            except psycopg.errors.UniqueViolation as exc:
                if mode == "any" and exc.diag.constraint_name == _VERSION_KEY:
                    continue  # another writer took the version: read it again
                rows = []
            if rows:
                return self._result(stream_id, rows)
            return await self._resolve(conn, params, expected)
        raise ConcurrencyError(stream_id, None, await self._version_on(conn, stream_id))

    async def _append_shared(
        self, conn: Conn, mode: str, params: dict[str, Any], expected: int | None
    ) -> AppendResult:
        """Inside the caller's transaction: all of the batch or none of it, and never on top
        of a head written by a younger transaction (`StreamOrderConflict`). Conflicting
        rows are skipped (an error would abort the caller's transaction) and then judged.

        An ANY append that lost its versions to an older transaction that committed
        meanwhile runs again: under READ COMMITTED the next statement sees the winner."""
        stream_id: str = params["stream"]
        statement = self._statements.append_in_transaction(
            mode, batch=params["n"] > 1, size=params["n"], native=self.native_chain)
        for _ in range(_ANY_RETRIES if mode == "any" else 1):
            rows = await (await conn.execute(statement, params)).fetchall()
            if len(rows) == params["n"]:
                return self._result(stream_id, rows)
            if rows:  # only when another append used some of these ids: a caller's bug
                raise IdempotencyConflict(
                    "some of this batch's event ids were appended meanwhile; roll back")
            try:
                return await self._resolve(conn, params, expected)
            except StreamOrderConflict:
                raise
            except ConcurrencyError:
                if mode != "any":
                    raise
        raise ConcurrencyError(stream_id, None, await self._version_on(conn, stream_id))

    async def lock_streams(self, conn: Conn, stream_ids: Iterable[str]) -> None:
        """Take the streams' transaction locks in one canonical order, before appending to
        several streams in one transaction: two such transactions then queue instead of
        deadlocking on each other's new versions."""
        await conn.execute(sql.STREAM_LOCKS, (sorted(stream_ids),))

    @staticmethod
    def _result(stream_id: str, rows: list[tuple[Any, ...]]) -> AppendResult:
        rows.sort(key=lambda r: r[3])
        return AppendResult(stream_id, rows[-1][3], [Position(r[1], r[2], r[0]) for r in rows])

    async def _version_on(self, conn: Conn, stream_id: str) -> int:
        cur = await conn.execute(sql.STREAM_VERSION, (stream_id,))
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _resolve(
        self, conn: Conn, params: dict[str, Any], expected: int | None
    ) -> AppendResult:
        """The append wrote nothing: a re-append (answer as before) or a conflict."""
        stream_id: str = params["stream"]
        cur = await conn.execute(sql.RESOLVE, params)
        found = await cur.fetchall()
        if found:
            versions = [r[4] for r in found]
            if (
                len(found) == params["n"]
                and all(r[0] for r in found)
                and versions == list(range(versions[0], versions[0] + len(versions)))
            ):
                positions = [Position(r[2], r[3], r[1]) for r in found]
                return AppendResult(stream_id, versions[-1], positions)
            raise IdempotencyConflict("event ids already used with other content")
        cur = await conn.execute(sql.HEAD_WRITER, (stream_id,))
        head = await cur.fetchone()
        version, younger = (int(head[0]), bool(head[1])) if head else (0, False)
        if younger:
            raise StreamOrderConflict(stream_id, version)
        raise ConcurrencyError(stream_id, expected, version)

    # -- reading ---------------------------------------------------------------------------

    def _decode(self, rows: list[tuple[Any, ...]]) -> list[RecordedEvent]:
        """Rows of `sql.COLUMNS` to events: the hot loop of every read, kept flat."""
        fast = self.registry.decoders()
        decode = self.registry.decode
        meta_cache = self._metadata_cache
        decode_meta = self._metadata_decoder.decode
        out: list[RecordedEvent] = []
        append = out.append
        for r in rows:
            step = fast.get((r[6], r[7]))
            data = step(r[8]) if step is not None else decode(r[6], r[7], r[8])
            meta = meta_cache.get(r[9])
            if meta is None:
                meta = decode_meta(r[9])
                if len(meta_cache) < 4096:
                    meta_cache[r[9]] = meta
            append(RecordedEvent(
                Position(r[1], r[2], r[0]), r[3], r[4], r[5], r[6], data, meta, r[10], r[11]
            ))
        return out

    async def stream_version(self, stream_id: str) -> int:
        validate_stream_id(stream_id)
        async with self._pool.connection() as conn:
            return await self._version_on(conn, stream_id)

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        backwards: bool = False,
        limit: int = 1000,
    ) -> list[RecordedEvent]:
        """One stream in version order (or reverse), starting at `from_version` inclusive."""
        validate_stream_id(stream_id)
        if backwards:
            bound = "e.version <= %s" if from_version is not None else "%s::bigint IS NULL"
            order = "DESC"
        else:
            bound = "e.version >= %s" if from_version is not None else "%s::bigint IS NULL"
            order = "ASC"
        query = (
            f"SELECT {sql.COLUMNS} FROM events e WHERE e.stream_id = %s AND {bound}"
            f" ORDER BY e.version {order} LIMIT %s"
        )
        async with self._pool.connection() as conn:
            cur = await conn.execute(query, (stream_id, from_version, limit))
            rows = await cur.fetchall()
        return self._decode(rows)

    async def read_all(
        self,
        after: Position = START,
        *,
        limit: int = 1000,
        category: str | None = None,
        types: Sequence[str] | None = None,
        conn: Conn | None = None,
    ) -> list[RecordedEvent]:
        """Committed events after `after`, in commit order, never skipping a late commit."""
        if conn is None:
            async with self._pool.connection() as own:
                rows = await self._read_rows(own, after, limit, category, types)
        else:
            rows = await self._read_rows(conn, after, limit, category, types)
        return self._decode(rows)

    async def _read_rows(
        self,
        conn: Conn,
        after: Position,
        limit: int,
        category: str | None,
        types: Sequence[str] | None,
    ) -> list[tuple[Any, ...]]:
        where = sql.VISIBLE
        params: list[Any] = [after.epoch, after.transaction_id, after.sequence, self.epoch]
        if category is not None:
            where = f"{sql.CATEGORY} AND {where}"
            params.insert(0, sql.category_pattern(category))
        if types is not None:
            for name in types:
                if name not in self.registry:
                    raise UnknownEventType(f"no event type registered as {name!r}")
            where += " AND e.type = ANY(%s::text[])"
            params.append(list(types))
        params.append(limit)
        query = f"SELECT {sql.COLUMNS} FROM events e WHERE {where}{sql.ORDER}"
        cur = conn.cursor(binary=True)
        await cur.execute(query, params)
        return await cur.fetchall()

    async def held_back(self, conn: Conn | None = None) -> HeldBack | None:
        """What keeps committed events from readers now (event_store/horizon.py)."""
        if conn is None:
            async with self._pool.connection() as own:
                return await held_back(own, self.epoch)
        return await held_back(conn, self.epoch)

    async def head(self) -> Position:
        """The newest position a reader can see now (START for an empty log)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql.HEAD, (self.epoch,))
            row = await cur.fetchone()
        return Position(row[1], row[2], row[0]) if row else START

    def subscribe(
        self,
        after: Position = START,
        *,
        batch_size: int = 500,
        category: str | None = None,
        poll_interval: float = 1.0,
        name: str = "subscription",
        prompt: bool = False,
    ) -> Subscription:
        """`prompt`: woken before the other live readers when the log grows (for a reader
        whose work between wake-up and its next wait is short and latency-bound)."""
        return Subscription(
            self,
            after,
            batch_size=batch_size,
            category=category,
            poll_interval=poll_interval,
            name=name,
            prompt=prompt,
        )

    # -- redaction -------------------------------------------------------------------------

    async def redact(
        self,
        event_id: uuid.UUID,
        replacement: msgspec.Struct,
        *,
        reason: str,
        metadata: Metadata = Metadata(),  # noqa: B008 - immutable
    ) -> AppendResult:
        """Replace an event's data by `replacement` (same type) and log who and why.

        Ids, positions, type and metadata stay; the row is marked redacted.
        """
        async with self.transaction() as conn:
            record = await redact_in(conn, self.registry, event_id, replacement, reason)
            return await self.append(
                redaction_stream(event_id), [NewEvent(record, metadata=metadata)], conn=conn
            )
