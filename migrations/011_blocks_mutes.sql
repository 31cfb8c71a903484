-- 011_blocks_mutes.sql — blocks and mutes.
--
-- One row per (kind, actor, target), kept after an unblock / unmute
-- (active = false), so that events applied out of order or twice settle on
-- the state of the newest event (event ids are time-ordered), as follows do.
-- kind 1 = actor blocks target, 2 = actor mutes target.  event_id also
-- orders GET /blocks and GET /mutes, newest first.

CREATE TABLE blocks_mutes (
    kind       smallint NOT NULL CHECK (kind IN (1, 2)),
    actor_id   bigint NOT NULL REFERENCES accounts (id),
    target_id  bigint NOT NULL REFERENCES accounts (id),
    active     boolean NOT NULL,
    event_id   bigint NOT NULL,
    changed_at timestamptz NOT NULL,
    PRIMARY KEY (kind, actor_id, target_id)
);
-- The viewer's own list, newest first.
CREATE INDEX blocks_mutes_recent ON blocks_mutes (kind, actor_id, event_id DESC) WHERE active;
-- Who blocks the viewer (the "blocked_by" half of the hidden set).
CREATE INDEX blocks_mutes_target ON blocks_mutes (target_id, kind) WHERE active;

-- A counter per account, bumped in the same transaction as every change
-- of that account's hidden set (its blocks, its mutes, the blocks of it).
-- The set cached in Redis carries the counter it was read at, and a write
-- of an older set never replaces a newer one (a reader refilling the cache
-- races the worker that changed it).
CREATE TABLE hidden_versions (
    account_id bigint PRIMARY KEY REFERENCES accounts (id),
    ver        bigint NOT NULL
);
