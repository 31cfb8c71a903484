-- 002_follows.sql — the social graph.
--
-- One row per (follower, followee) pair, kept after an unfollow (active =
-- false), so that follow/unfollow events applied out of order settle on the
-- state of the newest event (event ids are time-ordered).  event_id also
-- orders the follower and following lists, newest first.

CREATE TABLE follows (
    follower_id bigint NOT NULL REFERENCES accounts (id),
    followee_id bigint NOT NULL REFERENCES accounts (id),
    active      boolean NOT NULL,
    event_id    bigint NOT NULL,
    changed_at  timestamptz NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);
-- Fan-out walks a followee's followers in follower-id order, chunk by chunk.
CREATE INDEX follows_followers ON follows (followee_id, follower_id) WHERE active;
-- The follower and following lists, newest first.
CREATE INDEX follows_followers_recent ON follows (followee_id, event_id DESC) WHERE active;
CREATE INDEX follows_following_recent ON follows (follower_id, event_id DESC) WHERE active;

-- Counts kept by the worker that applies follow events, in the same
-- transaction, and only on a real change of state.
ALTER TABLE accounts
    ADD COLUMN followers_count bigint NOT NULL DEFAULT 0,
    ADD COLUMN following_count bigint NOT NULL DEFAULT 0,
    -- Set (for good) by the fan-out worker the first time the account has more
    -- followers than the threshold: its tweets are then merged into feeds at
    -- read time instead of pushed.  Sticky, so that pushing and merging never
    -- disagree about an account whose count hovers around the threshold.
    ADD COLUMN huge boolean NOT NULL DEFAULT false;
