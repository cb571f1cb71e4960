-- Incidents that reach every customer, SLAs with business hours, alerts for the team and
-- the figures of the reports page.

-- SLA state stored on the conversation. The due times depend only on when the clock
-- started, the priority and the policy, so they are computed once (and again when the
-- priority or the policy changes) and stored: the inbox sorts and filters on them.
-- Whether a target is met is read from first_response_at and resolved_at.
ALTER TABLE conversations ADD COLUMN sla_priority TEXT;           -- the priority the due times are for; NULL: not computed yet
ALTER TABLE conversations ADD COLUMN sla_started_at TEXT;         -- start of the resolution clock: created, or reopened by the customer
ALTER TABLE conversations ADD COLUMN first_response_due_at TEXT;
ALTER TABLE conversations ADD COLUMN first_response_warn_at TEXT;  -- when the warning share of the target has passed
ALTER TABLE conversations ADD COLUMN resolution_due_at TEXT;
ALTER TABLE conversations ADD COLUMN resolution_warn_at TEXT;
ALTER TABLE conversations ADD COLUMN sla_breached_at TEXT;        -- the first missed due time
ALTER TABLE conversations ADD COLUMN sla_alerts TEXT NOT NULL DEFAULT '';  -- alerts sent: ",fw,fb,rw,rb,"
CREATE INDEX conversations_sla_todo ON conversations(id) WHERE sla_priority IS NULL AND status <> 'resolved';
CREATE INDEX conversations_created ON conversations(created_at);

-- The inbound volume over time (spike alerts, reports).
CREATE INDEX messages_inbound_created ON messages(created_at) WHERE direction = 'in';

-- How bad an incident is: 'degraded' or 'outage' (the status page's state).
ALTER TABLE incidents ADD COLUMN impact TEXT NOT NULL DEFAULT 'outage';
-- The fan-out of an update to its audience is resumable: an update without
-- fanout_done_at is taken up again after a restart, and its deliveries dedupe.
ALTER TABLE incident_updates ADD COLUMN fanout_done_at TEXT;
ALTER TABLE incident_updates ADD COLUMN widgets_reached INTEGER NOT NULL DEFAULT 0;

-- One row per message Kibo sent (or chose not to send) a contact about an incident:
-- dedupe_key is 'incident:{incident}:{update}:{contact}' for a broadcast and
-- 'incident-auto:{incident}:{contact}' for the auto-reply to a new ticket, the same key
-- as the outbox row, which holds the send's state.
CREATE TABLE incident_deliveries (
    dedupe_key      TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('broadcast', 'auto_reply')),
    incident_id     INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    update_id       INTEGER REFERENCES incident_updates(id) ON DELETE CASCADE,
    contact_id      INTEGER REFERENCES contacts(id) ON DELETE CASCADE,
    conversation_id INTEGER REFERENCES conversations(id) ON DELETE CASCADE,
    message_id      INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    channel         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'skipped')),
    error           TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX incident_deliveries_incident ON incident_deliveries(incident_id, update_id);
CREATE INDEX incident_deliveries_contact ON incident_deliveries(contact_id);

-- Every alert raised to the team, once: the dedupe key makes "exactly once" hold across
-- ticks and restarts. The outgoing webhook is delivered from here, with retries.
CREATE TABLE alert_log (
    id               INTEGER PRIMARY KEY,
    dedupe_key       TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL,
    text             TEXT NOT NULL,
    link             TEXT NOT NULL DEFAULT '',
    created_at       TEXT NOT NULL,
    cleared_at       TEXT,
    webhook_state    TEXT NOT NULL DEFAULT 'none' CHECK (webhook_state IN ('none', 'pending', 'sent', 'failed')),
    webhook_attempts INTEGER NOT NULL DEFAULT 0,
    webhook_next_at  TEXT,
    webhook_error    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX alert_log_webhook ON alert_log(webhook_next_at) WHERE webhook_state = 'pending';
CREATE INDEX alert_log_kind ON alert_log(kind, cleared_at);
-- Targets met late are found among what was answered or resolved lately; the reports
-- read the same times by period.
CREATE INDEX conversations_first_response ON conversations(first_response_at) WHERE first_response_at IS NOT NULL;
CREATE INDEX conversations_resolved ON conversations(resolved_at) WHERE resolved_at IS NOT NULL;
-- an erasure deletes conversations and messages: their cascades use these
CREATE INDEX incident_deliveries_conversation ON incident_deliveries(conversation_id);
CREATE INDEX incident_deliveries_message ON incident_deliveries(message_id);
