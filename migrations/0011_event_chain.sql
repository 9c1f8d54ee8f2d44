-- Tamper evidence (issue 11 item 6): every event row carries a hash chained to the previous
-- event of its stream, over its ids, type, metadata, time and the hash of its data. A
-- redaction replaces the data but keeps data_hash and hash, so the chain still verifies.
-- Sealed checkpoints (commit-order cursor + a combined hash of every event up to it) make a
-- rewritten history (a deleted stream tail, a forged chain) detectable.

-- The hash of an event's data: of jsonb's canonical text, so it never depends on how the
-- writer spelled the JSON.
CREATE FUNCTION event_data_hash(data jsonb) RETURNS bytea
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT sha256(convert_to(data::text, 'UTF8')) $$;

-- One link of a stream's chain: sha256(previous link || event_link_input(...)). Fields are
-- joined by newlines: none of them can hold a raw newline (stream ids and type names have
-- no control characters; jsonb escapes them). schema_version is left out: a redaction may
-- change it. (A batch append chains the inputs itself: event_store/sql.py.)
CREATE FUNCTION event_link_input(event_id uuid, stream_id text, version bigint, type text,
                                 metadata jsonb, recorded_at timestamptz, data_hash bytea)
    RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT convert_to(concat_ws(E'\n', event_id::text, stream_id, version::text, type,
        metadata::text, trunc(extract(epoch FROM recorded_at) * 1000000)::bigint::text),
        'UTF8') || data_hash $$;

CREATE FUNCTION event_link(prev bytea, event_id uuid, stream_id text, version bigint,
                           type text, metadata jsonb, recorded_at timestamptz,
                           data_hash bytea) RETURNS bytea
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT sha256(coalesce(prev, '\x'::bytea) || event_link_input(event_id, stream_id,
        version, type, metadata, recorded_at, data_hash)) $$;

ALTER TABLE events ADD COLUMN data_hash bytea, ADD COLUMN hash bytea;

-- Rows written before this migration get their links now, stream by stream.
ALTER TABLE events DISABLE TRIGGER events_immutable;
DO $$
DECLARE
    r record;
    prev bytea;
    prev_stream text;
BEGIN
    FOR r IN SELECT position, stream_id, version, event_id, type, metadata, recorded_at, data
               FROM events ORDER BY stream_id, version LOOP
        IF prev_stream IS DISTINCT FROM r.stream_id THEN
            prev := NULL;
            prev_stream := r.stream_id;
        END IF;
        prev := event_link(prev, r.event_id, r.stream_id, r.version, r.type, r.metadata,
                           r.recorded_at, event_data_hash(r.data));
        UPDATE events SET data_hash = event_data_hash(r.data), hash = prev
         WHERE position = r.position;
    END LOOP;
END;
$$;
ALTER TABLE events ENABLE TRIGGER events_immutable;
ALTER TABLE events ALTER COLUMN data_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL;

-- The guard of 0001, plus: a redaction keeps both hashes.
CREATE OR REPLACE FUNCTION event_store_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('event_store.redaction', true) = 'on'
       AND NEW.position = OLD.position AND NEW.event_id = OLD.event_id
       AND NEW.stream_id = OLD.stream_id AND NEW.version = OLD.version
       AND NEW.type = OLD.type AND NEW.metadata = OLD.metadata
       AND NEW.transaction_id = OLD.transaction_id AND NEW.epoch = OLD.epoch
       AND NEW.recorded_at = OLD.recorded_at AND NEW.redacted
       AND NEW.data_hash = OLD.data_hash AND NEW.hash = OLD.hash THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'events are immutable (% refused)', TG_OP USING ERRCODE = 'ES423';
END;
$$;

-- Sealed checkpoints: each covers the events after the previous one's cursor up to its own
-- (commit order: epoch, transaction_id, position), all below the readers' horizon, so no
-- later commit can land inside a sealed range. combined = sha256(previous combined ||
-- the covered events' hashes in commit order); seal = a signature over the whole row by a
-- key kept outside the database.
CREATE TABLE event_checkpoints (
    seq bigint PRIMARY KEY,
    epoch integer NOT NULL,
    transaction_id bigint NOT NULL,
    position bigint NOT NULL,
    events bigint NOT NULL,
    total bigint NOT NULL,
    combined bytea NOT NULL,
    seal bytea,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION event_checkpoints_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'checkpoints are immutable (% refused)', TG_OP USING ERRCODE = 'ES423';
END;
$$;
CREATE TRIGGER event_checkpoints_immutable BEFORE UPDATE OR DELETE ON event_checkpoints
    FOR EACH ROW EXECUTE FUNCTION event_checkpoints_guard();
CREATE TRIGGER event_checkpoints_no_truncate BEFORE TRUNCATE ON event_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION event_checkpoints_guard();
