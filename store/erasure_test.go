package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An erased person leaves no trace: not in the database file or its WAL (after the
// erasure's VACUUM and checkpoint), not in the full-text index's shadow tables, not in
// the attachment folder; the audit log and the data request keep only a pseudonym.
func TestErasureLeavesNoTrace(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Durability: DurabilityNormal})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	ctx := context.Background()
	p := seedPerson(t, s)
	sharedPath := ""
	ownPath := ""
	filepath.Walk(s.AttachmentDir(), func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(path)
			switch {
			case bytes.Equal(b, p.ownFile):
				ownPath = path
			case bytes.Equal(b, p.sharedFile):
				sharedPath = path
			}
		}
		return nil
	})
	if ownPath == "" || sharedPath == "" {
		t.Fatal("the fixture's attachment files are not on disk")
	}
	// the secrets are there before
	if !fileHas(t, filepath.Join(dir, "kibo.db"), filepath.Join(dir, "kibo.db-wal"), "zq@unique-example.org") {
		t.Fatal("the fixture did not reach the database file: the test would prove nothing")
	}

	if _, err := s.EraseContact(ctx, p.contactID, ErasureOptions{ActorID: 1, DataRequestID: 424242}); err == nil {
		t.Fatal("an unrelated data request id was accepted")
	}
	res, err := s.EraseContact(ctx, p.contactID, ErasureOptions{ActorID: 1, DataRequestID: p.requestID})
	if err != nil {
		t.Fatal(err)
	}
	if res.Conversations != 4 || res.Messages != 6 || res.Identities != 4 || res.Attachments != 2 || res.FilesDeleted != 1 || res.RawSources != 3 || res.Outbox != 1 {
		t.Errorf("erased %+v", res)
	}
	if _, err := s.Contact(ctx, p.contactID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the contact is still there: %v", err)
	}

	// The request stays as the legal record, completed, under the pseudonym.
	dr, err := s.DataRequest(ctx, p.requestID)
	if err != nil {
		t.Fatal(err)
	}
	if dr.Status != "completed" || dr.ContactID != nil || dr.ConversationID != nil || dr.MessageID != nil || dr.Evidence != "" ||
		dr.ExtendReason != "" || dr.SubjectRef != res.Pseudonym || dr.Type != "erasure" || dr.ExtendedDueAt == nil {
		t.Errorf("request after erasure: %+v", dr)
	}
	for _, e := range dr.History {
		if strings.Contains(e.Change, "Zebulon") {
			t.Errorf("history keeps the name: %q", e.Change)
		}
	}
	// The audit log says an erasure happened, by whom, under the pseudonym, and the
	// merges before it now point at the pseudonym without names.
	log, _ := s.AuditLog(ctx, "contact", res.Pseudonym, 50)
	actions := map[string]int{}
	for _, e := range log {
		actions[e.Action]++
		if e.Action == "contact.merge" && (e.Detail["merged_name"] != nil || e.Detail["merged_email"] != nil) {
			t.Errorf("merge entry keeps personal data: %v", e.Detail)
		}
	}
	if actions["contact.erase"] != 1 || actions["contact.merge"] != 3 || log[0].ActorID != 1 {
		t.Errorf("audit under the pseudonym: %v", actions)
	}
	if again, _ := Pseudonym(mustSecret(t, s), p.contactID), 0; again != res.Pseudonym {
		t.Errorf("the pseudonym is not stable: %s vs %s", again, res.Pseudonym)
	}

	// The bystander and the file they share are untouched.
	if msgs, err := s.Messages(ctx, p.bystanderCv, MessageFilter{}); err != nil || len(msgs) != 1 || len(msgs[0].Attachments) != 1 {
		t.Fatalf("bystander's conversation: %v %v", msgs, err)
	}
	if _, err := os.Stat(sharedPath); err != nil {
		t.Errorf("a file another contact still uses was deleted: %v", err)
	}
	if _, err := os.Stat(ownPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the person's own attachment file is still on disk: %v", err)
	}

	// Full-text search and its shadow tables.
	var hits int
	s.r.QueryRow(`SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH 'elephant OR quatermass OR zebulon'`).Scan(&hits)
	if hits != 0 {
		t.Errorf("full-text search still finds %d erased messages", hits)
	}
	for _, table := range []string{"messages_fts_data", "messages_fts_idx", "messages_fts_docsize", "messages_fts_config"} {
		rows, err := s.r.Query(`SELECT * FROM ` + table)
		if err != nil {
			t.Fatal(table, err)
		}
		list, err := scanMaps(rows)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range list {
			for col, v := range row {
				text, _ := v.(string)
				for _, term := range []string{"elephant", "quatermass", "zebulon", "unique"} {
					if strings.Contains(strings.ToLower(text), term) {
						t.Errorf("%s.%s still holds %q", table, col, term)
					}
				}
			}
		}
	}

	// The raw bytes on disk, after the store is closed.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, secret := range append(personSecrets, "elephant", "quatermass", "zebulon", "zq-psid", "unique-example") {
		if fileHas(t, filepath.Join(dir, "kibo.db"), filepath.Join(dir, "kibo.db-wal"), secret) {
			t.Errorf("the database file still holds %q", secret)
		}
	}
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || strings.HasPrefix(filepath.Base(path), "kibo.db") {
			return nil
		}
		b, _ := os.ReadFile(path)
		for _, secret := range append(personSecrets, "hovercraft", "only Zebulon") {
			if bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(secret))) {
				t.Errorf("%s still holds %q", path, secret)
			}
		}
		return nil
	})
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Contact(ctx, p.bystanderID); err != nil {
		t.Errorf("the bystander is gone: %v", err)
	}
}

func fileHas(t *testing.T, db, wal, needle string) bool {
	t.Helper()
	for _, path := range []string{db, wal} {
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(needle))) {
			return true
		}
	}
	return false
}

func mustSecret(t *testing.T, s *Store) []byte {
	t.Helper()
	var secret []byte
	err := s.tx(context.Background(), func(tx *Tx) error {
		var err error
		secret, err = tx.pseudonymSecret(context.Background())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func TestErasureOfUnknownContact(t *testing.T) {
	s := newTestStore(t)
	if _, err := s.EraseContact(context.Background(), 4242, ErasureOptions{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("%v", err)
	}
}
