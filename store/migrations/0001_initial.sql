-- The first schema: every aggregate of DESIGN.md. Times are RFC 3339 strings in UTC
-- with fixed-width nanoseconds so that they sort as text.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE agents (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    disabled_at   TEXT
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    agent_id   INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_agent ON sessions(agent_id);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    agent_id     INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);

CREATE TABLE inboxes (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('chat', 'email', 'messenger', 'x')),
    name        TEXT NOT NULL,
    public_key  TEXT UNIQUE,
    settings    TEXT NOT NULL DEFAULT '{}',
    state       TEXT NOT NULL DEFAULT 'unknown',
    last_error  TEXT NOT NULL DEFAULT '',
    state_at    TEXT,
    created_at  TEXT NOT NULL,
    deleted_at  TEXT
);

CREATE TABLE contacts (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL DEFAULT '',
    email       TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    -- a contact merged into another keeps its row as a tombstone so links resolve
    merged_into INTEGER REFERENCES contacts(id)
);
CREATE INDEX contacts_email ON contacts(email COLLATE NOCASE) WHERE email <> '';

-- How a channel knows a person. scope is '' for global ids (e-mail addresses) and the
-- inbox or page for page-scoped ids, so (kind, scope, external_id) is unique.
CREATE TABLE identities (
    id          INTEGER PRIMARY KEY,
    contact_id  INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    scope       TEXT NOT NULL DEFAULT '',
    external_id TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    handle      TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    UNIQUE (kind, scope, external_id)
);
CREATE INDEX identities_contact ON identities(contact_id);

CREATE TABLE conversations (
    id                       INTEGER PRIMARY KEY,
    number                   INTEGER NOT NULL UNIQUE,
    inbox_id                 INTEGER NOT NULL REFERENCES inboxes(id),
    contact_id               INTEGER NOT NULL REFERENCES contacts(id),
    subject                  TEXT NOT NULL DEFAULT '',
    status                   TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'snoozed', 'resolved')),
    priority                 TEXT NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    assignee_id              INTEGER REFERENCES agents(id) ON DELETE SET NULL,
    snoozed_until            TEXT,
    preview                  TEXT NOT NULL DEFAULT '',
    last_message_id          INTEGER NOT NULL DEFAULT 0,
    last_inbound_message_id  INTEGER NOT NULL DEFAULT 0,
    created_at               TEXT NOT NULL,
    updated_at               TEXT NOT NULL,
    last_message_at          TEXT NOT NULL,
    last_customer_message_at TEXT,
    first_response_at        TEXT,
    resolved_at              TEXT,
    deleted_at               TEXT
);
-- The inbox list: newest activity first within a status, keyset pagination on
-- (last_message_at, id).
CREATE INDEX conversations_status_last ON conversations(status, last_message_at DESC, id DESC);
CREATE INDEX conversations_last ON conversations(last_message_at DESC, id DESC);
CREATE INDEX conversations_inbox_last ON conversations(inbox_id, status, last_message_at DESC, id DESC);
CREATE INDEX conversations_assignee_last ON conversations(assignee_id, status, last_message_at DESC, id DESC);
CREATE INDEX conversations_contact ON conversations(contact_id);

CREATE TABLE conversation_tags (
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    tag             TEXT NOT NULL,
    PRIMARY KEY (conversation_id, tag)
) WITHOUT ROWID;
CREATE INDEX conversation_tags_tag ON conversation_tags(tag, conversation_id);

-- What each agent has read: unread counts are inbound messages after this id.
CREATE TABLE conversation_reads (
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    agent_id        INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    last_read_id    INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, agent_id)
) WITHOUT ROWID;

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    inbox_id        INTEGER NOT NULL,
    direction       TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    private         INTEGER NOT NULL DEFAULT 0,
    author_kind     TEXT NOT NULL CHECK (author_kind IN ('contact', 'agent', 'system')),
    author_id       INTEGER,
    author_name     TEXT NOT NULL DEFAULT '',
    text            TEXT NOT NULL DEFAULT '',
    html            TEXT NOT NULL DEFAULT '',
    external_id     TEXT,
    client_id       TEXT,
    delivery        TEXT CHECK (delivery IN ('queued', 'sent', 'failed')),
    delivery_error  TEXT NOT NULL DEFAULT '',
    auto            INTEGER NOT NULL DEFAULT 0,
    metadata        TEXT NOT NULL DEFAULT '{}',
    created_at      TEXT NOT NULL
);
CREATE INDEX messages_conversation ON messages(conversation_id, id);
-- Idempotency: re-delivery of anything is a no-op, not a duplicate.
CREATE UNIQUE INDEX messages_external ON messages(inbox_id, external_id) WHERE external_id IS NOT NULL;
CREATE UNIQUE INDEX messages_client ON messages(conversation_id, client_id) WHERE client_id IS NOT NULL;

-- Raw sources (e-mail, webhook JSON) so a parser bug never loses anything; erased with
-- the person.
CREATE TABLE raw_sources (
    id          INTEGER PRIMARY KEY,
    inbox_id    INTEGER NOT NULL,
    message_id  INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    contact_id  INTEGER REFERENCES contacts(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    body        BLOB NOT NULL,
    state       TEXT NOT NULL DEFAULT 'stored' CHECK (state IN ('stored', 'processed', 'quarantined')),
    error       TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
);
CREATE INDEX raw_sources_message ON raw_sources(message_id);
CREATE INDEX raw_sources_state ON raw_sources(state) WHERE state <> 'processed';

CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY,
    message_id   INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL DEFAULT '',
    content_id   TEXT NOT NULL DEFAULT '',
    url          TEXT NOT NULL DEFAULT '',
    too_large    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX attachments_message ON attachments(message_id);
CREATE INDEX attachments_sha ON attachments(sha256);

CREATE VIRTUAL TABLE messages_fts USING fts5(text, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
END;

-- Outbound messages waiting for their channel. dedupe_key makes a broadcast resumable
-- without sending the same update to the same contact twice.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,
    inbox_id        INTEGER,
    conversation_id INTEGER REFERENCES conversations(id) ON DELETE CASCADE,
    message_id      INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    contact_id      INTEGER REFERENCES contacts(id) ON DELETE CASCADE,
    dedupe_key      TEXT UNIQUE,
    payload         TEXT NOT NULL DEFAULT '{}',
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    external_id     TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    sent_at         TEXT
);
CREATE INDEX outbox_due ON outbox(state, next_attempt_at) WHERE state IN ('pending', 'sending');

-- The e-mail cursor per inbox, committed with the messages it covers.
CREATE TABLE mail_sync (
    inbox_id     INTEGER PRIMARY KEY REFERENCES inboxes(id) ON DELETE CASCADE,
    uid_validity INTEGER NOT NULL,
    last_uid     INTEGER NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE data_requests (
    id               INTEGER PRIMARY KEY,
    contact_id       INTEGER REFERENCES contacts(id) ON DELETE SET NULL,
    conversation_id  INTEGER REFERENCES conversations(id) ON DELETE SET NULL,
    message_id       INTEGER REFERENCES messages(id) ON DELETE SET NULL,
    type             TEXT NOT NULL CHECK (type IN ('access', 'rectification', 'erasure', 'restriction', 'portability', 'objection', 'other')),
    status           TEXT NOT NULL CHECK (status IN ('suggested', 'open', 'verifying', 'extended', 'completed', 'refused', 'dismissed')),
    received_at      TEXT NOT NULL,
    due_at           TEXT NOT NULL,
    due_rule         TEXT NOT NULL,
    extended_due_at  TEXT,
    extend_reason    TEXT NOT NULL DEFAULT '',
    assignee_id      INTEGER REFERENCES agents(id) ON DELETE SET NULL,
    completed_at     TEXT,
    alerts_sent      TEXT NOT NULL DEFAULT '',
    confidence       REAL NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX data_requests_due ON data_requests(status, due_at);
CREATE UNIQUE INDEX data_requests_suggested_once ON data_requests(conversation_id) WHERE status = 'suggested';

CREATE TABLE data_request_events (
    id         INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES data_requests(id) ON DELETE CASCADE,
    agent_id   INTEGER,
    at         TEXT NOT NULL,
    change     TEXT NOT NULL
);
CREATE INDEX data_request_events_request ON data_request_events(request_id);

CREATE TABLE incidents (
    id              INTEGER PRIMARY KEY,
    title           TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('investigating', 'identified', 'monitoring', 'resolved', 'scheduled')),
    services        TEXT NOT NULL DEFAULT '[]',
    audience        TEXT NOT NULL DEFAULT 'open',
    eta             TEXT,
    scheduled_start TEXT,
    scheduled_end   TEXT,
    created_by      INTEGER,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    resolved_at     TEXT
);

CREATE TABLE incident_updates (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    text        TEXT NOT NULL,
    state       TEXT NOT NULL,
    eta         TEXT,
    author_id   INTEGER,
    created_at  TEXT NOT NULL
);
CREATE INDEX incident_updates_incident ON incident_updates(incident_id, id);

-- Who did what. subject_ref is pseudonymous after an erasure.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    INTEGER,
    action      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    subject_ref TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_subject ON audit_log(subject, subject_ref);

CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY,
    agent_id   INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    text       TEXT NOT NULL,
    link       TEXT NOT NULL DEFAULT '',
    dedupe_key TEXT UNIQUE,
    created_at TEXT NOT NULL,
    read_at    TEXT
);
CREATE INDEX notifications_agent ON notifications(agent_id, id DESC);
