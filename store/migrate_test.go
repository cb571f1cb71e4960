package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"kibo/connectors"
)

// TestMigrateFromFirstSchema builds a database at schema version 1 (only the first
// migration file, as the first release left it), fills it with a generated inbox,
// then opens it with the current store: every later migration must apply, the data
// must come through intact (counts and a checksum of every message), the full-text
// index must still answer, and the store must work on it. It logs how long the
// upgrade took, the time the service is unavailable (BENCHMARKS.md has the figure at
// 1M conversations).
func TestMigrateFromFirstSchema(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	gen, err := Generate(ctx, dir, GenConfig{Conversations: 3000, MessagesPer: 6, SchemaVersion: 1, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	// reads by two agents, some to the end and some not, for the kept unread counts
	func() {
		db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "kibo.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`INSERT INTO conversation_reads(conversation_id, agent_id, last_read_id)
			SELECT id, 1 + id % 2, last_inbound_message_id - (id % 3 = 0) FROM conversations WHERE id % 4 <> 0 AND last_inbound_message_id > 0`); err != nil {
			t.Fatal(err)
		}
	}()
	before := migrationSnapshot(t, filepath.Join(dir, "kibo.db"))
	if before.version != 1 {
		t.Fatalf("the generated database is at version %d, want 1", before.version)
	}
	if before.messages != gen.Messages || before.conversations != gen.Conversations {
		t.Fatalf("generated %d/%d, found %d/%d", gen.Conversations, gen.Messages, before.conversations, before.messages)
	}
	if before.hasColumn("conversations", "sla_priority") || before.hasColumn("conversation_tags", "last_message_at") {
		t.Fatal("a version 1 database must not have the columns of later migrations")
	}

	start := time.Now()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("open (migrate) a version 1 database: %v", err)
	}
	took := time.Since(start)
	t.Logf("upgrade from version 1 to %d of %d conversations and %d messages took %s", SchemaVersion(), gen.Conversations, gen.Messages, took)

	after := migrationSnapshot(t, filepath.Join(dir, "kibo.db"))
	if after.version != SchemaVersion() {
		t.Fatalf("after Open the schema is at version %d, want %d", after.version, SchemaVersion())
	}
	if after.conversations != before.conversations || after.messages != before.messages || after.contacts != before.contacts || after.tags != before.tags {
		t.Fatalf("rows changed in the migration: before %+v, after %+v", before, after)
	}
	if after.checksum != before.checksum {
		t.Fatal("message rows changed in the migration (checksum differs)")
	}
	if after.ftsRefund != before.ftsRefund || after.ftsRefund == 0 {
		t.Fatalf("full-text matches for 'refund': %d before, %d after", before.ftsRefund, after.ftsRefund)
	}
	if after.integrity != "ok" {
		t.Fatalf("integrity_check after the migration: %s", after.integrity)
	}
	for _, col := range [][2]string{{"conversations", "sla_priority"}, {"data_requests", "lang"}, {"incidents", "impact"},
		{"conversation_tags", "last_message_at"}, {"conversation_tags", "status"}} {
		if !after.hasColumn(col[0], col[1]) {
			t.Errorf("column %s.%s missing after the migration", col[0], col[1])
		}
	}
	for _, index := range []string{"messages_conversation_inbound", "conversation_tags_activity", "conversation_tags_status_activity"} {
		var n int
		s.r.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?`, index).Scan(&n)
		if n != 1 {
			t.Errorf("index %s is missing after the migration", index)
		}
	}
	// the tag rows' copy of their conversation's activity and status is backfilled
	var tagRows, backfilled int
	s.r.QueryRow(`SELECT COUNT(*), COALESCE(SUM(t.last_message_at = c.last_message_at AND t.status = c.status AND t.last_message_at <> ''), 0)
		FROM conversation_tags t JOIN conversations c ON c.id = t.conversation_id`).Scan(&tagRows, &backfilled)
	if tagRows == 0 || tagRows != after.tags || backfilled != tagRows {
		t.Errorf("%d of %d tag rows (of %d) carry their conversation's last_message_at and status after the migration", backfilled, tagRows, after.tags)
	}

	// the counts the writer keeps start from what the data holds
	for _, agent := range []int64{1, 2, 3} {
		got, err := s.ConversationCounts(ctx, agent)
		if err != nil {
			t.Fatal(err)
		}
		want := countsByDefinition(t, s, agent)
		if !sameCounts(got, want) {
			t.Errorf("counts of agent %d after the upgrade: kept %+v, by definition %+v", agent, got, want)
		}
		if agent < 3 && (want.Unread == 0 || want.Unread == want.ByStatus["open"]) {
			t.Errorf("agent %d: the fixture's reads do not exercise the unread count (%d unread of %d open)", agent, want.Unread, want.ByStatus["open"])
		}
	}

	if tags, err := s.Tags(ctx); err != nil || len(tags) == 0 || fmt.Sprint(tags) != fmt.Sprint(tagsByDefinition(t, s)) {
		t.Errorf("tags after the upgrade: %v %v, by definition %v", tags, err, tagsByDefinition(t, s))
	}

	// the store works on the upgraded data
	page, _, err := s.Conversations(ctx, ConversationFilter{Status: "open", Limit: 50, AgentID: 1})
	if err != nil || len(page) == 0 {
		t.Fatalf("open conversations after the upgrade: %d, %v", len(page), err)
	}
	found, _, err := s.Conversations(ctx, ConversationFilter{Query: "refund", Limit: 50, AgentID: 1})
	if err != nil || len(found) == 0 {
		t.Fatalf("search after the upgrade: %d, %v", len(found), err)
	}
	tagged, _, err := s.Conversations(ctx, ConversationFilter{Tag: "billing", Limit: 50, AgentID: 1})
	if err != nil || len(tagged) == 0 {
		t.Fatalf("tag list after the upgrade: %d, %v", len(tagged), err)
	}
	for i, c := range tagged {
		if !slices.Contains(c.Tags, "billing") || i > 0 && c.LastMessageAt.After(tagged[i-1].LastMessageAt) {
			t.Fatalf("tag list after the upgrade: #%d is conversation %d (tags %v, last message %s) after %s", i, c.ID, c.Tags, c.LastMessageAt, tagged[max(i-1, 0)].LastMessageAt)
		}
	}
	c := page[0]
	msgs, err := s.Messages(ctx, c.ID, MessageFilter{})
	if err != nil || len(msgs) == 0 {
		t.Fatalf("messages of conversation %d: %d, %v", c.ID, len(msgs), err)
	}
	res, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: 1, Identity: connectors.Identity{Kind: "visitor", Scope: "1", ExternalID: "after-upgrade"},
		ClientID: "after-upgrade-1", Text: "a message after the upgrade"}})
	if err != nil || res.MessageID <= int64(before.messages) {
		t.Fatalf("ingest after the upgrade: %+v, %v", res, err)
	}
	// ids are never reused on an upgraded database either: erasing the newest contact,
	// conversation and message frees none of their ids
	erased, err := s.Conversation(ctx, res.ConversationID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.EraseContact(ctx, res.ContactID, ErasureOptions{ActorID: 1}); err != nil {
		t.Fatal(err)
	}
	next, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: 1, Identity: connectors.Identity{Kind: "visitor", Scope: "1", ExternalID: "after-erasure"},
		ClientID: "after-erasure-1", Text: "a new visitor after the erasure"}})
	if err != nil {
		t.Fatal(err)
	}
	nextConv, err := s.Conversation(ctx, next.ConversationID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if next.ContactID <= res.ContactID || next.ConversationID <= res.ConversationID || next.MessageID <= res.MessageID || nextConv.Number <= erased.Number {
		t.Fatalf("ids reused after an erasure on the upgraded database: erased %+v #%d, next %+v #%d", res, erased.Number, next, nextConv.Number)
	}
	var integrity string
	if err := s.r.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check after the upgrade and an erasure: %s %v", integrity, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// and opening again applies nothing
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

type dbSnapshot struct {
	version                                 int
	conversations, messages, contacts, tags int
	ftsRefund                               int
	checksum, integrity                     string
	columns                                 map[string]bool
}

func (d dbSnapshot) hasColumn(table, col string) bool { return d.columns[table+"."+col] }

func migrationSnapshot(t *testing.T, path string) dbSnapshot {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := dbSnapshot{columns: map[string]bool{}}
	q := func(query string, dst ...any) {
		if err := db.QueryRow(query).Scan(dst...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	q(`SELECT MAX(version) FROM schema_migrations`, &d.version)
	q(`SELECT COUNT(*) FROM conversations`, &d.conversations)
	q(`SELECT COUNT(*) FROM messages`, &d.messages)
	q(`SELECT COUNT(*) FROM contacts`, &d.contacts)
	q(`SELECT COUNT(*) FROM conversation_tags`, &d.tags)
	q(`SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH 'refund'`, &d.ftsRefund)
	q(`PRAGMA integrity_check`, &d.integrity)
	rows, err := db.Query(`SELECT id, conversation_id, direction, author_kind, COALESCE(author_id, 0), text, COALESCE(client_id, ''), COALESCE(external_id, ''), created_at FROM messages ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for rows.Next() {
		var id, conv, author int64
		var dir, kind, text, cid, ext, created string
		if err := rows.Scan(&id, &conv, &dir, &kind, &author, &text, &cid, &ext, &created); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%d|%d|%s|%s|%d|%s|%s|%s|%s\n", id, conv, dir, kind, author, text, cid, ext, created)
	}
	rows.Close()
	d.checksum = hex.EncodeToString(h.Sum(nil))
	for _, table := range []string{"conversations", "data_requests", "incidents", "conversation_tags"} {
		rows, err := db.Query(`SELECT name FROM pragma_table_info(?)`, table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name string
			rows.Scan(&name)
			d.columns[table+"."+name] = true
		}
		rows.Close()
	}
	return d
}
