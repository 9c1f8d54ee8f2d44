-- Messaging (chatalot/messaging/commands): decision tables. Commands read and update them
-- in the same transaction as their append; queries read the projections
-- (projections/read_models/messaging*.py), never these. No message body is kept here:
-- bodies live in the log and the read models only.

-- One row per message: what edit, delete, react, pin, bookmark and mark-read decide on.
CREATE TABLE messaging_messages (
    message_id uuid PRIMARY KEY,
    channel_id uuid NOT NULL,
    sender_id uuid,               -- NULL for a webhook's message
    encryption text NOT NULL,
    sent_at timestamptz NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    pinned boolean NOT NULL DEFAULT false,
    quarantined boolean NOT NULL DEFAULT false
);
CREATE INDEX messaging_messages_pinned ON messaging_messages (channel_id) WHERE pinned;

-- A send's client_id: a retry with the same (sender, client_id) answers the first send.
CREATE TABLE messaging_client_ids (
    sender_id uuid NOT NULL,
    client_id uuid NOT NULL,
    message_id uuid NOT NULL,
    channel_id uuid NOT NULL,
    PRIMARY KEY (sender_id, client_id)
);

-- Slow mode: a sender's last send per channel (only written while slow mode is on); its
-- row lock makes one user's concurrent sends queue, so the interval is exact.
CREATE TABLE messaging_slow_mode (
    channel_id uuid NOT NULL,
    user_id uuid NOT NULL,
    last_sent_at timestamptz,
    PRIMARY KEY (channel_id, user_id)
);

-- Who reacted with what (the 20-emoji limit and duplicate adds are decided on it).
CREATE TABLE messaging_reactions (
    message_id uuid NOT NULL,
    emoji text NOT NULL,
    user_id uuid NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id)
);

CREATE TABLE messaging_bookmarks (
    bookmark_id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    message_id uuid NOT NULL,
    UNIQUE (user_id, message_id)
);

CREATE TABLE messaging_polls (
    poll_id uuid PRIMARY KEY,
    channel_id uuid NOT NULL,
    creator_id uuid NOT NULL,
    option_count integer NOT NULL,
    multi_select boolean NOT NULL,
    expires_at timestamptz,
    closed boolean NOT NULL DEFAULT false
);
-- open polls with an expiry: what the scheduler closes when it passes
CREATE INDEX messaging_polls_expiring ON messaging_polls (expires_at)
    WHERE NOT closed AND expires_at IS NOT NULL;
CREATE TABLE messaging_poll_votes (
    poll_id uuid NOT NULL REFERENCES messaging_polls ON DELETE CASCADE,
    user_id uuid NOT NULL,
    PRIMARY KEY (poll_id, user_id)
);

-- Scheduled messages still to deliver; the delivery deletes the row in the transaction
-- that appends the message, so it happens once whatever the number of nodes.
CREATE TABLE messaging_scheduled (
    scheduled_id uuid PRIMARY KEY,
    channel_id uuid NOT NULL,
    sender_id uuid NOT NULL,
    due_at timestamptz NOT NULL
);
CREATE INDEX messaging_scheduled_due ON messaging_scheduled (due_at);
CREATE INDEX messaging_scheduled_sender ON messaging_scheduled (sender_id);

-- Incoming webhooks: only the SHA-256 of the token is kept.
CREATE TABLE messaging_webhooks (
    webhook_id uuid PRIMARY KEY,
    channel_id uuid NOT NULL,
    token_hash bytea NOT NULL UNIQUE,
    name text NOT NULL,
    avatar_url text,
    active boolean NOT NULL DEFAULT true
);
CREATE INDEX messaging_webhooks_channel ON messaging_webhooks (channel_id);
