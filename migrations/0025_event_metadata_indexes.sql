-- Issue 11: the raw log filtered by who caused the events, by request, by type or by time
-- (GET /api/admin/events?actor=|correlation_id=|type=|since=&until=, `chatalot events tail`),
-- newest or oldest first, without reading the whole log. The actor and the correlation id
-- are the event store's own metadata fields (event_store.Metadata: who caused an event,
-- through which request), the type and time its own columns, so these indexes belong to the events
-- table like the commit-order one.
-- Partial: events appended without an actor or a correlation id stay out; `->> = x`
-- implies the predicate, so the planner still uses them.
CREATE INDEX events_actor ON events ((metadata->>'actor_id'), epoch, transaction_id, position)
    WHERE metadata->>'actor_id' IS NOT NULL;
CREATE INDEX events_correlation ON events ((metadata->>'correlation_id'))
    WHERE metadata->>'correlation_id' IS NOT NULL;
-- A type's newest (or oldest) events, however rare the type or busy the rest of the log.
CREATE INDEX events_type ON events (type, epoch, transaction_id, position);
-- Rows arrive in time order (near enough: a transaction's start), so a BRIN index of
-- small ranges finds a time window for almost nothing on the append path.
CREATE INDEX events_recorded_at ON events USING brin (recorded_at)
    WITH (pages_per_range = 16);
