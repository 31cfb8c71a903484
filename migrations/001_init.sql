-- 001_init.sql — accounts, sessions, tweets and their history, and the
-- record of events each worker role has applied (idempotency by event id).

CREATE TABLE accounts (
    id            bigint PRIMARY KEY,
    username      text NOT NULL,
    email         text NOT NULL,
    password_hash text NOT NULL,
    display_name  text NOT NULL DEFAULT '',
    bio           text NOT NULL DEFAULT '',
    avatar_url    text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- Usernames and e-mails are unique without regard to case.
CREATE UNIQUE INDEX accounts_username_key ON accounts (lower(username));
CREATE UNIQUE INDEX accounts_email_key ON accounts (lower(email));

-- Only the SHA-256 of a bearer token is stored.
CREATE TABLE sessions (
    token_hash text PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_account_id ON sessions (account_id);

-- Ids are time-ordered (see shared/include/chirp_id.h): ORDER BY id is
-- ORDER BY creation time.  A row with deleted_at set is a tombstone.
CREATE TABLE tweets (
    id         bigint PRIMARY KEY,
    author_id  bigint NOT NULL REFERENCES accounts (id),
    text       text NOT NULL,
    reply_to   bigint,
    created_at timestamptz NOT NULL,
    edited_at  timestamptz,
    deleted_at timestamptz
);
CREATE INDEX tweets_author_live ON tweets (author_id, id DESC) WHERE deleted_at IS NULL;

-- Earlier versions of edited tweets, one row per edit event.
CREATE TABLE tweet_versions (
    event_id bigint PRIMARY KEY,
    tweet_id bigint NOT NULL,
    text     text NOT NULL,
    since    timestamptz NOT NULL,
    until    timestamptz NOT NULL
);
CREATE INDEX tweet_versions_tweet ON tweet_versions (tweet_id, until DESC);

-- An event applied by a role is recorded in the same transaction as its
-- effect, so a redelivered event is recognised and skipped.
CREATE TABLE processed_events (
    role         text NOT NULL,
    event_id     bigint NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (role, event_id)
);
