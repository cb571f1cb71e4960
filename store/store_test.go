package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"kibo/connectors"
)

func newTestStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), Options{Durability: DurabilityNormal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustInbox(t testing.TB, s *Store, kind string) *Inbox {
	t.Helper()
	key := ""
	if kind == "chat" {
		key = fmt.Sprintf("key-%d", time.Now().UnixNano())
	}
	in, err := s.CreateInbox(context.Background(), kind, kind+" inbox", key, map[string]any{"address": "support@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func emailFrom(addr string) connectors.Identity {
	return connectors.Identity{Kind: "email", ExternalID: addr, Name: "Ann"}
}

func TestMigrationsRecordVersionAndRefuseNewerSchema(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := s.w.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != SchemaVersion() {
		t.Fatalf("schema version %d (%v), want %d", v, err, SchemaVersion())
	}
	s.w.Exec(`INSERT INTO schema_migrations(version, name, applied_at) VALUES (9999, 'future', 'x')`)
	s.Close()
	if _, err := Open(dir, Options{}); err == nil {
		t.Fatal("opened a database with a schema newer than the binary")
	}
}

// A database that missed a migration below its newest one (made by a build between
// releases) is refused, not run on a schema without it.
func TestMigrationsRefuseASkippedOne(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.w.Exec(`DELETE FROM schema_migrations WHERE version = 2`)
	s.Close()
	_, err = Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "0002") {
		t.Fatalf("opened a database that skipped migration 2: %v", err)
	}
}

func TestIngestIsIdempotentByExternalID(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "email")
	msg := Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: emailFrom("ann@example.com"), ExternalID: "<a1@example.com>", Subject: "Help", Text: "hello"}}
	first, err := s.Ingest(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	if first.Duplicate || !first.NewConversation {
		t.Fatalf("first delivery: %+v", first)
	}
	again, err := s.Ingest(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.MessageID != first.MessageID || again.ConversationID != first.ConversationID {
		t.Fatalf("re-delivery %+v, first %+v", again, first)
	}
	msgs, err := s.Messages(ctx, first.ConversationID, MessageFilter{})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%d messages stored (%v), want 1", len(msgs), err)
	}
}

func TestChatClientIDDedupesWithinConversation(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "chat")
	visitor := connectors.Identity{Kind: "visitor", Scope: "1", ExternalID: "hash-of-token"}
	first, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: visitor, ClientID: "c-1", Text: "hi"}, ReuseOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: visitor, ClientID: "c-1", Text: "hi", ConversationID: first.ConversationID}})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.MessageID != first.MessageID {
		t.Fatalf("resend stored again: %+v vs %+v", again, first)
	}
	second, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: visitor, ClientID: "c-2", Text: "more"}, ReuseOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	if second.ConversationID != first.ConversationID || second.Duplicate {
		t.Fatalf("second message: %+v", second)
	}
}

func TestGroupCommitKeepsEveryConcurrentMessageOnce(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "chat")
	const visitors, each = 40, 25
	var wg sync.WaitGroup
	errs := make(chan error, visitors*each*2)
	for v := 0; v < visitors; v++ {
		wg.Add(1)
		go func(v int) {
			defer wg.Done()
			id := connectors.Identity{Kind: "visitor", Scope: "1", ExternalID: fmt.Sprint("v", v)}
			var conv int64
			for i := 0; i < each; i++ {
				// every message is sent twice, as a widget does after a lost ack
				for try := 0; try < 2; try++ {
					r, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: id, ClientID: fmt.Sprint(i), Text: fmt.Sprint("m", i), ConversationID: conv}, ReuseOpen: true})
					if err != nil {
						errs <- err
						return
					}
					conv = r.ConversationID
				}
			}
		}(v)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var n int
	s.r.QueryRow(`SELECT COUNT(*) FROM messages`).Scan(&n)
	if n != visitors*each {
		t.Fatalf("%d messages stored, want %d", n, visitors*each)
	}
	var convs int
	s.r.QueryRow(`SELECT COUNT(*) FROM conversations`).Scan(&convs)
	if convs != visitors {
		t.Fatalf("%d conversations, want one per visitor (%d)", convs, visitors)
	}
}

func TestEmailThreading(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "email")
	ann := emailFrom("ann@example.com")
	first, _ := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: ann, ExternalID: "<1@ex>", Subject: "Printer", Text: "broken"}})
	conv, _ := s.Conversation(ctx, first.ConversationID, 0)

	// an agent's reply is stored with the Message-ID it goes out with
	if _, err := s.AddAgentMessage(ctx, AgentMessage{ConversationID: conv.ID, AuthorName: "Sam", Text: "try again", Queue: true, ExternalID: "<r1@kibo>"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		in       Incoming
		sameConv bool
	}{
		{"in-reply-to our reply", Incoming{Inbound: connectors.Inbound{Identity: ann, ExternalID: "<2@ex>", ThreadRefs: []string{"<r1@kibo>"}, Text: "still broken"}}, true},
		{"references only (Apple Mail rewrote In-Reply-To)", Incoming{Inbound: connectors.Inbound{Identity: ann, ExternalID: "<3@ex>", ThreadRefs: []string{"<unknown@x>", "<1@ex>"}, Text: "hm"}}, true},
		{"token from a participant", Incoming{Inbound: connectors.Inbound{Identity: ann, ExternalID: "<4@ex>", SubjectToken: conv.Number, Text: "token"}}, true},
		{"token quoted by a stranger", Incoming{Inbound: connectors.Inbound{Identity: emailFrom("eve@example.com"), ExternalID: "<5@ex>", SubjectToken: conv.Number, Text: "I quote #"}}, false},
		{"forwarded mail", Incoming{Inbound: connectors.Inbound{Identity: ann, ExternalID: "<6@ex>", ThreadRefs: []string{"<1@ex>"}, NewThread: true, Text: "fwd"}}, false},
		{"no refs: a new conversation", Incoming{Inbound: connectors.Inbound{Identity: ann, ExternalID: "<7@ex>", Text: "another topic"}}, false},
	}
	for _, tc := range cases {
		tc.in.InboxID = in.ID
		r, err := s.Ingest(ctx, tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if (r.ConversationID == conv.ID) != tc.sameConv {
			t.Errorf("%s: conversation %d, first was %d, want same=%v", tc.name, r.ConversationID, conv.ID, tc.sameConv)
		}
	}
}

func TestReplyReopensAndFirstResponse(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "email")
	r, _ := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: emailFrom("a@b.c"), ExternalID: "<x@y>", Text: "hi"}})
	if _, err := s.AddAgentMessage(ctx, AgentMessage{ConversationID: r.ConversationID, Text: "note", Private: true}); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Conversation(ctx, r.ConversationID, 0)
	if c.FirstResponseAt != nil {
		t.Fatal("a private note counted as the first response")
	}
	s.AddAgentMessage(ctx, AgentMessage{ConversationID: r.ConversationID, Text: "answer"})
	resolved := "resolved"
	s.UpdateConversation(ctx, r.ConversationID, 0, ConversationUpdate{Status: &resolved})
	c, _ = s.Conversation(ctx, r.ConversationID, 0)
	if c.FirstResponseAt == nil || c.Status != "resolved" || c.ResolvedAt == nil {
		t.Fatalf("after answer and resolve: %+v", c)
	}
	r2, _ := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: emailFrom("a@b.c"), ExternalID: "<x2@y>", ThreadRefs: []string{"<x@y>"}, Text: "one more thing"}})
	c, _ = s.Conversation(ctx, r2.ConversationID, 0)
	if r2.ConversationID != r.ConversationID || c.Status != "open" || !r2.Reopened {
		t.Fatalf("customer reply did not reopen: %+v %+v", r2, c)
	}
}

func TestConversationFiltersAndPagination(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "email")
	agent, _ := s.CreateAgent(ctx, "sam@example.com", "Sam", "agent", "x")
	var ids []int64
	for i := 0; i < 7; i++ {
		r, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: emailFrom(fmt.Sprintf("c%d@example.com", i)), ExternalID: fmt.Sprint("<", i, "@x>"), Subject: fmt.Sprint("topic ", i), Text: fmt.Sprintf("message number %d about invoices", i)}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ConversationID)
	}
	me := agent.ID
	s.UpdateConversation(ctx, ids[0], me, ConversationUpdate{SetAssignee: true, AssigneeID: &me, Tags: &[]string{"Billing", "vip"}})
	pending := "pending"
	s.UpdateConversation(ctx, ids[1], me, ConversationUpdate{Status: &pending})

	count := func(f ConversationFilter) int {
		f.AgentID = me
		list, _, err := s.Conversations(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	if n := count(ConversationFilter{Status: "open"}); n != 6 {
		t.Errorf("open: %d, want 6", n)
	}
	if n := count(ConversationFilter{}); n != 7 {
		t.Errorf("all: %d, want 7", n)
	}
	if n := count(ConversationFilter{Assignee: "me"}); n != 1 {
		t.Errorf("mine: %d, want 1", n)
	}
	if n := count(ConversationFilter{Assignee: "none"}); n != 6 {
		t.Errorf("unassigned: %d, want 6", n)
	}
	if n := count(ConversationFilter{Tag: "billing"}); n != 1 {
		t.Errorf("tag: %d, want 1", n)
	}
	if n := count(ConversationFilter{Query: "number 3"}); n != 1 {
		t.Errorf("search: %d, want 1", n)
	}
	if n := count(ConversationFilter{Query: `invoic"es OR -(`}); n != 0 {
		t.Errorf("odd search syntax matched %d (it must be taken as words, not FTS syntax)", n)
	}
	// pages of 3 cover everything exactly once, newest first
	seen := map[int64]bool{}
	cursor := ""
	for page := 0; page < 5; page++ {
		list, next, err := s.Conversations(ctx, ConversationFilter{Limit: 3, Cursor: cursor, AgentID: me})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			if seen[c.ID] {
				t.Fatalf("conversation %d on two pages", c.ID)
			}
			seen[c.ID] = true
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 7 {
		t.Fatalf("pages covered %d conversations, want 7", len(seen))
	}
	counts, err := s.ConversationCounts(ctx, me)
	if err != nil || counts.ByStatus["open"] != 6 || counts.Mine != 1 || counts.Unassigned != 5 || counts.Unread != 6 {
		t.Fatalf("counts %+v %v", counts, err)
	}
	c0, _ := s.Conversation(ctx, ids[0], me)
	s.MarkRead(ctx, ids[0], me, c0.LastMessageID)
	c0, _ = s.Conversation(ctx, ids[0], me)
	if c0.Unread != 0 {
		t.Fatalf("unread after read: %d", c0.Unread)
	}
}

// The inbox list and the conversation view cost a fixed number of statements, whatever
// the page size: the N+1 that takes a desk down on a busy day.
func TestQueryBudgetDoesNotGrowWithPageSize(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "email")
	var conv int64
	for i := 0; i < 60; i++ {
		r, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: emailFrom(fmt.Sprintf("c%d@example.com", i%20)), ExternalID: fmt.Sprint("<q", i, "@x>"),
			ThreadRefs: []string{fmt.Sprint("<q", i-20, "@x>")}, Text: "text",
			Attachments: []connectors.Attachment{{Filename: "a.txt", ContentType: "text/plain", Data: []byte(fmt.Sprint("file ", i))}}}})
		if err != nil {
			t.Fatal(err)
		}
		conv = r.ConversationID
	}
	cost := func(f func()) int64 {
		before := s.QueryCount()
		f()
		return s.QueryCount() - before
	}
	small := cost(func() { s.Conversations(ctx, ConversationFilter{Limit: 2}) })
	large := cost(func() { s.Conversations(ctx, ConversationFilter{Limit: 50}) })
	if small != large || large > 1 {
		t.Fatalf("inbox list: %d statements for 2 rows, %d for 50", small, large)
	}
	view := cost(func() { s.Messages(ctx, conv, MessageFilter{}) })
	if view > 2 {
		t.Fatalf("conversation view: %d statements, want at most 2", view)
	}
}

func TestMergeMovesEverythingAndAudits(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	mail := mustInbox(t, s, "email")
	chat := mustInbox(t, s, "chat")
	a, _ := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: mail.ID, Identity: emailFrom("ann@example.com"), ExternalID: "<m@x>", Text: "by mail"}})
	b, _ := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: chat.ID, Identity: connectors.Identity{Kind: "visitor", Scope: "2", ExternalID: "tokhash", Name: "Ann W."}, ClientID: "c", Text: "by chat"}, ReuseOpen: true})
	merged, err := s.MergeContacts(ctx, a.ContactID, b.ContactID, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(merged.Identities) != 2 {
		t.Fatalf("identities after merge: %d", len(merged.Identities))
	}
	convs, _, _ := s.Conversations(ctx, ConversationFilter{ContactID: a.ContactID})
	if len(convs) != 2 {
		t.Fatalf("conversations after merge: %d", len(convs))
	}
	if _, err := s.Contact(ctx, b.ContactID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("merged contact still there: %v", err)
	}
	log, _ := s.AuditLog(ctx, "contact", fmt.Sprint(a.ContactID), 10)
	if len(log) != 1 || log[0].Action != "contact.merge" || log[0].ActorID != 7 {
		t.Fatalf("audit: %+v", log)
	}
	// the chat visitor now writes into the merged contact
	c, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: chat.ID, Identity: connectors.Identity{Kind: "visitor", Scope: "2", ExternalID: "tokhash"}, ClientID: "d", Text: "again"}, ReuseOpen: true})
	if err != nil || c.ContactID != a.ContactID || c.ConversationID != b.ConversationID {
		t.Fatalf("after merge: %+v %v", c, err)
	}
}

func TestOutboxRetryAndFailure(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s, err := Open(t.TempDir(), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	in := mustInbox(t, s, "email")
	r, _ := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: emailFrom("a@b.c"), ExternalID: "<o@x>", Text: "hi"}})
	m, _ := s.AddAgentMessage(ctx, AgentMessage{ConversationID: r.ConversationID, Text: "answer", Queue: true})
	if m.Delivery != "queued" {
		t.Fatalf("delivery %q", m.Delivery)
	}
	due, _ := s.DueOutbox(ctx, 10, time.Minute)
	if len(due) != 1 || due[0].MessageID != m.ID {
		t.Fatalf("due: %+v", due)
	}
	if again, _ := s.DueOutbox(ctx, 10, time.Minute); len(again) != 0 {
		t.Fatal("a claimed send was handed out twice")
	}
	s.OutboxRetry(ctx, due[0].ID, "421 try later", now.Add(time.Minute))
	if d, _ := s.DueOutbox(ctx, 10, time.Minute); len(d) != 0 {
		t.Fatal("retry came back before its time")
	}
	now = now.Add(2 * time.Minute)
	due, _ = s.DueOutbox(ctx, 10, time.Minute)
	if len(due) != 1 || due[0].Attempts != 2 {
		t.Fatalf("after the wait: %+v", due)
	}
	s.OutboxFailed(ctx, due[0].ID, "550 no such user")
	m, _ = s.Message(ctx, m.ID)
	if m.Delivery != "failed" || m.DeliveryError != "550 no such user" {
		t.Fatalf("message after failure: %q %q", m.Delivery, m.DeliveryError)
	}
	if err := s.RetryMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	due, _ = s.DueOutbox(ctx, 10, time.Minute)
	if len(due) != 1 {
		t.Fatal("manual retry did not requeue")
	}
	s.OutboxSent(ctx, due[0].ID, "<sent@x>")
	m, _ = s.Message(ctx, m.ID)
	if m.Delivery != "sent" {
		t.Fatalf("delivery after send: %q", m.Delivery)
	}
}

func TestBackupIsAConsistentCopy(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "email")
	for i := 0; i < 20; i++ {
		s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: emailFrom("a@b.c"), ExternalID: fmt.Sprint("<b", i, ">"), Text: "x"}})
	}
	dir := t.TempDir()
	if err := s.Backup(ctx, dir+"/kibo.db"); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(ctx, dir+"/kibo.db"); err == nil {
		t.Fatal("backup overwrote an existing file")
	}
	c, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var n int
	c.r.QueryRow(`SELECT COUNT(*) FROM messages`).Scan(&n)
	if n != 20 {
		t.Fatalf("backup has %d messages, want 20", n)
	}
}

// A conversation deleted in Kibo is not imported again when its mail is still on the
// server and a re-scan delivers it once more.
func TestDeletedConversationIsNotReimported(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "email")
	msg := Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: emailFrom("spam@example.com"), ExternalID: "<spam-1@x>", Subject: "Win", Text: "prize"}}
	first, err := s.Ingest(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteConversation(ctx, first.ConversationID); err != nil {
		t.Fatal(err)
	}
	again, err := s.Ingest(ctx, msg)
	if err != nil || !again.Duplicate {
		t.Fatalf("re-delivery after delete: %+v %v", again, err)
	}
	list, _, _ := s.Conversations(ctx, ConversationFilter{})
	if len(list) != 0 {
		t.Fatalf("deleted conversation listed again: %d", len(list))
	}
	if _, err := s.Conversation(ctx, first.ConversationID, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted conversation still readable: %v", err)
	}
}

func TestResentFirstMessageIsADuplicateNotAnError(t *testing.T) {
	// the widget resends its first message before it knows the conversation: the
	// insert's own conflict check must answer with the stored message
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "chat")
	visitor := connectors.Identity{Kind: "visitor", Scope: "1", ExternalID: "resender"}
	first, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: visitor, ClientID: "c-1", Text: "hello?"}, ReuseOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: visitor, ClientID: "c-1", Text: "hello?"}, ReuseOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.MessageID != first.MessageID || again.ConversationID != first.ConversationID ||
		again.ContactID != first.ContactID || !again.CreatedAt.Equal(first.CreatedAt) {
		t.Fatalf("resend: %+v, first: %+v", again, first)
	}
	var n int
	s.r.QueryRow(`SELECT COUNT(*) FROM messages`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d messages stored, want 1", n)
	}
}

func TestBadMessageInABatchFailsAloneAndLeavesNothing(t *testing.T) {
	s := newTestStore(t)
	in := mustInbox(t, s, "chat")
	req := func(visitor string, conv int64) *ingestRequest {
		return &ingestRequest{done: make(chan struct{}), in: Incoming{Inbound: connectors.Inbound{InboxID: in.ID, ConversationID: conv, ClientID: "c-" + visitor,
			Identity: connectors.Identity{Kind: "visitor", Scope: "1", ExternalID: visitor}, Text: "from " + visitor, SentAt: time.Now()}}}
	}
	// one batch, as the group commit forms it: the middle message names a
	// conversation that does not exist (erased while the visitor was typing)
	batch := []*ingestRequest{req("a", 0), req("b", 999999), req("c", 0)}
	s.ingest.commit(batch)
	for i, r := range batch {
		<-r.done
		if i == 1 {
			var nf *NotFoundError
			if !errors.As(r.err, &nf) || r.res.MessageID != 0 {
				t.Fatalf("bad message: %+v, %v", r.res, r.err)
			}
			continue
		}
		if r.err != nil || r.res.MessageID == 0 || !r.res.NewConversation {
			t.Fatalf("message %d: %+v, %v", i, r.res, r.err)
		}
	}
	var msgs, contacts int
	s.r.QueryRow(`SELECT COUNT(*) FROM messages`).Scan(&msgs)
	s.r.QueryRow(`SELECT COUNT(*) FROM identities WHERE external_id = 'b'`).Scan(&contacts)
	if msgs != 2 || contacts != 0 {
		t.Fatalf("%d messages, %d identities of the failed sender: want 2 and 0", msgs, contacts)
	}
}

func TestConversationCountsLeaveOutDeletedConversations(t *testing.T) {
	// the counts are index range counts less the deleted ones (migration 0008): checked
	// against the plain definition over every row, with deletions in every status
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "email")
	agent, _ := s.CreateAgent(ctx, "kim@example.com", "Kim", "agent", "x")
	me := agent.ID
	statuses := []string{"open", "pending", "snoozed", "resolved"}
	for i := 0; i < 40; i++ {
		r, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: emailFrom(fmt.Sprintf("p%d@example.com", i)), ExternalID: fmt.Sprint("<c", i, "@x>"), Text: "hello"}})
		if err != nil {
			t.Fatal(err)
		}
		u := ConversationUpdate{}
		if st := statuses[i%4]; st != "open" {
			u.Status = &st
			if st == "snoozed" {
				later := time.Now().Add(time.Hour)
				u.SnoozedUntil = &later
			}
		}
		if i%3 == 0 {
			u.SetAssignee, u.AssigneeID = true, &me
		}
		if _, err := s.UpdateConversation(ctx, r.ConversationID, me, u); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			c, _ := s.Conversation(ctx, r.ConversationID, me)
			s.MarkRead(ctx, r.ConversationID, me, c.LastMessageID)
		}
		if i%7 == 0 {
			if err := s.DeleteConversation(ctx, r.ConversationID); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := Counts{ByStatus: map[string]int{}}
	rows, err := s.r.Query(`SELECT c.status, c.assignee_id IS NOT NULL AND c.assignee_id = ?, c.assignee_id IS NULL,
		c.last_inbound_message_id > COALESCE(r.last_read_id, 0)
		FROM conversations c LEFT JOIN conversation_reads r ON r.conversation_id = c.id AND r.agent_id = ? WHERE c.deleted_at IS NULL`, me, me)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var st string
		var mine, unassigned, unread bool
		if err := rows.Scan(&st, &mine, &unassigned, &unread); err != nil {
			t.Fatal(err)
		}
		want.ByStatus[st]++
		if st == "open" {
			want.Mine += map[bool]int{true: 1}[mine]
			want.Unassigned += map[bool]int{true: 1}[unassigned]
			want.Unread += map[bool]int{true: 1}[unread]
		}
	}
	rows.Close()
	got, err := s.ConversationCounts(ctx, me)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range statuses {
		if got.ByStatus[st] != want.ByStatus[st] {
			t.Errorf("%s: %d, want %d", st, got.ByStatus[st], want.ByStatus[st])
		}
	}
	if got.Mine != want.Mine || got.Unassigned != want.Unassigned || got.Unread != want.Unread {
		t.Errorf("mine/unassigned/unread %d/%d/%d, want %d/%d/%d", got.Mine, got.Unassigned, got.Unread, want.Mine, want.Unassigned, want.Unread)
	}
	if want.ByStatus["resolved"] == 0 || want.Mine == 0 || want.Unread == 0 || want.Unassigned == 0 {
		t.Fatalf("the fixture does not exercise every count: %+v", want)
	}
}
