-- The native chain (issue 11: the chain may cost appends at most 10 %): where the library
-- event_store_chain is installed (event_store/chain_ext; scripts/install builds it for the
-- embedded PostgreSQL and for a local one it can write to), event_batch_hashes(prev, stream,
-- base, recorded_us, batch) gives a batch's data hashes and links in one call, byte for
-- byte what event_data_hash and event_links give (tests/event_store/test_chain_native.py).
-- Where it is not (another server, a role that may not create C functions), this does
-- nothing and batches are chained in SQL as before; run this file again with psql once
-- the library is there. The event store uses the function when a call of it works.
DO $$
BEGIN
    CREATE OR REPLACE FUNCTION event_batch_hashes(prev bytea, stream text, base bigint,
                                                  recorded_us text, batch jsonb)
        RETURNS bytea AS 'event_store_chain', 'event_batch_hashes'
        LANGUAGE C STABLE PARALLEL SAFE;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'event_batch_hashes not created (%): batches are chained in SQL', SQLERRM;
END;
$$;
