-- 007_account_delete.sql — deleted accounts (DELETE /accounts/me).
--
-- An account is deleted by setting deleted_at; the row stays as a tombstone
-- so that its username stays reserved (docs/decisions.md) and every event
-- still in flight finds the author deleted.  Its e-mail is scrubbed and
-- becomes free: the unique index on e-mails only covers live accounts.
ALTER TABLE accounts ADD COLUMN deleted_at timestamptz;

DROP INDEX accounts_email_key;
CREATE UNIQUE INDEX accounts_email_key ON accounts (lower(email)) WHERE deleted_at IS NULL;

-- GET /accounts: every live account, newest first.
CREATE INDEX accounts_live_recent ON accounts (id DESC) WHERE deleted_at IS NULL;

-- The purge finds a deleted account's comments, likes and votes.
CREATE INDEX comments_by_author ON comments (author_id) WHERE deleted_at IS NULL;
CREATE INDEX poll_votes_by_user ON poll_votes (user_id);
