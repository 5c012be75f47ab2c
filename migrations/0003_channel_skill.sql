-- The CXone skill (routing queue) a channel's contacts go to, for the availability check.
ALTER TABLE channels ADD COLUMN skill_id TEXT;
