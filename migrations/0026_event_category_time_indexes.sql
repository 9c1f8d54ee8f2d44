-- Issue 11: the raw log by category or in a time window (GET /api/admin/events?category=,
-- since=/until=) as a page read in index order, not a walk of the log.
-- A category is the stream id's part before its first '-' (`user-<id>`, `channel-<id>`):
-- its events in commit order, so a page is an index range read backwards or forwards with
-- its LIMIT, however old or rare the category's events are. The query writes
-- `split_part(stream_id, '-', 1) = c` next to its `LIKE 'c-%'` (chatalot/logbook).
CREATE INDEX events_category
    ON events (split_part(stream_id, '-', 1), epoch, transaction_id, position);
-- A time window's events: recorded_at is the appending transaction's start, which follows
-- commit order only roughly, so a window is read by time and its page then sorted in commit
-- order; the commit-order columns make that read index-only.
CREATE INDEX events_recorded_at
    ON events (recorded_at) INCLUDE (epoch, transaction_id, position);
-- A stream's events in commit order (its page, `GET /api/admin/streams/{id}`, the stream
-- filter): version order is not commit order when transactions interleave, so the
-- (stream_id, version) key cannot serve it.
CREATE INDEX events_stream_order ON events (stream_id, epoch, transaction_id, position);
