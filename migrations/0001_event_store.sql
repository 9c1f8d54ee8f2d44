-- The event log: the only source of truth. Rows are immutable except through redaction
-- (see event_store/redaction and the guard trigger below).

CREATE TABLE event_store_meta (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    -- Incremented when the log is restored into another cluster: transaction ids restart
    -- there, so positions carry the epoch to stay ordered.
    epoch integer NOT NULL DEFAULT 1,
    system_identifier text
);
INSERT INTO event_store_meta (epoch) VALUES (1);

CREATE TABLE event_streams (
    stream_id text COLLATE "C" PRIMARY KEY,
    version bigint NOT NULL
);

CREATE TABLE events (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    epoch integer NOT NULL,
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    stream_id text COLLATE "C" NOT NULL,
    category text COLLATE "C" NOT NULL GENERATED ALWAYS AS (split_part(stream_id, '-', 1)) STORED,
    version bigint NOT NULL,
    event_id uuid NOT NULL UNIQUE,
    type text COLLATE "C" NOT NULL,
    schema_version smallint NOT NULL DEFAULT 1,
    data jsonb NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    recorded_at timestamptz NOT NULL DEFAULT now(),
    redacted boolean NOT NULL DEFAULT false,
    UNIQUE (stream_id, version)
);

-- Commit-order reads: (epoch, transaction_id, position) is the cursor.
CREATE INDEX events_commit_order ON events (epoch, transaction_id, position);
CREATE INDEX events_category_order ON events (category, epoch, transaction_id, position);

-- Events never change, except a redaction (which sets event_store.redaction = 'on' for its
-- transaction and may only replace data and mark the row redacted).
CREATE FUNCTION event_store_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('event_store.redaction', true) = 'on'
       AND NEW.position = OLD.position AND NEW.event_id = OLD.event_id
       AND NEW.stream_id = OLD.stream_id AND NEW.version = OLD.version
       AND NEW.type = OLD.type AND NEW.metadata = OLD.metadata
       AND NEW.transaction_id = OLD.transaction_id AND NEW.epoch = OLD.epoch
       AND NEW.recorded_at = OLD.recorded_at AND NEW.redacted THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'events are immutable (% refused)', TG_OP USING ERRCODE = 'ES423';
END;
$$;
CREATE TRIGGER events_immutable BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION event_store_guard();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION event_store_guard();

-- One call appends a batch: optimistic concurrency on event_streams, idempotency on
-- event_id. One statement means one round trip in autocommit mode.
--   p_expected: NULL = any version, 0 = the stream must not exist, n = it must be at n.
-- Errors: ES409 version conflict (DETAIL = actual version), ES410 event ids reused with
-- other content.
CREATE FUNCTION event_store_append(
    p_stream text, p_expected bigint, p_ids uuid[], p_types text[], p_schema smallint[],
    p_data jsonb[], p_meta jsonb[]
) RETURNS TABLE (r_position bigint, r_epoch integer, r_transaction_id text, r_version bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_n integer := cardinality(p_ids);
    v_new bigint;
    v_epoch integer;
    v_found integer;
    v_same boolean;
BEGIN
    IF EXISTS (SELECT 1 FROM events e WHERE e.event_id = ANY (p_ids)) THEN
        SELECT count(*), bool_and(e.stream_id = p_stream AND e.type = t.type
                                  AND e.data = t.data AND e.metadata = t.meta)
          INTO v_found, v_same
          FROM unnest(p_ids, p_types, p_data, p_meta) AS t(id, type, data, meta)
          JOIN events e ON e.event_id = t.id;
        IF v_found = v_n AND v_same AND (
            SELECT bool_and(e.version = first_v.version + t.ord - 1)
              FROM unnest(p_ids) WITH ORDINALITY AS t(id, ord)
              JOIN events e ON e.event_id = t.id
              CROSS JOIN (SELECT min(e2.version) AS version FROM events e2
                           WHERE e2.event_id = ANY (p_ids)) AS first_v) THEN
            RETURN QUERY
                SELECT e.position, e.epoch, e.transaction_id::text, e.version
                  FROM events e WHERE e.event_id = ANY (p_ids) ORDER BY e.version;
            RETURN;
        END IF;
        RAISE EXCEPTION 'event ids already used with other content' USING ERRCODE = 'ES410';
    END IF;

    IF p_expected IS NULL THEN
        INSERT INTO event_streams AS s (stream_id, version) VALUES (p_stream, v_n)
            ON CONFLICT (stream_id) DO UPDATE SET version = s.version + v_n
            RETURNING s.version INTO v_new;
    ELSIF p_expected = 0 THEN
        INSERT INTO event_streams (stream_id, version) VALUES (p_stream, v_n)
            ON CONFLICT (stream_id) DO NOTHING
            RETURNING version INTO v_new;
    ELSE
        UPDATE event_streams SET version = version + v_n
         WHERE stream_id = p_stream AND version = p_expected
         RETURNING version INTO v_new;
    END IF;
    IF v_new IS NULL THEN
        RAISE EXCEPTION 'stream % is not at version %', p_stream, p_expected
            USING ERRCODE = 'ES409',
                  DETAIL = coalesce((SELECT version FROM event_streams
                                      WHERE stream_id = p_stream), 0)::text;
    END IF;

    SELECT m.epoch INTO v_epoch FROM event_store_meta m;
    RETURN QUERY
        WITH ins AS (
            INSERT INTO events (epoch, stream_id, version, event_id, type, schema_version,
                                data, metadata)
            SELECT v_epoch, p_stream, v_new - v_n + t.ord, t.id, t.type, t.schema, t.data, t.meta
              FROM unnest(p_ids, p_types, p_schema, p_data, p_meta)
                   WITH ORDINALITY AS t(id, type, schema, data, meta, ord)
             ORDER BY t.ord
            RETURNING position, epoch, transaction_id, version
        )
        SELECT ins.position, ins.epoch, ins.transaction_id::text, ins.version
          FROM ins ORDER BY ins.version;
END;
$$;
