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

CREATE TABLE events (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    epoch integer NOT NULL,
    -- the writing transaction (xid8 as bigint: cheap to compare, index and return)
    transaction_id bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
    stream_id text COLLATE "C" NOT NULL,
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

-- UNIQUE (stream_id, version) is the optimistic-concurrency guard and the stream index
-- (collation "C": stream-id prefixes, the categories, are plain byte ranges).
-- Commit-order reads: (epoch, transaction_id, position) is the cursor.
CREATE INDEX events_commit_order ON events (epoch, transaction_id, position);

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
