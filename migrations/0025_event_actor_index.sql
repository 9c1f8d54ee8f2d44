-- Issue 11: the raw log filtered by who caused the events (GET /api/admin/events?actor=,
-- `chatalot events tail --actor`), newest or oldest first, without reading the whole log.
-- The actor is the event store's own metadata field (event_store.Metadata.actor_id: who
-- caused an event), so the index belongs to the events table like the commit-order one.
-- Partial: events appended without an actor (projections' and system events) stay out of
-- it; `metadata->>'actor_id' = x` implies the predicate, so the planner still uses it.
CREATE INDEX events_actor ON events ((metadata->>'actor_id'), epoch, transaction_id, position)
    WHERE metadata->>'actor_id' IS NOT NULL;
