-- 008_reposts.sql — reposts and quotes.
--
-- A repost row per (tweet, user), kept when undone (active false) so the
-- event that last changed it (event_id) decides: an event older than the
-- row's is ignored, so any order or repetition of repost.added/removed
-- ends in the newest one's state.  repost_id is the repost's own
-- time-ordered id (the id of the event that made it); a repost undone and
-- made again gets a new one.
CREATE TABLE reposts (
    tweet_id   bigint NOT NULL,
    user_id    bigint NOT NULL,
    repost_id  bigint NOT NULL,
    active     boolean NOT NULL,
    event_id   bigint NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tweet_id, user_id)
);
-- The reposts of a tweet, newest first; a user's reposts (feeds).
CREATE INDEX reposts_by_tweet ON reposts (tweet_id, repost_id DESC) WHERE active;
CREATE INDEX reposts_by_user ON reposts (user_id, repost_id DESC) WHERE active;

-- A quoting tweet names the tweet it quotes.
ALTER TABLE tweets ADD COLUMN quote_of bigint;
CREATE INDEX tweets_quotes ON tweets (quote_of, id DESC) WHERE quote_of IS NOT NULL AND deleted_at IS NULL;
