-- Issue 11: the raw log by correlation id (GET /api/admin/events?correlation_id=) as one
-- index range read in commit order with its LIMIT, like the stream, type and category pages
-- (chatalot/logbook/log_queries.py `_keyed_page`). The partial index of 0025 on the id alone
-- left the planner walking the whole log in commit order (p99 0.7 s at 1,000,000 events).
DROP INDEX IF EXISTS events_correlation;
CREATE INDEX events_correlation_order
    ON events ((metadata->>'correlation_id'), epoch, transaction_id, position);
