-- Which kinds of inbox there are is the channels' business now (connectors.Registry,
-- wired in cmd/kibo): a new channel is a package and a line there, and the store must
-- take its inboxes. So inboxes.kind loses its CHECK (kind IN ('chat', 'email',
-- 'messenger', 'x')). SQLite drops a constraint only by rebuilding the table.
--
-- The rebuild runs inside the migration's transaction, where foreign keys can't be
-- turned off: with them deferred to the commit, dropping inboxes leaves conversations
-- pointing nowhere until the same ids are inserted again, and the commit finds
-- nothing wrong. mail_sync is deleted by the drop (ON DELETE CASCADE acts at once,
-- deferred or not), so it is put back from a copy.
PRAGMA defer_foreign_keys = ON;

CREATE TEMP TABLE inboxes_kept AS SELECT * FROM inboxes;
CREATE TEMP TABLE mail_sync_kept AS SELECT * FROM mail_sync;

DROP TABLE inboxes;
CREATE TABLE inboxes (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    public_key  TEXT UNIQUE,
    settings    TEXT NOT NULL DEFAULT '{}',
    state       TEXT NOT NULL DEFAULT 'unknown',
    last_error  TEXT NOT NULL DEFAULT '',
    state_at    TEXT,
    created_at  TEXT NOT NULL,
    deleted_at  TEXT
);
INSERT INTO inboxes(id, kind, name, public_key, settings, state, last_error, state_at, created_at, deleted_at)
    SELECT id, kind, name, public_key, settings, state, last_error, state_at, created_at, deleted_at FROM temp.inboxes_kept;
INSERT INTO mail_sync SELECT * FROM temp.mail_sync_kept;

DROP TABLE temp.inboxes_kept;
DROP TABLE temp.mail_sync_kept;
