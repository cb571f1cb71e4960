-- The inbox list filtered by a common tag read every conversation with the tag and
-- sorted them (half a second for 'billing', 70,000 conversations of 1M). The tag rows get
-- a copy of their conversation's list order (last_message_at) and status, so that the
-- list walks an index in list order and stops after a page, like the other filters.
-- Status is copied too: with a rare status (snoozed) a tag's walk in activity order
-- would otherwise read the whole tag to find a page (70 ms for 'bug' + snoozed).
ALTER TABLE conversation_tags ADD COLUMN last_message_at TEXT NOT NULL DEFAULT '';
ALTER TABLE conversation_tags ADD COLUMN status TEXT NOT NULL DEFAULT '';
UPDATE conversation_tags SET last_message_at = c.last_message_at, status = c.status
FROM conversations c WHERE c.id = conversation_tags.conversation_id;
CREATE INDEX conversation_tags_activity ON conversation_tags(tag, last_message_at DESC, conversation_id DESC);
CREATE INDEX conversation_tags_status_activity ON conversation_tags(tag, status, last_message_at DESC, conversation_id DESC);

-- The copies follow the conversation. Every message updates last_message_at, so the
-- body is one statement on the primary key: a probe that finds nothing for an untagged
-- conversation, its few tag rows for a tagged one. The trigger's presence also makes
-- SQLite keep a statement journal for that UPDATE (so that a failing trigger can undo
-- it), a copy of every page it touches: past 64 KiB, with temp_store FILE (the
-- default), SQLite writes it to a temporary file, which costs more than the body.
CREATE TRIGGER conversation_tags_follow_conversation AFTER UPDATE OF last_message_at, status ON conversations
WHEN new.last_message_at IS NOT old.last_message_at OR new.status IS NOT old.status
BEGIN
    UPDATE conversation_tags SET last_message_at = new.last_message_at, status = new.status
    WHERE conversation_id = new.id;
END;

-- A new tag row takes the copies from its conversation here rather than in each INSERT,
-- so no way of tagging (an agent's edit, an incident, an import) can leave a row that
-- sorts last. An inserter that already knows the values (the bulk generator) gives them
-- and skips this. A missing conversation updates nothing and the foreign key reports it.
CREATE TRIGGER conversation_tags_fill_activity AFTER INSERT ON conversation_tags
WHEN new.last_message_at = ''
BEGIN
    UPDATE conversation_tags SET last_message_at = c.last_message_at, status = c.status
    FROM conversations c
    WHERE c.id = new.conversation_id AND conversation_tags.conversation_id = new.conversation_id AND conversation_tags.tag = new.tag;
END;
