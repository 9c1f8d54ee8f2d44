"""How a projector is declared: a name, a version, the event types it handles, the tables
it owns, and handlers that write SQL.

    class Messages(Projector):
        name = "messages"
        version = 1
        tables = {"messages": "id uuid PRIMARY KEY, channel_id uuid NOT NULL, body text"}
        indexes = ["CREATE INDEX ON {messages} (channel_id)"]   # built after the bulk load

        @on("MessageSent")
        async def sent(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
            await ctx.conn.execute(
                sql.SQL("INSERT INTO {} VALUES (%s, %s, %s)").format(ctx.table("messages")),
                (event.data.id, event.data.channel_id, event.data.body))

Handlers run in commit order inside the transaction that also moves the checkpoint, so a
batch's effects and its checkpoint commit together. A projector that wants bulk writes
overrides `apply` and gets the whole batch at once (see read_models/event_stats.py).
"""

from __future__ import annotations

import contextlib
import functools
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Final, TypeVar

import psycopg
from psycopg import sql

from event_store import EventRegistry, EventStore, RecordedEvent
from projections.errors import InvalidProjector, UnknownProjection

Conn = psycopg.AsyncConnection[Any]

NAME: Final = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
EVERY_EVENT: Final = "*"
VIEWS_SCHEMA: Final = "read_models"
"""Queries read `read_models.<table>`: a view onto the active build's table."""


def schema_name(name: str, version: int, build: int) -> str:
    """The schema that holds one build's tables."""
    return f"{name}_v{version}_b{build}"


def read_model(table: str) -> sql.Identifier:
    """The stable, always-valid name of a logical table for queries.

    It is a view repointed (in the flip transaction) at the active build's table, so a query
    never names a build that a rebuild is about to drop.
    """
    if not NAME.fullmatch(table):
        raise UnknownProjection(f"not a table name: {table!r}")
    return sql.Identifier(VIEWS_SCHEMA, table)


@functools.lru_cache(maxsize=512)
def _composed(template: str, schema: str, tables: tuple[tuple[str, str], ...]) -> bytes:
    """Templates are the projectors' own constants, never built from input."""
    return sql.SQL(template).format(
        **{key: sql.Identifier(schema, name) for key, name in tables}).as_bytes()


class ProjectionContext:
    """What handlers write through: the batch's transaction and their build's tables."""

    __slots__ = ("_tables", "conn", "pipelined", "rebuilding", "schema", "store")

    def __init__(
        self,
        conn: Conn,
        schema: str,
        tables: Iterable[str],
        *,
        rebuilding: bool,
        store: EventStore,
        pipelined: bool = False,
    ) -> None:
        self.conn = conn
        self.pipelined = pipelined
        """The batch's transaction is already one pipeline (projections/worker.py)."""
        self.schema = schema
        self.rebuilding = rebuilding
        """True while loading from position 0: large batches, secondary indexes not built."""
        self.store = store
        self._tables = {name: sql.Identifier(schema, name) for name in tables}

    def table(self, name: str) -> sql.Identifier:
        """The physical name of one of the projector's tables in the build being written."""
        try:
            return self._tables[name]
        except KeyError:
            raise UnknownProjection(f"the projector does not own a table {name!r}") from None

    def statement(self, template: str, **tables: str) -> bytes:
        """`template` with each `{placeholder}` replaced by the named table of this build,
        composed once per build and template: psycopg's composition, done per batch, was
        about 1 % of a serving process's CPU under a steady stream of sends."""
        for name in tables.values():
            self.table(name)  # UnknownProjection for a table the projector does not own
        return _composed(template, self.schema, tuple(tables.items()))

    def pipeline(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """Pipeline mode for a handler's statements: the batch's own pipeline when it runs
        in one (a nested pipeline would cost a round trip on leaving), else a new one."""
        if self.pipelined:
            return contextlib.nullcontext()
        return self.conn.pipeline()

    async def copy(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """Bulk-insert rows with COPY: the fastest load for rows that cannot conflict (an
        insert-only log, or any table while `rebuilding` if the projector knows its rows
        are new). Needs `pipeline = False` on the projector."""
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            self.table(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        )
        async with self.conn.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                await copy.write_row(row)

    async def current(self, stream_id: str, event_id: uuid.UUID) -> RecordedEvent | None:
        """An event as it stands now: after a redaction, the redacted content."""
        from_version = 1
        while True:
            page = await self.store.read_stream(stream_id, from_version=from_version, limit=500)
            for event in page:
                if event.event_id == event_id:
                    return event
            if len(page) < 500:
                return None
            from_version = page[-1].version + 1


Handler = Callable[[Any, RecordedEvent, ProjectionContext], Awaitable[None]]
H = TypeVar("H", bound=Handler)


def on(*event_types: str | type) -> Callable[[H], H]:
    """Mark a method as the handler of these event types (names, or the classes whose
    names they are registered under by default)."""
    names = tuple(t if isinstance(t, str) else t.__name__ for t in event_types)
    if not names:
        raise InvalidProjector("@on needs at least one event type")

    def mark(fn: H) -> H:
        fn.__projection_types__ = names  # type: ignore[attr-defined]
        return fn

    return mark


class Projector:
    """A named, versioned function from events to SQL writes on its own tables.

    Bump `version` whenever the tables or the handlers' meaning change: the runtime then
    builds the new version beside the old one and switches queries over once it caught up.
    """

    name: ClassVar[str]
    version: ClassVar[int]
    tables: ClassVar[Mapping[str, str]]
    """Logical table name -> its column and constraint definitions (what goes inside
    CREATE TABLE (...)). Keep the keys that upserts need here; secondary indexes go in
    `indexes`."""
    indexes: ClassVar[Sequence[str]] = ()
    """CREATE INDEX statements with `{table}` placeholders, run after the bulk load."""
    event_types: ClassVar[frozenset[str] | str]
    """The types it handles, or EVERY_EVENT; by default the types of its @on handlers."""
    pipeline: ClassVar[bool] = True
    """Run each batch's transaction in pipeline mode (statements are sent without waiting
    for each result). Set False in projectors that COPY (not allowed in a pipeline)."""
    settle: ClassVar[float] = 0.0
    """Live, seconds to wait after writing a batch that was not full before reading on,
    so that the traffic of that time is written as one batch: for read models whose
    readers can wait that long (read-your-writes waits still hold), to write them a few
    times a second under load instead of once per commit. 0: read on at once."""
    _handlers: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        handlers: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                for type_name in getattr(value, "__projection_types__", ()):
                    handlers[type_name] = attr
        cls._handlers = handlers
        if "event_types" not in vars(cls) and handlers:
            cls.event_types = frozenset(handlers)

    def wants(self, type_name: str) -> bool:
        types = self.event_types
        return types == EVERY_EVENT or type_name in types

    async def apply(self, events: Sequence[RecordedEvent], ctx: ProjectionContext) -> None:
        """Apply a batch in commit order. The default calls the @on handlers, pipelined."""
        if not self._handlers:
            raise NotImplementedError(f"{type(self).__name__} has no @on handlers and no apply")
        async with ctx.pipeline():
            for event in events:
                attr = self._handlers.get(event.type)
                if attr is not None:
                    await getattr(self, attr)(event, ctx)

    # -- DDL, run by the runtime -------------------------------------------------------------

    def table_statements(self, schema: str) -> list[sql.Composed]:
        return [
            sql.SQL("CREATE TABLE {} ({})").format(
                sql.Identifier(schema, table), sql.SQL(columns)  # trusted class constant
            )
            for table, columns in self.tables.items()
        ]

    def index_statements(self, schema: str) -> list[sql.Composed]:
        """Built CONCURRENTLY: a plain CREATE INDEX holds a transaction id for the whole
        build, and every reader of the log waits behind the oldest such transaction."""
        names = {table: sql.Identifier(schema, table) for table in self.tables}
        return [
            sql.SQL(_concurrently(text)).format(**names)  # trusted class constant
            for text in self.indexes
        ]


_INDEX = re.compile(r"^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+", re.IGNORECASE)


def _concurrently(statement: str) -> str:
    match = _INDEX.match(statement)
    if match is None or "CONCURRENTLY" in statement.upper():
        raise ValueError(f"an index is declared as CREATE [UNIQUE] INDEX ...: {statement!r}")
    unique = "UNIQUE " if match.group(1) else ""
    return f"CREATE {unique}INDEX CONCURRENTLY " + statement[match.end():]


def validate(projectors: Iterable[Projector], registry: EventRegistry | None = None
             ) -> dict[str, Projector]:
    """Check declarations once, at start-up: names, versions, that no two projectors claim
    the same table (queries find tables by logical name alone) and, given the registry,
    that every event type a projector handles is registered (a misspelt @on name would
    otherwise never match and the read model would silently miss those events)."""
    by_name: dict[str, Projector] = {}
    owner: dict[str, str] = {}
    for projector in projectors:
        cls = type(projector)
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise InvalidProjector(f"{cls.__name__}: name must match {NAME.pattern}")
        version = getattr(cls, "version", None)
        if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version < 2**31:
            raise InvalidProjector(f"{name}: version must be a positive integer")
        tables = getattr(cls, "tables", None)
        if not isinstance(tables, Mapping) or not tables:
            raise InvalidProjector(f"{name}: declare at least one table")
        types = getattr(cls, "event_types", None)
        if types != EVERY_EVENT and not (isinstance(types, frozenset) and types):
            raise InvalidProjector(f"{name}: declare event_types or @on handlers")
        if name in by_name:
            raise InvalidProjector(f"two projectors are named {name!r}")
        if registry is not None and types != EVERY_EVENT:
            unknown = sorted(t for t in types if t not in registry)
            if unknown:
                raise InvalidProjector(
                    f"{name}: handles {', '.join(map(repr, unknown))}, which no event type"
                    " is registered as")
        for table in tables:
            if not NAME.fullmatch(table):
                raise InvalidProjector(f"{name}: table name {table!r} must match {NAME.pattern}")
            if table in owner:
                raise InvalidProjector(f"{name} and {owner[table]} both declare table {table!r}")
            owner[table] = name
        for statement in getattr(cls, "indexes", ()):
            try:
                _concurrently(statement)
            except ValueError as exc:
                raise InvalidProjector(f"{name}: {exc}") from None
        by_name[name] = projector
    return by_name
