package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// The migration that frees inboxes.kind rebuilds the table inside its transaction:
// every inbox, every conversation's link to its inbox and every mailbox cursor must
// come through, and an inbox of a kind the first schema never named must then go in.
func TestInboxKindsMigrationKeepsInboxesAndCursors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Generate(ctx, dir, GenConfig{Conversations: 200, MessagesPer: 2, SchemaVersion: 11, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "kibo.db")
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	var emailInbox, inboxes, convs int64
	if err := db.QueryRow(`SELECT MIN(id) FROM inboxes WHERE kind = 'email'`).Scan(&emailInbox); err != nil {
		t.Fatal(err)
	}
	db.QueryRow(`SELECT COUNT(*) FROM inboxes`).Scan(&inboxes)
	db.QueryRow(`SELECT COUNT(*) FROM conversations`).Scan(&convs)
	if _, err := db.Exec(`INSERT INTO mail_sync(inbox_id, uid_validity, last_uid, updated_at) VALUES (?, 7, 4242, '2024-01-01T00:00:00Z')`, emailInbox); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("open (migrate): %v", err)
	}
	defer s.Close()
	var n, m int64
	s.r.QueryRow(`SELECT COUNT(*) FROM inboxes`).Scan(&n)
	s.r.QueryRow(`SELECT COUNT(*) FROM conversations c JOIN inboxes i ON i.id = c.inbox_id`).Scan(&m)
	if n != inboxes || m != convs {
		t.Errorf("after the migration: %d inboxes (want %d), %d conversations with their inbox (want %d)", n, inboxes, m, convs)
	}
	if c, err := s.MailCursor(ctx, emailInbox); err != nil || c.UIDValidity != 7 || c.UID != 4242 {
		t.Errorf("the mailbox cursor after the migration: %+v, %v", c, err)
	}
	rows, err := s.r.Query(`PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	if rows.Next() {
		t.Error("foreign keys point nowhere after the migration")
	}
	rows.Close()
	in, err := s.CreateInbox(ctx, "whatsapp", "WhatsApp", "", map[string]any{})
	if err != nil || in.Kind != "whatsapp" {
		t.Fatalf("an inbox of a new kind: %v, %v", in, err)
	}
	if _, err := s.CreateInbox(ctx, " ", "Nothing", "", nil); err == nil {
		t.Error("an inbox without a kind was taken")
	}
}
