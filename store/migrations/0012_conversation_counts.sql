-- The inbox counts were counted when asked: ~105 ms at 1M conversations, asked after
-- every event by every open agent page (50 pages made it 90% of the process). They are
-- now kept by the writer, in the transaction of each change, and reading them costs the
-- same at 10 conversations and at 10M.
--
-- conversation_counts holds one row per figure, for conversations not deleted:
--   status:<status>     by status
--   open:unassigned     open, with no assignee
--   open:agent:<id>     open, assigned to that agent
--   open:inbox:<id>     open, in that inbox
--   open:inbound        open, with at least one message from the customer
-- agent_read_counts holds, per agent, how many of the open:inbound conversations that
-- agent has read to the end: the agent's unread count is open:inbound less that. It is
-- kept from both sides, a new customer message (the readers of that conversation no
-- longer have it read) and an agent reading (conversation_reads).
CREATE TABLE conversation_counts (
    key TEXT PRIMARY KEY,
    n   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE agent_read_counts (
    agent_id  INTEGER PRIMARY KEY,
    read_open INTEGER NOT NULL
);

INSERT INTO conversation_counts(key, n)
SELECT key, COUNT(*) FROM (
    SELECT 'status:' || status AS key FROM conversations WHERE deleted_at IS NULL
    UNION ALL
    SELECT CASE WHEN assignee_id IS NULL THEN 'open:unassigned' ELSE 'open:agent:' || assignee_id END
    FROM conversations WHERE deleted_at IS NULL AND status = 'open'
    UNION ALL
    SELECT 'open:inbox:' || inbox_id FROM conversations WHERE deleted_at IS NULL AND status = 'open'
    UNION ALL
    SELECT 'open:inbound' FROM conversations WHERE deleted_at IS NULL AND status = 'open' AND last_inbound_message_id > 0
) GROUP BY key;

INSERT INTO agent_read_counts(agent_id, read_open)
SELECT r.agent_id, COUNT(*) FROM conversation_reads r JOIN conversations c ON c.id = r.conversation_id
WHERE c.status = 'open' AND c.deleted_at IS NULL AND c.last_inbound_message_id > 0 AND r.last_read_id >= c.last_inbound_message_id
GROUP BY r.agent_id;

-- A conversation's figures: each trigger adds its new row's keys and takes away its
-- old row's. The update trigger fires only when a counted column changes, so the chat's
-- steady state (a message into an open conversation) runs no body at all.
CREATE TRIGGER conversation_counts_insert AFTER INSERT ON conversations
WHEN new.deleted_at IS NULL
BEGIN
    INSERT INTO conversation_counts(key, n)
    SELECT key, 1 FROM (
        SELECT 'status:' || new.status AS key
        UNION ALL SELECT CASE WHEN new.assignee_id IS NULL THEN 'open:unassigned' ELSE 'open:agent:' || new.assignee_id END WHERE new.status = 'open'
        UNION ALL SELECT 'open:inbox:' || new.inbox_id WHERE new.status = 'open'
        UNION ALL SELECT 'open:inbound' WHERE new.status = 'open' AND new.last_inbound_message_id > 0
    ) WHERE true
    ON CONFLICT(key) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER conversation_counts_update AFTER UPDATE OF status, assignee_id, inbox_id, deleted_at, last_inbound_message_id ON conversations
WHEN new.status IS NOT old.status OR new.assignee_id IS NOT old.assignee_id OR new.inbox_id IS NOT old.inbox_id
    OR new.deleted_at IS NOT old.deleted_at OR (new.last_inbound_message_id > 0) IS NOT (old.last_inbound_message_id > 0)
BEGIN
    INSERT INTO conversation_counts(key, n)
    SELECT key, SUM(d) FROM (
        SELECT 'status:' || old.status AS key, -1 AS d WHERE old.deleted_at IS NULL
        UNION ALL SELECT CASE WHEN old.assignee_id IS NULL THEN 'open:unassigned' ELSE 'open:agent:' || old.assignee_id END, -1 WHERE old.deleted_at IS NULL AND old.status = 'open'
        UNION ALL SELECT 'open:inbox:' || old.inbox_id, -1 WHERE old.deleted_at IS NULL AND old.status = 'open'
        UNION ALL SELECT 'open:inbound', -1 WHERE old.deleted_at IS NULL AND old.status = 'open' AND old.last_inbound_message_id > 0
        UNION ALL SELECT 'status:' || new.status, 1 WHERE new.deleted_at IS NULL
        UNION ALL SELECT CASE WHEN new.assignee_id IS NULL THEN 'open:unassigned' ELSE 'open:agent:' || new.assignee_id END, 1 WHERE new.deleted_at IS NULL AND new.status = 'open'
        UNION ALL SELECT 'open:inbox:' || new.inbox_id, 1 WHERE new.deleted_at IS NULL AND new.status = 'open'
        UNION ALL SELECT 'open:inbound', 1 WHERE new.deleted_at IS NULL AND new.status = 'open' AND new.last_inbound_message_id > 0
    ) GROUP BY key HAVING SUM(d) <> 0
    ON CONFLICT(key) DO UPDATE SET n = n + excluded.n;
END;

-- BEFORE, so that the conversation's reads are still there: the delete cascades to
-- them after the row is gone, and their own trigger then finds no conversation.
CREATE TRIGGER conversation_counts_delete BEFORE DELETE ON conversations
WHEN old.deleted_at IS NULL
BEGIN
    INSERT INTO conversation_counts(key, n)
    SELECT key, -1 FROM (
        SELECT 'status:' || old.status AS key
        UNION ALL SELECT CASE WHEN old.assignee_id IS NULL THEN 'open:unassigned' ELSE 'open:agent:' || old.assignee_id END WHERE old.status = 'open'
        UNION ALL SELECT 'open:inbox:' || old.inbox_id WHERE old.status = 'open'
        UNION ALL SELECT 'open:inbound' WHERE old.status = 'open' AND old.last_inbound_message_id > 0
    ) WHERE true
    ON CONFLICT(key) DO UPDATE SET n = n - 1;
    INSERT INTO agent_read_counts(agent_id, read_open)
    SELECT agent_id, -1 FROM conversation_reads
    WHERE conversation_id = old.id AND old.status = 'open' AND old.last_inbound_message_id > 0 AND last_read_id >= old.last_inbound_message_id
    ON CONFLICT(agent_id) DO UPDATE SET read_open = read_open - 1;
END;

-- What each reader of a conversation has read to the end changes with the conversation
-- (a customer message, a status change, a deletion). Every customer message fires it:
-- the body is one range of conversation_reads' primary key, empty for a conversation
-- nobody has opened.
CREATE TRIGGER agent_read_counts_conversation AFTER UPDATE OF status, deleted_at, last_inbound_message_id ON conversations
WHEN new.status IS NOT old.status OR new.deleted_at IS NOT old.deleted_at OR new.last_inbound_message_id IS NOT old.last_inbound_message_id
BEGIN
    INSERT INTO agent_read_counts(agent_id, read_open)
    SELECT agent_id, d FROM (
        SELECT agent_id,
            (new.status = 'open' AND new.deleted_at IS NULL AND new.last_inbound_message_id > 0 AND last_read_id >= new.last_inbound_message_id)
          - (old.status = 'open' AND old.deleted_at IS NULL AND old.last_inbound_message_id > 0 AND last_read_id >= old.last_inbound_message_id) AS d
        FROM conversation_reads WHERE conversation_id = new.id
    ) WHERE d <> 0
    ON CONFLICT(agent_id) DO UPDATE SET read_open = read_open + excluded.read_open;
END;

CREATE TRIGGER agent_read_counts_read_insert AFTER INSERT ON conversation_reads
BEGIN
    INSERT INTO agent_read_counts(agent_id, read_open)
    SELECT new.agent_id, 1 FROM conversations c
    WHERE c.id = new.conversation_id AND c.status = 'open' AND c.deleted_at IS NULL AND c.last_inbound_message_id > 0
        AND new.last_read_id >= c.last_inbound_message_id
    ON CONFLICT(agent_id) DO UPDATE SET read_open = read_open + 1;
END;

CREATE TRIGGER agent_read_counts_read_update AFTER UPDATE OF last_read_id ON conversation_reads
WHEN new.last_read_id IS NOT old.last_read_id
BEGIN
    INSERT INTO agent_read_counts(agent_id, read_open)
    SELECT new.agent_id, d FROM (
        SELECT (new.last_read_id >= c.last_inbound_message_id) - (old.last_read_id >= c.last_inbound_message_id) AS d
        FROM conversations c
        WHERE c.id = new.conversation_id AND c.status = 'open' AND c.deleted_at IS NULL AND c.last_inbound_message_id > 0
    ) WHERE d <> 0
    ON CONFLICT(agent_id) DO UPDATE SET read_open = read_open + excluded.read_open;
END;

CREATE TRIGGER agent_read_counts_read_delete AFTER DELETE ON conversation_reads
BEGIN
    INSERT INTO agent_read_counts(agent_id, read_open)
    SELECT old.agent_id, -1 FROM conversations c
    WHERE c.id = old.conversation_id AND c.status = 'open' AND c.deleted_at IS NULL AND c.last_inbound_message_id > 0
        AND old.last_read_id >= c.last_inbound_message_id
    ON CONFLICT(agent_id) DO UPDATE SET read_open = read_open - 1;
END;

-- The tags in use, most used first (the inbox's tag list, asked by every page load),
-- counted the same way instead of grouping every tag row.
CREATE TABLE tag_counts (
    tag TEXT PRIMARY KEY,
    n   INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO tag_counts(tag, n) SELECT tag, COUNT(*) FROM conversation_tags GROUP BY tag;
CREATE TRIGGER tag_counts_insert AFTER INSERT ON conversation_tags
BEGIN
    INSERT INTO tag_counts(tag, n) VALUES (new.tag, 1) ON CONFLICT(tag) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER tag_counts_delete AFTER DELETE ON conversation_tags
BEGIN
    UPDATE tag_counts SET n = n - 1 WHERE tag = old.tag;
END;

-- The ingest path's lookups of a contact's conversation in an inbox (an open one to
-- reuse, a returning visitor's latest) walked the inbox's activity index, because it
-- serves their ORDER BY: 437-480 ms of the single writer's time per new visitor at 1M
-- conversations. With the contact and the inbox as equality columns and the same
-- order, this index reads a handful of rows. It replaces the contact-only index.
CREATE INDEX conversations_contact_inbox ON conversations(contact_id, inbox_id, last_message_at DESC, id DESC);
DROP INDEX conversations_contact;

-- The bell's unread count read all of an agent's notifications, read or not, which
-- only grow; this index holds only the unread ones.
CREATE INDEX notifications_unread ON notifications(agent_id) WHERE read_at IS NULL;
