-- How far the customer has read the conversation: the id of the last message from
-- the company that the customer's app says they have seen (the chat widget's read
-- frames). Agents see "Seen" on it. 0 until the customer reads anything. A column of
-- the conversation, not a table, so that the inbox's one statement per page reads it
-- for free; it only moves forward.
ALTER TABLE conversations ADD COLUMN contact_read_id INTEGER NOT NULL DEFAULT 0;
