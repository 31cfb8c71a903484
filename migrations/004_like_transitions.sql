-- 004_like_transitions.sql — each likes row remembers the state it had
-- before its last change.  The like batcher's single statement sets it in
-- the same UPDATE that changes the row, so the count moves by what really
-- changed even when two batchers flush the same tweet at once (the UPDATE
-- sees the latest committed row; a separate read of the old state would not).
ALTER TABLE likes ADD COLUMN prev_active boolean NOT NULL DEFAULT false;
