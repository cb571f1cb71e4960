-- Two promises kept in the schema: ids are never reused, and only what is signed is
-- trusted.

-- ---- Ids are never reused. Without AUTOINCREMENT SQLite gives a new row the largest
-- rowid + 1, so erasing the newest contact made its ids free again: the next visitor
-- got the erased one's contact, conversation and message ids, and a socket or a link
-- still holding them reached someone else. Contacts, conversations, messages and
-- attachments (what the API and the widget address by id) become AUTOINCREMENT tables,
-- with sqlite_sequence seeded with the largest id of each. Ids freed before this
-- migration ran can't be known; from now on none is given twice.
--
-- How: AUTOINCREMENT changes nothing in a table's stored rows or b-tree, only which
-- rowid SQLite picks for a new row (one past the largest ever, kept in
-- sqlite_sequence). So the keyword is added to the stored CREATE TABLE text, the way
-- SQLite's ALTER TABLE documentation describes for schema changes that leave the
-- stored format alone (writable_schema, then a reload of the schema), instead of the
-- usual create-copy-drop-rename rebuild. The rebuild (foreign keys off around it, every
-- index and trigger made again) was measured first on a generated database of 200,000
-- conversations and 2M messages (1.06 GB): 52 s, and the file grew to 1.47 GB; at
-- 1M / 10M that extrapolates to 4-5 minutes with Kibo down. The edit takes the same
-- time at any size: the whole `kibo migrate` of that database to this version takes
-- 0.85 s (0.12 s of it opening the database; most of the rest is the identities
-- below, linear in their number). It leaves
-- ids, indexes, triggers, foreign keys and the full-text indexes (external content
-- keyed by those ids) exactly as they are; store/migrate_test.go checks the result
-- with integrity_check and by erasing the newest rows.
--
-- The writer pays for it one sqlite_sequence update per insert: BenchmarkIngestWriter
-- (NORMAL, 40,000 messages, median of 7 alternating runs) went from 9,695 to 9,630
-- msg/s, 92.8 to 94.8 µs of CPU a message: 1-2 %, inside the runs' spread.

-- sqlite_sequence exists once any AUTOINCREMENT table was created; SQLite reads it
-- when it loads an AUTOINCREMENT table and refuses the schema without it.
CREATE TABLE kibo_make_sqlite_sequence (id INTEGER PRIMARY KEY AUTOINCREMENT);
DROP TABLE kibo_make_sqlite_sequence;
DELETE FROM sqlite_sequence WHERE name IN ('contacts', 'conversations', 'messages', 'attachments');
INSERT INTO sqlite_sequence(name, seq) SELECT 'contacts', COALESCE(MAX(id), 0) FROM contacts;
INSERT INTO sqlite_sequence(name, seq) SELECT 'conversations', COALESCE(MAX(id), 0) FROM conversations;
INSERT INTO sqlite_sequence(name, seq) SELECT 'messages', COALESCE(MAX(id), 0) FROM messages;
INSERT INTO sqlite_sequence(name, seq) SELECT 'attachments', COALESCE(MAX(id), 0) FROM attachments;
PRAGMA writable_schema = ON;
-- "INTEGER PRIMARY KEY," is the id column in each of the four (0001_initial.sql)
UPDATE sqlite_schema SET sql = replace(sql, 'INTEGER PRIMARY KEY,', 'INTEGER PRIMARY KEY AUTOINCREMENT,')
WHERE type = 'table' AND name IN ('contacts', 'conversations', 'messages', 'attachments');
-- RESET reloads this connection's schema; the ALTER TABLEs below change the schema
-- cookie, which makes every other connection reload it too.
PRAGMA writable_schema = RESET;
-- and the migration fails unless all four now say so
CREATE TEMP TABLE kibo_autoincrement_check (tables INTEGER CHECK (tables = 4));
INSERT INTO kibo_autoincrement_check SELECT COUNT(*) FROM sqlite_schema
WHERE type = 'table' AND name IN ('contacts', 'conversations', 'messages', 'attachments') AND sql LIKE '%id%INTEGER PRIMARY KEY AUTOINCREMENT,%';
DROP TABLE kibo_autoincrement_check;

-- ---- ticket numbers: #1042 is MAX(number) + 1, so erasing the newest ticket freed
-- its number. The highest number ever deleted is kept here; a new ticket takes the
-- next after both.
CREATE TABLE high_water (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER conversations_number_high_water AFTER DELETE ON conversations BEGIN
    INSERT INTO high_water(name, value) VALUES ('conversation_number', old.number)
    ON CONFLICT(name) DO UPDATE SET value = MAX(value, excluded.value);
END;

-- ---- Only what is signed is trusted. An identity keeps the e-mail address it came with and
-- says whether that address and its name were signed (a widget JWT's claims) or are the
-- channel's own (an e-mail identity's address); an address or name passed unsigned
-- beside a widget hash is shown to agents as unverified and never used to find or join
-- a contact. A contact's flags are 0 when its address or name is only what the person
-- typed or a page passed unsigned.
ALTER TABLE contacts ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 1;
ALTER TABLE contacts ADD COLUMN name_verified INTEGER NOT NULL DEFAULT 1;
ALTER TABLE identities ADD COLUMN email TEXT NOT NULL DEFAULT '';
ALTER TABLE identities ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE identities ADD COLUMN name_verified INTEGER NOT NULL DEFAULT 1;

-- What the old code trusted wrongly: a widget identity proved by its id alone joined the
-- contact of the e-mail address sent beside it, and made an e-mail identity for that
-- address in the same statement (same contact, same created_at). A hash and a JWT
-- can't be told apart afterwards, so every such address becomes an unverified
-- attribute of the widget identity. The e-mail identity goes unless mail from that
-- address was since filed under the contact (then replies still need it).
UPDATE identities SET email = external_id, email_verified = 1 WHERE kind = 'email';
UPDATE identities SET name_verified = 0 WHERE kind = 'chat_user';
UPDATE identities SET email = e.external_id, email_verified = 0
FROM identities e
WHERE identities.kind = 'chat_user' AND e.kind = 'email' AND e.scope = ''
  AND e.contact_id = identities.contact_id AND e.created_at = identities.created_at;
DELETE FROM identities WHERE kind = 'email' AND scope = '' AND EXISTS (
    SELECT 1 FROM identities u WHERE u.kind = 'chat_user' AND u.contact_id = identities.contact_id AND u.created_at = identities.created_at
) AND NOT EXISTS (
    SELECT 1 FROM conversations c JOIN inboxes i ON i.id = c.inbox_id WHERE c.contact_id = identities.contact_id AND i.kind = 'email'
);
-- A contact's address is verified when it is one of its e-mail identities, or when no
-- widget identity brought it with the contact (it came by e-mail or from an agent).
UPDATE contacts SET email_verified = 0 WHERE email <> ''
  AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.contact_id = contacts.id AND i.kind = 'email' AND i.scope = '' AND i.external_id = lower(contacts.email))
  AND EXISTS (SELECT 1 FROM identities i WHERE i.contact_id = contacts.id AND i.kind = 'chat_user' AND i.created_at = contacts.created_at);
-- and its name when the widget identity brought it with the contact
UPDATE contacts SET name_verified = 0 WHERE name <> ''
  AND EXISTS (SELECT 1 FROM identities i WHERE i.contact_id = contacts.id AND i.kind = 'chat_user' AND i.created_at = contacts.created_at AND i.name = contacts.name);
