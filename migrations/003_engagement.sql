-- 003_engagement.sql — likes, comments, polls and notifications.

-- One row per (user, tweet), kept after an unlike (active = false) so that
-- like/unlike events applied out of order settle on the newest one.  No
-- foreign key to tweets: a like may be flushed before its tweet's row.
CREATE TABLE likes (
    user_id    bigint NOT NULL,
    tweet_id   bigint NOT NULL,
    active     boolean NOT NULL,
    event_id   bigint NOT NULL,
    changed_at timestamptz NOT NULL,
    PRIMARY KEY (tweet_id, user_id)
);
CREATE INDEX likes_by_user ON likes (user_id, event_id DESC) WHERE active;
CREATE INDEX likes_by_tweet ON likes (tweet_id, event_id DESC) WHERE active;
CREATE INDEX likes_recent ON likes (changed_at) WHERE active;

-- Counters per tweet, kept apart from tweets so that a count can move
-- before the tweet's own row exists (the workers run in parallel).
CREATE TABLE tweet_counts (
    tweet_id bigint PRIMARY KEY,
    likes    bigint NOT NULL DEFAULT 0,
    comments bigint NOT NULL DEFAULT 0
);

CREATE TABLE comments (
    id         bigint PRIMARY KEY,
    tweet_id   bigint NOT NULL,
    author_id  bigint NOT NULL REFERENCES accounts (id),
    text       text NOT NULL,
    created_at timestamptz NOT NULL,
    edited_at  timestamptz,
    deleted_at timestamptz
);
CREATE INDEX comments_by_tweet ON comments (tweet_id, id) WHERE deleted_at IS NULL;

CREATE TABLE polls (
    id         bigint PRIMARY KEY,
    tweet_id   bigint NOT NULL UNIQUE,
    author_id  bigint NOT NULL,
    options    text[] NOT NULL,
    multiple   boolean NOT NULL,
    expires_at timestamptz NOT NULL,
    ended_notified boolean NOT NULL DEFAULT false
);
CREATE INDEX polls_to_end ON polls (expires_at) WHERE NOT ended_notified;

CREATE TABLE poll_votes (
    poll_id  bigint NOT NULL,
    user_id  bigint NOT NULL,
    choices  smallint[] NOT NULL,
    event_id bigint NOT NULL,
    voted_at timestamptz NOT NULL,
    PRIMARY KEY (poll_id, user_id)
);

CREATE TABLE poll_counts (
    poll_id bigint NOT NULL,
    choice  smallint NOT NULL,
    votes   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (poll_id, choice)
);

-- type: follow, like, comment, mention, poll_ended.  dedup_key makes each
-- notification's creation idempotent (one per cause).
CREATE TABLE notifications (
    id         bigint PRIMARY KEY,
    recipient  bigint NOT NULL,
    type       text NOT NULL,
    actor_id   bigint,
    tweet_id   bigint,
    comment_id bigint,
    dedup_key  text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at    timestamptz
);
CREATE INDEX notifications_inbox ON notifications (recipient, id DESC);
CREATE INDEX notifications_unread ON notifications (recipient) WHERE read_at IS NULL;

-- Time-ordered ids made inside PostgreSQL, for rows a single statement
-- creates in bulk (notifications): the layout of shared/include/chirp_id.h
-- with a sequence in place of node and counter bits.
CREATE SEQUENCE chirp_id_seq;
CREATE FUNCTION chirp_next_id() RETURNS bigint LANGUAGE sql VOLATILE AS $$
    SELECT ((floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint - 1704067200000) << 22)
           | (nextval('chirp_id_seq') % 4194304)
$$;
ALTER TABLE notifications ALTER COLUMN id SET DEFAULT chirp_next_id();
