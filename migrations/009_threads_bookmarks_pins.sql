-- 009_threads_bookmarks_pins.sql — threads (the replies of a tweet),
-- bookmarks and pinned tweets.

-- The replies of a tweet, oldest first: reply_count and the context walk.
CREATE INDEX tweets_replies ON tweets (reply_to, id) WHERE reply_to IS NOT NULL;

-- One row per (user, tweet), kept after a removal (active = false) so that
-- add/remove events applied out of order settle on the newest one (the
-- highest event id).  Private: read only by its owner.
CREATE TABLE bookmarks (
    user_id    bigint NOT NULL,
    tweet_id   bigint NOT NULL,
    active     boolean NOT NULL,
    event_id   bigint NOT NULL,
    PRIMARY KEY (user_id, tweet_id)
);
CREATE INDEX bookmarks_by_user ON bookmarks (user_id, event_id DESC) WHERE active;

-- At most one pinned tweet per account; tweet_id NULL = none.  event_id
-- orders pin/unpin events applied out of order (the newest wins).
CREATE TABLE pins (
    account_id bigint PRIMARY KEY,
    tweet_id   bigint,
    event_id   bigint NOT NULL
);
