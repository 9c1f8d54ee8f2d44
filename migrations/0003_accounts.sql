-- Accounts: decision tables. Commands read and update them in the same transaction as
-- their append (see chatalot/accounts/commands.py); queries never read them (they read
-- the user directory, sessions, invites and reports projections). Credential material
-- lives only here, never in the event log.

CREATE TABLE account_users (
    user_id uuid PRIMARY KEY,
    username text NOT NULL,
    -- lower(username); NULL once the account is deleted (the name becomes free again)
    username_key text UNIQUE,
    email_key text UNIQUE,
    is_admin boolean NOT NULL DEFAULT false,
    is_owner boolean NOT NULL DEFAULT false,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'deleted')),
    preferences jsonb NOT NULL DEFAULT '{}',
    -- deleted, but the personal data in its events is not redacted yet (finished at start-up)
    redaction_pending boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- At most one owner per instance.
CREATE UNIQUE INDEX account_users_one_owner ON account_users (is_owner) WHERE is_owner;

CREATE TABLE account_credentials (
    user_id uuid PRIMARY KEY REFERENCES account_users ON DELETE CASCADE,
    password_hash text NOT NULL,
    recovery_code_hash bytea,
    totp_secret bytea,            -- AES-GCM ciphertext (chatalot/auth/totp.py)
    totp_pending bytea,           -- set up but not verified yet
    totp_last_step bigint,        -- the last accepted time step: a code works once
    backup_code_hashes bytea[] NOT NULL DEFAULT '{}'
);

-- Failed logins per (lower-cased) username, whether or not such an account exists, so the
-- lockout reveals nothing about which usernames are taken.
CREATE TABLE account_login_throttle (
    username_key text PRIMARY KEY,
    failures integer NOT NULL,
    last_failure_at timestamptz NOT NULL,
    locked_until timestamptz
);

-- One row per session (a refresh-token family).
CREATE TABLE account_sessions (
    session_id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES account_users ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX account_sessions_user ON account_sessions (user_id) WHERE revoked_at IS NULL;

-- Every refresh token issued, by SHA-256: the current one has rotated_at NULL; a rotated
-- one coming back means the family was stolen.
CREATE TABLE account_refresh_tokens (
    token_hash bytea PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES account_sessions ON DELETE CASCADE,
    issued_at timestamptz NOT NULL,
    rotated_at timestamptz
);
CREATE INDEX account_refresh_tokens_session ON account_refresh_tokens (session_id);

CREATE TABLE account_blocks (
    user_id uuid NOT NULL,
    blocked_user_id uuid NOT NULL,
    PRIMARY KEY (user_id, blocked_user_id)
);

CREATE TABLE account_registration_invites (
    invite_id uuid PRIMARY KEY,
    code text NOT NULL UNIQUE,
    max_uses integer,
    used_count integer NOT NULL DEFAULT 0,
    expires_at timestamptz,
    deleted boolean NOT NULL DEFAULT false
);

-- E2E public keys registered with the account (the keys issue builds bundles on them).
CREATE TABLE account_identity_keys (
    user_id uuid PRIMARY KEY,
    identity_key bytea NOT NULL,
    fingerprint text NOT NULL
);
CREATE TABLE account_signed_prekeys (
    user_id uuid NOT NULL,
    key_id bigint NOT NULL,
    public_key bytea NOT NULL,
    signature bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key_id)
);
CREATE TABLE account_one_time_prekeys (
    user_id uuid NOT NULL,
    key_id bigint NOT NULL,
    public_key bytea NOT NULL,
    PRIMARY KEY (user_id, key_id)
);
