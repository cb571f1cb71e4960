-- Data requests: what the detector saw (language, the words quoted from the message) and,
-- after an erasure, the pseudonym that links the request to the audit entry. Indexes on
-- the columns that point at a person, so that an export or an erasure (and the cascades
-- of deleting a conversation) never scan whole tables.

ALTER TABLE data_requests ADD COLUMN lang TEXT NOT NULL DEFAULT '';
ALTER TABLE data_requests ADD COLUMN evidence TEXT NOT NULL DEFAULT '';
ALTER TABLE data_requests ADD COLUMN subject_ref TEXT NOT NULL DEFAULT '';

CREATE INDEX data_requests_contact ON data_requests(contact_id);
CREATE INDEX data_requests_conversation ON data_requests(conversation_id);
CREATE INDEX data_requests_message ON data_requests(message_id);
CREATE INDEX raw_sources_contact ON raw_sources(contact_id);
CREATE INDEX outbox_contact ON outbox(contact_id);
CREATE INDEX outbox_conversation ON outbox(conversation_id);
CREATE INDEX outbox_message ON outbox(message_id);
