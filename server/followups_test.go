package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"kibo/connectors"
	"kibo/store"
)

// A message committed just before a crash (or past any in-memory queue) still gets its
// follow-up work: the data request in it is detected once Kibo runs again. The messages
// are stored with no server running, which is what the store holds after a kill -9
// between the commit and the work; ten thousand of them come first, more than any
// in-memory queue held.
func TestFollowupsSurviveACrash(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(dir, store.Options{Durability: store.DurabilityNormal})
	if err != nil {
		t.Fatal(err)
	}
	in, err := st.CreateInbox(ctx, "chat", "Web", "crash-key", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	scope := strconv.FormatInt(in.ID, 10)
	const backlog = 10000
	errs := make(chan error, backlog)
	for i := range backlog {
		go func() {
			_, err := st.Ingest(ctx, store.Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: connectors.Identity{Kind: "visitor", Scope: scope, ExternalID: fmt.Sprintf("v%d", i%500)},
				ClientID: fmt.Sprintf("c%d", i), Text: "where is my parcel?"}, ReuseOpen: true})
			errs <- err
		}()
	}
	for range backlog {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	dsar, err := st.Ingest(ctx, store.Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: connectors.Identity{Kind: "visitor", Scope: scope, ExternalID: "gdpr"},
		ClientID: "last", Text: "Under Article 17 GDPR please erase all personal data you hold about me."}})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	st, err = store.Open(dir, store.Options{Durability: store.DurabilityNormal})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := New(Config{}, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv.Start(ctx)
	defer srv.Shutdown(5 * time.Second)

	deadline := time.Now().Add(60 * time.Second)
	for {
		list, _, err := st.DataRequests(ctx, store.DataRequestFilter{ConversationID: dsar.ConversationID})
		if err != nil {
			t.Fatal(err)
		}
		b, err := st.FollowupBacklog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && b.Pending == 0 {
			if list[0].Type != "erasure" || list[0].Status != "suggested" {
				t.Fatalf("detected %s/%s, want a suggested erasure", list[0].Type, list[0].Status)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart: %d data requests on the conversation, %d follow-ups pending", len(list), b.Pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// the new conversations got their SLA due times from the same work
	c, err := st.Conversation(ctx, dsar.ConversationID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.SLA == nil || c.SLA.FirstResponseDueAt == nil {
		t.Fatalf("no SLA due time on the new conversation: %+v", c.SLA)
	}
}
