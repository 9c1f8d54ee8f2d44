-- Projections: the rate of each build as its worker measured it (events/s over its last few
-- seconds of batches), so that any process can show a rebuild's rate and ETA (issue 21).
ALTER TABLE projection_builds ADD COLUMN rate double precision;
