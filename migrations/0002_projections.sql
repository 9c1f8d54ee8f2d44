-- Projections: where each build of each projector stands, and which build answers queries.
--
-- A build is one materialisation of a projector (name, version) into its own schema
-- `<name>_v<version>_b<build>`. Its checkpoint (the last position applied) is updated in
-- the same transaction as its writes. Queries read the views in `read_models`, which point
-- at the active build's tables; a rebuild fills a new build beside the active one and
-- repoints the views in one transaction (see projections/catalog.py).

CREATE SCHEMA read_models;

CREATE TABLE projection_builds (
    build bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text COLLATE "C" NOT NULL,
    version integer NOT NULL CHECK (version >= 1),
    -- bulk: loading from position 0, secondary indexes not built yet;
    -- live: caught up once, indexes built; retired: replaced, its schema awaits dropping
    state text NOT NULL DEFAULT 'bulk' CHECK (state IN ('bulk', 'live', 'retired')),
    epoch integer NOT NULL DEFAULT 0,
    transaction_id bigint NOT NULL DEFAULT 0,
    sequence bigint NOT NULL DEFAULT 0,
    events_done bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    live_at timestamptz,
    retired_at timestamptz,
    -- the last failure, cleared by the next batch that commits
    failed_position text,
    error text,
    failed_at timestamptz,
    failures integer NOT NULL DEFAULT 0
);
CREATE INDEX projection_builds_by_name ON projection_builds (name, build);

CREATE TABLE projection_versions (
    name text COLLATE "C" PRIMARY KEY,
    active_build bigint REFERENCES projection_builds (build),
    rebuild_requested_at timestamptz,
    flipped_at timestamptz
);
