-- The inbox counts scanned every conversation (0.8 s warm, 5.9 s cold at 1M), and every
-- open inbox page asks for them after events. Counting a status is cheap from the status
-- index, but that index does not know which conversations are deleted: this small
-- partial index does, so a count is (index range) - (deleted in that status).
CREATE INDEX conversations_deleted_status ON conversations(status) WHERE deleted_at IS NOT NULL;
