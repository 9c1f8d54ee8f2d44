"""The log: GET /api/admin/events (every filter of protocol.md's event log entry, cursor
paging, oldest or newest first), GET /api/admin/streams/{stream_id} and GET
/api/admin/audit-log. Instance staff see everything; a community's moderators see their
communities' streams and audit entries only (chatalot/domain/logbook/rules.py), and a
stream outside their part of the log is 404, as if it did not exist."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from litestar import Controller
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from chatalot.api.context import errors
from chatalot.api.guards import require_authenticated
from chatalot.api.read_your_writes import read_your_writes
from chatalot.api.routes import get
from chatalot.auth.principal import Principal
from chatalot.domain.errors import DomainError, bad_request
from chatalot.logbook import audit_queries, log_queries
from chatalot.logbook.audit_queries import AuditFilter
from chatalot.logbook.contracts import AuditPage, ChannelStateReply, EventPage
from chatalot.logbook.log_queries import EventFilter, parse_position, parse_time
from chatalot.logbook.runtime import LogbookRuntime
from chatalot.logbook.scope import scope_of
from chatalot.logbook.time_travel import channel_state
from event_store import Position

_TEXT = re.compile(r"[^\x00-\x1f\x7f]{1,200}")
_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")


def _text(value: str | None, name: str) -> str | None:
    if value is not None and not _TEXT.fullmatch(value):
        raise bad_request(f"{name} must be 1-200 characters without control characters")
    return value




def _order(order: str | None) -> bool:
    if order not in (None, "asc", "desc"):
        raise bad_request("order must be asc or desc")
    return order == "desc"


Types = Annotated[list[str] | None, QueryParameter(name="type")]
Actions = Annotated[list[str] | None, QueryParameter(name="action")]


def _names(values: list[str] | None, name: str) -> tuple[str, ...]:
    for value in values or ():
        if not _TYPE.fullmatch(value):
            raise bad_request(f"{name} must be an event type name")
    return tuple(values or ())


def _uuid(value: str | None, name: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise bad_request(f"{name} must be a UUID") from None


class AdminLogController(Controller):
    path = "/api/admin"
    tags = ["admin"]
    guards = [require_authenticated]

    @get("/events", summary="The event log, filtered and paged", cache=False,
         responses=errors(401, 403))  # 403: neither instance staff nor a moderator
    async def events(
        self, logbook: NamedDependency[LogbookRuntime], principal: NamedDependency[Principal],
        stream: FromQuery[str | None] = None, category: FromQuery[str | None] = None,
        types: Types = None, actor: FromQuery[str | None] = None,
        correlation_id: FromQuery[str | None] = None, after: FromQuery[str | None] = None,
        before: FromQuery[str | None] = None, since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None, order: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None, limit: FromQuery[int | None] = None,
    ) -> EventPage:
        """`type` may repeat; `after`/`before` are positions (exclusive), `since`/`until`
        RFC 3339 times (inclusive); `order` asc (default) or desc; `limit` 1-500 (100)."""
        f = EventFilter(
            stream=_text(stream, "stream"), category=_text(category, "category"),
            types=_names(types, "type"), actor=_text(actor, "actor"),
            correlation_id=_text(correlation_id, "correlation_id"),
            after=parse_position(after, "after"), before=parse_position(before, "before"),
            since=parse_time(since, "since"), until=parse_time(until, "until"),
            newest_first=_order(order),
            communities_in=(await scope_of(logbook.pool, principal)).communities)
        return await log_queries.events_page(logbook.pool, logbook.store, f, cursor, limit)

    @get("/streams/{stream_id:str}", summary="One stream's events", cache=False,
         responses=errors(401, 403, 404))
    async def stream(
        self, logbook: NamedDependency[LogbookRuntime], principal: NamedDependency[Principal],
        stream_id: FromPath[str],
        order: FromQuery[str | None] = None, cursor: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
    ) -> EventPage:
        """404 for a stream with no events."""
        f = EventFilter(stream=_text(stream_id, "stream_id"), newest_first=_order(order),
                        communities_in=(await scope_of(logbook.pool, principal)).communities)
        page = await log_queries.events_page(logbook.pool, logbook.store, f, cursor, limit)
        if not page.items and cursor is None:
            raise DomainError("not_found", "no such stream")
        return page

    @get("/audit-log", summary="Moderation and security actions", cache=False,
         responses=errors(401, 403), dependencies={"consistent": read_your_writes("audit_log")})
    async def audit_log(
        self, logbook: NamedDependency[LogbookRuntime], principal: NamedDependency[Principal],
        consistent: NamedDependency[Position | None],
        actor: FromQuery[str | None] = None, target: FromQuery[str | None] = None,
        actions: Actions = None, community_id: FromQuery[str | None] = None,
        channel_id: FromQuery[str | None] = None, since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None, order: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None, limit: FromQuery[int | None] = None,
    ) -> AuditPage:
        """Newest first unless `order=asc`. `actor` and `target` are user ids, `action` an
        event type (may repeat), `since`/`until` RFC 3339 times; `limit` 1-500 (100)."""
        _order(order)  # validates
        f = AuditFilter(
            actor=_text(actor, "actor"), target=_text(target, "target"),
            actions=_names(actions, "action"),
            community_id=_uuid(community_id, "community_id"),
            channel_id=_uuid(channel_id, "channel_id"),
            since=parse_time(since, "since"), until=parse_time(until, "until"),
            oldest_first=order == "asc",
            communities_in=(await scope_of(logbook.pool, principal)).communities)
        return await audit_queries.audit_page(logbook.pool, f, cursor, limit)

    @get("/channels/{channel_id:str}/state", summary="A channel as of a point in the log",
         cache=False, responses=errors(401, 403, 404))
    async def channel_state(
        self, logbook: NamedDependency[LogbookRuntime], principal: NamedDependency[Principal],
        channel_id: FromPath[str], at_position: FromQuery[str | None] = None,
        at_time: FromQuery[str | None] = None,
    ) -> ChannelStateReply:
        """Settings, members and roles, bans as of `at_position` (inclusive) or `at_time`
        (RFC 3339), replayed from the log; now without either. 404 for a channel that did
        not exist then."""
        cid = _uuid(channel_id, "channel_id")
        assert cid is not None
        if at_position is not None and at_time is not None:
            raise bad_request("give at_position or at_time, not both")
        scope = await scope_of(logbook.pool, principal)
        return await channel_state(logbook.store, cid, scope,
                                   at=parse_position(at_position, "at_position"),
                                   at_time=parse_time(at_time, "at_time"))
