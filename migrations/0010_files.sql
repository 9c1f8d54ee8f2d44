-- Files and media (chatalot/files/, docs/files.md): decision tables, written by the file
-- commands in the same transaction as their events. Read models (projections/read_models/
-- files.py) are built from the log; these tables are what commands decide from and what a
-- download checks at request time.

-- One row per stored blob (content-addressed). `refs` counts the files, thumbnails and
-- media assets that use it; the collector removes bytes whose row has refs = 0 and no
-- live pin, under the row's lock (chatalot/files/collector.py).
CREATE TABLE file_blobs (
    sha256 text PRIMARY KEY,
    size_bytes bigint NOT NULL,
    refs integer NOT NULL DEFAULT 0 CHECK (refs >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX file_blobs_unreferenced ON file_blobs (sha256) WHERE refs = 0;

-- An upload about to reference a blob pins it first (before placing its bytes), so a
-- collector cannot remove the bytes between the placing and the upload's commit. The
-- upload's command deletes its pin; a crashed upload's pin simply expires.
CREATE TABLE file_blob_pins (
    pin_id uuid PRIMARY KEY,
    sha256 text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX file_blob_pins_sha ON file_blob_pins (sha256);

-- Channel attachments that exist (a deleted file's row is removed).
CREATE TABLE file_records (
    file_id uuid PRIMARY KEY,
    uploader_id uuid NOT NULL,
    channel_id uuid NOT NULL,
    filename text NOT NULL,
    size_bytes bigint NOT NULL,
    content_type text NOT NULL,
    sha256 text NOT NULL,
    thumbnail_sha256 text,
    encrypted boolean NOT NULL,
    quarantined boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL
);
CREATE INDEX file_records_uploader ON file_records (uploader_id);

-- Per-user quota and upload rate: one row per uploader, locked by every upload of theirs,
-- so concurrent uploads are decided one after another on exact numbers.
CREATE TABLE file_usage (
    user_id uuid PRIMARY KEY,
    bytes_used bigint NOT NULL DEFAULT 0 CHECK (bytes_used >= 0),
    recent timestamptz[] NOT NULL DEFAULT '{}'
);

CREATE TABLE file_blocked_hashes (
    hash_id uuid PRIMARY KEY,
    sha256 text NOT NULL UNIQUE,
    reason text,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL
);

-- The current avatar, banner, icon or voice background of a user, community or group.
CREATE TABLE media_assets (
    asset_id uuid PRIMARY KEY,
    owner_kind text NOT NULL,
    owner_id uuid NOT NULL,
    purpose text NOT NULL,
    sha256 text NOT NULL,
    content_type text NOT NULL,
    size_bytes bigint NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (owner_kind, owner_id, purpose)
);

-- Where the blob collector has read the log to (one row; the node holding the collector's
-- advisory lock is the one collecting, the others skip their turn).
CREATE TABLE file_collector_checkpoint (
    name text PRIMARY KEY,
    epoch integer NOT NULL,
    transaction_id bigint NOT NULL,
    sequence bigint NOT NULL
);
INSERT INTO file_collector_checkpoint VALUES ('blobs', 0, 0, 0);
