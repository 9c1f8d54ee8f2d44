-- The links of a batch in one pass (issue 11: the chain may cost appends at most 10 %).
-- event_chain(prev, inputs)[i] = event_link of the i-th event of a batch, whose
-- event_link_input is inputs[i], after a head whose link is prev (NULL for a new stream):
-- sha256(coalesce(previous link, '') || input), as event_link computes it. Before, a batch
-- chained its inputs with a recursive CTE joined back to its rows (two sorts and a merge
-- join per append); a loop over an array (expanded in place: O(1) reads and writes) needs
-- neither. Verification still recomputes each link with event_link_input (integrity.py).
CREATE FUNCTION event_chain(prev bytea, inputs bytea[]) RETURNS bytea[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    link bytea := prev;
    links bytea[] := '{}';
BEGIN
    FOR i IN 1 .. coalesce(array_length(inputs, 1), 0) LOOP
        link := sha256(coalesce(link, '\x'::bytea) || inputs[i]);
        links[i] := link;
    END LOOP;
    RETURN links;
END;
$$;

-- event_link_input, split so that a batch computes its time once (its events share now()):
-- the fields' text (event_link_fields, given the time as microseconds' text) and the time's
-- text (event_recorded_us). event_link_input is the same function as 0011's, byte for
-- byte, now written with the two; rows linked before verify as they did.
CREATE FUNCTION event_recorded_us(recorded_at timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT trunc(extract(epoch FROM recorded_at) * 1000000)::bigint::text $$;

CREATE FUNCTION event_link_fields(event_id uuid, stream_id text, version bigint, type text,
                                  metadata jsonb, recorded_us text, data_hash bytea)
    RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT convert_to(concat_ws(E'\n', event_id::text, stream_id, version::text, type,
        metadata::text, recorded_us), 'UTF8') || data_hash $$;

CREATE OR REPLACE FUNCTION event_link_input(event_id uuid, stream_id text, version bigint,
                                            type text, metadata jsonb,
                                            recorded_at timestamptz, data_hash bytea)
    RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT event_link_fields(event_id, stream_id, version, type, metadata,
        event_recorded_us(recorded_at), data_hash) $$;
