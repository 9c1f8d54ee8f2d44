-- Idempotency-Key (chatalot/idempotency.py): one row per key a REST command claimed, in
-- the command's own transaction. Command-side dedupe state, not a read model: it is not
-- derived from the log and is forgotten after 24 hours.
CREATE TABLE idempotency_keys (
    lookup      bytea PRIMARY KEY,          -- SHA-256 of (caller, key): never the key itself
    fingerprint bytea NOT NULL,             -- SHA-256 of (method, path, body)
    created_at  timestamptz NOT NULL,
    status      smallint,                   -- NULL until the reply is stored
    reply       bytea                       -- the reply, sealed under the key
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
