-- The list of one inbox without a status filter walked every conversation (400 ms at
-- 1M conversations): an index in list order fixes it.
CREATE INDEX conversations_inbox_activity ON conversations(inbox_id, last_message_at DESC, id DESC);
