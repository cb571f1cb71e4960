-- Unread counts read only the index: inbound messages of a conversation by id.
CREATE INDEX messages_conversation_inbound ON messages(conversation_id, direction, id);
