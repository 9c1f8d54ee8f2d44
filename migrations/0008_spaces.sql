-- Spaces decision tables (docs/spaces.md): what the spaces commands and every permission
-- check decide from, written in the same transaction as the events that say so. Read
-- models for queries are built by projections/read_models/spaces.py, not here.

CREATE TABLE spaces_communities (
    community_id uuid PRIMARY KEY,
    owner_id uuid NOT NULL,
    public boolean NOT NULL DEFAULT false,
    discoverable boolean NOT NULL DEFAULT false,
    who_creates_groups text NOT NULL DEFAULT 'admin',
    who_creates_invites text NOT NULL DEFAULT 'moderator',
    group_count integer NOT NULL DEFAULT 0
);

CREATE TABLE community_members (
    community_id uuid NOT NULL REFERENCES spaces_communities ON DELETE CASCADE,
    user_id uuid NOT NULL,
    role text NOT NULL DEFAULT 'member',
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (community_id, user_id)
);
CREATE INDEX community_members_user ON community_members (user_id);

CREATE TABLE community_bans (
    community_id uuid NOT NULL REFERENCES spaces_communities ON DELETE CASCADE,
    user_id uuid NOT NULL,
    PRIMARY KEY (community_id, user_id)
);

CREATE TABLE spaces_groups (
    group_id uuid PRIMARY KEY,
    community_id uuid NOT NULL REFERENCES spaces_communities ON DELETE CASCADE,
    owner_id uuid NOT NULL,
    public boolean NOT NULL DEFAULT true,
    discoverable boolean NOT NULL DEFAULT true,
    channel_count integer NOT NULL DEFAULT 0
);
CREATE INDEX spaces_groups_community ON spaces_groups (community_id);

CREATE TABLE group_members (
    group_id uuid NOT NULL REFERENCES spaces_groups ON DELETE CASCADE,
    user_id uuid NOT NULL,
    role text NOT NULL DEFAULT 'member',
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- Channels and DMs. A DM has no community or group, and its pair (dm_low < dm_high) is
-- unique: two concurrent create-or-get requests insert one row, the second finds it.
CREATE TABLE spaces_channels (
    channel_id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('text', 'voice', 'dm')),
    community_id uuid REFERENCES spaces_communities ON DELETE CASCADE,
    group_id uuid REFERENCES spaces_groups ON DELETE CASCADE,
    read_only boolean NOT NULL DEFAULT false,
    archived boolean NOT NULL DEFAULT false,
    slow_mode_secs integer NOT NULL DEFAULT 0,
    e2e_required boolean NOT NULL DEFAULT false,
    dm_low uuid,
    dm_high uuid,
    CHECK ((kind = 'dm') = (dm_low IS NOT NULL AND dm_high IS NOT NULL AND group_id IS NULL))
);
CREATE INDEX spaces_channels_group ON spaces_channels (group_id);
CREATE UNIQUE INDEX spaces_channels_dm_pair ON spaces_channels (dm_low, dm_high)
    WHERE kind = 'dm';

CREATE TABLE channel_bans (
    channel_id uuid NOT NULL REFERENCES spaces_channels ON DELETE CASCADE,
    user_id uuid NOT NULL,
    PRIMARY KEY (channel_id, user_id)
);

CREATE TABLE channel_timeouts (
    channel_id uuid NOT NULL REFERENCES spaces_channels ON DELETE CASCADE,
    user_id uuid NOT NULL,
    until timestamptz NOT NULL,
    PRIMARY KEY (channel_id, user_id)
);

-- Community and group invites: `uses` is counted under the row's lock, so concurrent
-- accepts never exceed max_uses.
CREATE TABLE spaces_invites (
    invite_id uuid PRIMARY KEY,
    code text NOT NULL UNIQUE,
    community_id uuid NOT NULL REFERENCES spaces_communities ON DELETE CASCADE,
    group_id uuid REFERENCES spaces_groups ON DELETE CASCADE,
    created_by uuid NOT NULL,
    max_uses integer,
    uses integer NOT NULL DEFAULT 0,
    expires_at timestamptz,
    CHECK (max_uses IS NULL OR uses <= max_uses)
);
CREATE INDEX spaces_invites_community ON spaces_invites (community_id);
