-- Search looked for the words in contact names, e-mail addresses and subjects with
-- LIKE '%...%', which reads every row: over a second at 1M conversations. They get
-- full-text indexes of their own, kept in step by triggers like messages_fts.
CREATE VIRTUAL TABLE contacts_fts USING fts5(name, email, content='contacts', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN
    INSERT INTO contacts_fts(rowid, name, email) VALUES (new.id, new.name, new.email);
END;
CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN
    INSERT INTO contacts_fts(contacts_fts, rowid, name, email) VALUES ('delete', old.id, old.name, old.email);
END;
CREATE TRIGGER contacts_fts_update AFTER UPDATE OF name, email ON contacts BEGIN
    INSERT INTO contacts_fts(contacts_fts, rowid, name, email) VALUES ('delete', old.id, old.name, old.email);
    INSERT INTO contacts_fts(rowid, name, email) VALUES (new.id, new.name, new.email);
END;
INSERT INTO contacts_fts(contacts_fts) VALUES ('rebuild');

CREATE VIRTUAL TABLE subjects_fts USING fts5(subject, content='conversations', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER subjects_fts_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO subjects_fts(rowid, subject) VALUES (new.id, new.subject);
END;
CREATE TRIGGER subjects_fts_delete AFTER DELETE ON conversations BEGIN
    INSERT INTO subjects_fts(subjects_fts, rowid, subject) VALUES ('delete', old.id, old.subject);
END;
CREATE TRIGGER subjects_fts_update AFTER UPDATE OF subject ON conversations BEGIN
    INSERT INTO subjects_fts(subjects_fts, rowid, subject) VALUES ('delete', old.id, old.subject);
    INSERT INTO subjects_fts(rowid, subject) VALUES (new.id, new.subject);
END;
INSERT INTO subjects_fts(subjects_fts) VALUES ('rebuild');
