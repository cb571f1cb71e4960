package store

import (
	"context"
	"testing"
	"time"

	"kibo/connectors"
)

// The follow-up work of an inbound message is recorded in the message's own
// transaction: every new inbound message has a row, a re-delivery and a page echo have
// none, and the row says whether the message opened or reopened its conversation.
func TestFollowupsAreRecordedWithTheMessage(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "messenger")
	who := connectors.Identity{Kind: "messenger", Scope: "page", ExternalID: "psid-1", Name: "Ann"}
	ingest := func(ext string, echo bool) Ingested {
		t.Helper()
		r, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: who, ExternalID: ext, Text: "hello " + ext, Echo: echo}, ReuseOpen: true})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	first := ingest("m1", false)
	second := ingest("m2", false)
	ingest("m1", false) // re-delivery
	echo := ingest("m3", true)
	closed := "resolved"
	if _, err := s.UpdateConversation(ctx, first.ConversationID, 0, ConversationUpdate{Status: &closed}); err != nil {
		t.Fatal(err)
	}
	// a resolved conversation is not reused: the next message opens a new one
	third := ingest("m4", false)

	due, err := s.DueFollowups(ctx, time.Now(), 100)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]Followup{}
	for _, f := range due {
		got[f.MessageID] = f
	}
	if len(due) != 3 {
		t.Fatalf("%d follow-ups, want 3 (two messages and a new conversation; no echo, no re-delivery): %+v", len(due), due)
	}
	if _, ok := got[echo.MessageID]; ok {
		t.Fatal("a page echo has follow-up work")
	}
	if f := got[first.MessageID]; !f.NewConversation || f.Reopened {
		t.Fatalf("first message: %+v, want a new conversation", f)
	}
	if f := got[second.MessageID]; f.NewConversation || f.Reopened {
		t.Fatalf("second message: %+v, want neither new nor reopened", f)
	}
	if f := got[third.MessageID]; !f.NewConversation {
		t.Fatalf("message after the resolution: %+v, want a new conversation", f)
	}

	// a failed attempt waits; finished work is gone
	if err := s.PostponeFollowup(ctx, first.MessageID, "boom", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishFollowups(ctx, []int64{second.MessageID}); err != nil {
		t.Fatal(err)
	}
	due, _ = s.DueFollowups(ctx, time.Now(), 100)
	if len(due) != 1 || due[0].MessageID != third.MessageID {
		t.Fatalf("due now: %+v, want only message %d", due, third.MessageID)
	}
	due, _ = s.DueFollowups(ctx, time.Now().Add(2*time.Hour), 100)
	if len(due) != 2 || due[0].MessageID != first.MessageID || due[0].Attempts != 1 {
		t.Fatalf("due in two hours: %+v, want the postponed message first with one attempt", due)
	}
	b, err := s.FollowupBacklog(ctx)
	if err != nil || b.Pending != 2 || b.Retrying != 1 || b.Oldest.IsZero() {
		t.Fatalf("backlog %+v %v, want 2 pending, 1 retrying", b, err)
	}
}

// Reopening is known only at the moment of ingest, so it is kept with the work.
func TestFollowupRemembersAReopenedConversation(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "chat")
	who := connectors.Identity{Kind: "visitor", Scope: "1", ExternalID: "v-1"}
	r1, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: who, ClientID: "c1", Text: "hi"}})
	if err != nil {
		t.Fatal(err)
	}
	pending := "pending"
	if _, err := s.UpdateConversation(ctx, r1.ConversationID, 0, ConversationUpdate{Status: &pending}); err != nil {
		t.Fatal(err)
	}
	r2, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: who, ConversationID: r1.ConversationID, ClientID: "c2", Text: "still there?"}})
	if err != nil {
		t.Fatal(err)
	}
	due, err := s.DueFollowups(ctx, time.Now(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 || due[1].MessageID != r2.MessageID || !due[1].Reopened || due[1].NewConversation {
		t.Fatalf("follow-ups %+v: want the second message marked reopened", due)
	}
}
