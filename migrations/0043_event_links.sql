-- A batch's links end to end (issue 11: the chain may cost appends at most 10 %).
-- event_links(prev, inputs) = event_chain(prev, inputs) (migration 0040) as one bytea, the
-- i-th link at bytes 32 * (i - 1) + 1 .. 32 * i: each row of a batch takes its own link with
-- substring, in O(1), so the append reads its JSON array once (event_store/sql.py). With
-- links as an array, the rows were read a second time, zipped with unnest.
-- event_chain stays: nodes of the previous release still call it during an upgrade.
CREATE FUNCTION event_links(prev bytea, inputs bytea[]) RETURNS bytea
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    link bytea := coalesce(prev, '\x'::bytea);
    input bytea;
    links bytea := '\x';
BEGIN
    FOREACH input IN ARRAY coalesce(inputs, '{}') LOOP
        link := sha256(link || input);
        links := links || link;
    END LOOP;
    RETURN links;
END;
$$;
