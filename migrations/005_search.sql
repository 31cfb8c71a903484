-- 005_search.sql — full-text search over tweets, prefix search over
-- accounts, and hashtags.

-- 'simple': words match as written (lowercased), no stemming, any language.
ALTER TABLE tweets ADD COLUMN tsv tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED;
CREATE INDEX tweets_tsv ON tweets USING gin (tsv) WHERE deleted_at IS NULL;

-- Prefix search: LIKE 'abc%' on these expressions uses the indexes.
CREATE INDEX accounts_username_prefix ON accounts (lower(username) text_pattern_ops);
CREATE INDEX accounts_display_name_prefix ON accounts (lower(display_name) text_pattern_ops);

-- Hashtags (#tag, lowercased) of each tweet, written when it is persisted.
CREATE TABLE tweet_hashtags (
    tag      text NOT NULL,
    tweet_id bigint NOT NULL,
    PRIMARY KEY (tag, tweet_id)
);
CREATE INDEX tweet_hashtags_prefix ON tweet_hashtags (tag text_pattern_ops);
