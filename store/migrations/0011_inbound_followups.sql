-- What follows an inbound message (data-request detection, SLA due times, the incident
-- auto-reply) was queued in memory after the commit: a crash between the commit and
-- the work lost it, and a backlog past the queue's size dropped it. Each stored
-- inbound message now gets a row here in the same transaction as the message; the
-- follow-up worker does the work (each step is idempotent), then deletes the row. A
-- row left by a crash is done after the restart. What the work needs to know of the
-- moment of ingest (a new conversation, a reopened one) is kept with it, because it
-- cannot be read back from the store later.
CREATE TABLE inbound_followups (
    message_id       INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    new_conversation INTEGER NOT NULL DEFAULT 0,
    reopened         INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    -- a step that failed is tried again from this time on (NULL: at once)
    not_before       TEXT,
    last_error       TEXT NOT NULL DEFAULT ''
);
