-- Issue 11: the raw log filtered by who caused the events, by request or by type
-- (GET /api/admin/events?actor=|correlation_id=|type=, `chatalot events tail`),
-- newest or oldest first, without reading the whole log. The actor and the correlation id
-- are the event store's own metadata fields (event_store.Metadata: who caused an event,
-- through which request), the type its own column, so these indexes belong to the events
-- table like the commit-order one.
-- Partial: events appended without an actor or a correlation id stay out; `->> = x`
-- implies the predicate, so the planner still uses them.
CREATE INDEX events_actor ON events ((metadata->>'actor_id'), epoch, transaction_id, position)
    WHERE metadata->>'actor_id' IS NOT NULL;
CREATE INDEX events_correlation ON events ((metadata->>'correlation_id'))
    WHERE metadata->>'correlation_id' IS NOT NULL;
-- A type's newest (or oldest) events, however rare the type or busy the rest of the log.
CREATE INDEX events_type ON events (type, epoch, transaction_id, position);
