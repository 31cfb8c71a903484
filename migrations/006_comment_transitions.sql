-- 006_comment_transitions.sql — each comments row remembers whether it was
-- live before its last change.  The persist worker's upsert sets it in the
-- same UPDATE that changes the row, so the comment count moves by what
-- really changed even when two workers apply the create and the delete (or
-- edit) of one comment at once: the UPDATE sees the latest committed row,
-- while a separate read of the old state would not see an uncommitted
-- insert (the same race 004 closed for likes).
ALTER TABLE comments ADD COLUMN prev_live boolean NOT NULL DEFAULT false;
