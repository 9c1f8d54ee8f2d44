-- Instance announcements (chatalot/announcements/commands.py): decision state only; what
-- the queries read is the `announcements` read model (projections/read_models/announcements.py).

-- Every published announcement: a dismissal of an id not here is 404.
CREATE TABLE published_announcements (
    announcement_id uuid PRIMARY KEY,
    created_by uuid NOT NULL,
    published_at timestamptz NOT NULL
);

-- Who dismissed what: the primary key makes a second (or concurrent) dismissal of the same
-- pair record nothing (the second insert waits for the first and then finds its row).
CREATE TABLE dismissed_announcements (
    announcement_id uuid NOT NULL REFERENCES published_announcements ON DELETE CASCADE,
    user_id uuid NOT NULL,
    PRIMARY KEY (announcement_id, user_id)
);
