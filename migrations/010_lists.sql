-- 010_lists.sql — lists: a person's curated timelines, private to their owner.
--
-- Written by the fan-out role (so a membership change and the tweets fanned
-- out after it go through one queue in order).  Every row keeps the id of
-- the newest event applied to it: events applied twice, or a late one,
-- change nothing (newest event wins).

CREATE TABLE lists (
    id          bigint PRIMARY KEY,
    owner_id    bigint NOT NULL REFERENCES accounts (id),
    title       text NOT NULL,
    created_at  timestamptz NOT NULL,
    event_id    bigint NOT NULL,  -- newest list.created / list.updated applied
    deleted_at  timestamptz
);
-- The owner's lists, newest first.
CREATE INDEX lists_owner ON lists (owner_id, id DESC) WHERE deleted_at IS NULL;

-- One row per (list, account), kept after a removal (active = false).  No
-- foreign key to lists: a member event may be applied before its list's
-- list.created when several workers share the queue; readers join lists.
CREATE TABLE list_members (
    list_id     bigint NOT NULL,
    account_id  bigint NOT NULL REFERENCES accounts (id),
    active      boolean NOT NULL,
    event_id    bigint NOT NULL,
    changed_at  timestamptz NOT NULL,
    PRIMARY KEY (list_id, account_id)
);
-- The fan-out finds the lists containing a batch's authors.
CREATE INDEX list_members_account ON list_members (account_id, list_id) WHERE active;
-- A list's members, latest added first.
CREATE INDEX list_members_recent ON list_members (list_id, event_id DESC) WHERE active;
