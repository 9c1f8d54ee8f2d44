-- Channel membership: a decision table. The channels work owns it and fills it (join,
-- leave, kick, ban, roles) in the same transaction as its events; until then only the
-- sender-key routes read it (through chatalot/channels/membership.py), and tests seed it
-- directly. One row per member; a channel with no row for a user is, to that user, a
-- channel they may not act in.

CREATE TABLE channel_members (
    channel_id uuid NOT NULL,
    user_id uuid NOT NULL,
    role text NOT NULL DEFAULT 'member',
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel_id, user_id)
);
-- "the channels of a user" (live delivery, the channel list)
CREATE INDEX channel_members_user ON channel_members (user_id);
