package store

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"kibo/connectors"
)

// requireSearchIndexInSync fails unless the full-text index holds every message exactly
// once with its current text: FTS5's integrity check compares the index with the
// messages table, and the row counts catch a message indexed twice or never.
func requireSearchIndexInSync(t *testing.T, s *Store) {
	t.Helper()
	if _, err := s.w.Exec(`INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)`); err != nil {
		t.Fatalf("full-text index out of step with the messages: %v", err)
	}
	var msgs, indexed int
	s.r.QueryRow(`SELECT COUNT(*) FROM messages`).Scan(&msgs)
	s.r.QueryRow(`SELECT COUNT(*) FROM messages_fts_docsize`).Scan(&indexed)
	if msgs != indexed {
		t.Fatalf("%d messages, %d in the full-text index", msgs, indexed)
	}
}

// TestEveryMessageIsSearchable goes through every way a message is inserted: since
// migration 0009 each one indexes its messages itself (no insert trigger).
func TestEveryMessageIsSearchable(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	chat := mustInbox(t, s, "chat")
	// concurrent visitors: batches of many messages, each message sent twice
	var wg sync.WaitGroup
	for v := 0; v < 20; v++ {
		wg.Add(1)
		go func(v int) {
			defer wg.Done()
			var conv int64
			for i := 0; i < 10; i++ {
				for try := 0; try < 2; try++ {
					r, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: chat.ID, ConversationID: conv, ClientID: fmt.Sprint(i),
						Identity: connectors.Identity{Kind: "visitor", Scope: "1", ExternalID: fmt.Sprint("v", v)}, Text: fmt.Sprintf("parcel %d of visitor %d", i, v)}, ReuseOpen: true})
					if err != nil {
						t.Error(err)
						return
					}
					conv = r.ConversationID
				}
			}
		}(v)
	}
	wg.Wait()
	// a batch with a failing message, committed again one by one
	batch := []*ingestRequest{
		{done: make(chan struct{}), in: Incoming{Inbound: connectors.Inbound{InboxID: chat.ID, ClientID: "a", Identity: connectors.Identity{Kind: "visitor", Scope: "1", ExternalID: "alone-a"}, Text: "zebra crossing"}}},
		{done: make(chan struct{}), in: Incoming{Inbound: connectors.Inbound{InboxID: chat.ID, ClientID: "b", ConversationID: 999999, Identity: connectors.Identity{Kind: "visitor", Scope: "1", ExternalID: "alone-b"}, Text: "never stored"}}},
	}
	s.ingest.commit(batch)
	if batch[0].err != nil || batch[1].err == nil {
		t.Fatalf("batch: %v / %v", batch[0].err, batch[1].err)
	}
	// an e-mail, an agent's reply, a private note and an incident broadcast
	mail := mustInbox(t, s, "email")
	m, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: mail.ID, Identity: emailFrom("ann@example.com"), ExternalID: "<1@x>", Subject: "Invoice", Text: "where is my invoice"}})
	if err != nil {
		t.Fatal(err)
	}
	agent, _ := s.CreateAgent(ctx, "sam@example.com", "Sam", "agent", "x")
	for _, private := range []bool{false, true} {
		if _, err := s.AddAgentMessage(ctx, AgentMessage{ConversationID: m.ConversationID, AgentID: agent.ID, AuthorName: "Sam", Text: "here it is, the quokka invoice", Private: private}); err != nil {
			t.Fatal(err)
		}
	}
	inc, upd, err := s.CreateIncident(ctx, IncidentInput{Title: "Down"}, agent.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddIncidentMessages(ctx, []IncidentMessage{{Kind: "broadcast", IncidentID: inc.ID, UpdateID: upd.ID, ContactID: m.ContactID,
		ConversationID: m.ConversationID, Channel: "email", DedupeKey: "incident-test", AuthorName: "Acme", Text: "our platypus servers are down", Queue: true}}); err != nil {
		t.Fatal(err)
	}
	requireSearchIndexInSync(t, s)
	for word, want := range map[string]int{"parcel": 200, "zebra": 1, "never": 0, "invoice": 3, "quokka": 2, "platypus": 1} {
		var n int
		s.r.QueryRow(`SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH ?`, word).Scan(&n)
		if n != want {
			t.Errorf("%q matches %d messages, want %d", word, n, want)
		}
	}
}
