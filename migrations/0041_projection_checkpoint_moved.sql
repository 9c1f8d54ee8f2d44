-- A projector's batch in one round trip (BEGIN, checkpoint, writes, COMMIT sent together,
-- projections/worker.py): the checkpoint's compare-and-set cannot be looked at before the
-- writes are sent, so a build that was retired or moved on elsewhere fails the statement
-- instead, and the batch's transaction rolls back with it.
CREATE FUNCTION projection_checkpoint_moved(build bigint) RETURNS boolean
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION 'projection build % was retired or moved on elsewhere', build
        USING ERRCODE = 'PJ409';
END;
$$;
