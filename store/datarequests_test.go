package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"kibo/connectors"
)

func mustAgent(t testing.TB, s *Store, email, role string) *Agent {
	t.Helper()
	a, err := s.CreateAgent(context.Background(), email, strings.Split(email, "@")[0], role, "x")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// newRequest is a request received at at, due 30 days later (the server computes due
// dates; the store only keeps them).
func newRequest(convID int64, typ string, at time.Time) NewDataRequest {
	return NewDataRequest{ConversationID: convID, Type: typ, ReceivedAt: at, DueAt: at.AddDate(0, 0, 30), DueRule: "30 days"}
}

func TestDataRequestLifecycleWritesHistory(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "email")
	sam := mustAgent(t, s, "sam@example.com", "agent")
	got, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: emailFrom("ann@example.com"), Subject: "my data", Text: "send me my data"}})
	if err != nil {
		t.Fatal(err)
	}
	received := time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)
	dr, created, err := s.OpenDataRequest(ctx, NewDataRequest{ConversationID: got.ConversationID, Type: "access", ReceivedAt: received,
		DueAt: received.AddDate(0, 0, 28), DueRule: "earlier of 30 days and one calendar month", AgentID: sam.ID})
	if err != nil || !created {
		t.Fatalf("open: %v %v", created, err)
	}
	if dr.ContactID == nil || *dr.ContactID != got.ContactID || dr.Status != "open" || !dr.ReceivedAt.Equal(received) || dr.Contact.Email != "ann@example.com" {
		t.Fatalf("opened %+v", dr)
	}
	if len(dr.History) != 1 || dr.History[0].AgentName != "sam" {
		t.Fatalf("history %+v", dr.History)
	}

	set := func(u DataRequestUpdate) (*DataRequest, error) {
		return s.UpdateDataRequest(ctx, dr.ID, sam.ID, func(*DataRequest) (DataRequestUpdate, error) { return u, nil })
	}
	if dr, err = set(DataRequestUpdate{AssigneeID: &sam.ID, Status: ptr("verifying")}); err != nil {
		t.Fatal(err)
	}
	if dr.Status != "verifying" || *dr.AssigneeID != sam.ID || !dr.DueAt.Equal(received.AddDate(0, 0, 28)) {
		t.Fatalf("verifying must not move the deadline: %+v", dr)
	}
	if _, err := set(DataRequestUpdate{Status: ptr("extended")}); err == nil {
		t.Fatal("status extended without a new date was accepted")
	}
	ext := received.AddDate(0, 3, 0)
	if dr, err = set(DataRequestUpdate{ExtendedDueAt: &ext, ExtendReason: "many years of records", ExtensionNote: "extended by 2 months"}); err != nil {
		t.Fatal(err)
	}
	if dr.Status != "extended" || !dr.EffectiveDueAt.Equal(ext) || dr.ExtendReason != "many years of records" {
		t.Fatalf("extended %+v", dr)
	}
	if _, err := set(DataRequestUpdate{ExtendedDueAt: &ext}); !errors.Is(err, ErrConflict) {
		t.Fatalf("second extension: %v, want a conflict", err)
	}
	if _, err := set(DataRequestUpdate{Status: ptr("dismissed")}); !errors.Is(err, ErrConflict) {
		t.Fatalf("dismissing an open request: %v, want a conflict", err)
	}
	if _, err := set(DataRequestUpdate{Type: ptr("gossip")}); err == nil {
		t.Fatal("an unknown type was accepted")
	}
	if dr, err = set(DataRequestUpdate{Status: ptr("completed"), AssigneeID: ptr(int64(0))}); err != nil {
		t.Fatal(err)
	}
	if dr.Status != "completed" || dr.CompletedAt == nil || dr.AssigneeID != nil {
		t.Fatalf("completed %+v", dr)
	}
	var changes []string
	for _, e := range dr.History {
		changes = append(changes, e.Change)
		if e.AgentID == nil || *e.AgentID != sam.ID || e.At.IsZero() {
			t.Errorf("event without who or when: %+v", e)
		}
	}
	want := []string{"opened (access)", "status: open → verifying", "assigned to sam", "extended by 2 months; reason: many years of records",
		"status: extended → completed", "unassigned"}
	if strings.Join(changes, "|") != strings.Join(want, "|") {
		t.Fatalf("history\n got %q\nwant %q", changes, want)
	}
	// nothing changed: no event
	before := len(dr.History)
	if dr, err = set(DataRequestUpdate{Status: ptr("completed")}); err != nil || len(dr.History) != before {
		t.Fatalf("a no-op wrote history: %d events, %v", len(dr.History), err)
	}
}

func TestSuggestionsOncePerConversationAndConfirmKeepsReceipt(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "chat")
	got, _ := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: connectors.Identity{Kind: "visitor", ExternalID: "v1"}, Text: "delete my data"}})
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	n := newRequest(got.ConversationID, "erasure", at)
	n.MessageID, n.Evidence, n.Lang, n.Confidence = got.MessageID, "delete my data", "en", 0.9
	first, created, err := s.SuggestDataRequest(ctx, n)
	if err != nil || !created || first.Status != "suggested" || first.Evidence != "delete my data" || *first.MessageID != got.MessageID {
		t.Fatalf("suggest: %+v %v %v", first, created, err)
	}
	if _, created, err := s.SuggestDataRequest(ctx, newRequest(got.ConversationID, "access", at.Add(time.Hour))); err != nil || created {
		t.Fatalf("second suggestion on the same conversation: created=%v %v", created, err)
	}
	// an agent opening a request on the conversation confirms the suggestion, keeping
	// the time the message came in
	dr, created, err := s.OpenDataRequest(ctx, newRequest(got.ConversationID, "erasure", at.Add(48*time.Hour)))
	if err != nil || created || dr.ID != first.ID || dr.Status != "open" || !dr.ReceivedAt.Equal(at) {
		t.Fatalf("confirm: %+v created=%v %v", dr, created, err)
	}
	if _, created, _ := s.SuggestDataRequest(ctx, newRequest(got.ConversationID, "access", at)); created {
		t.Fatal("suggested while a request on the conversation is open")
	}
	s.UpdateDataRequest(ctx, dr.ID, 0, func(*DataRequest) (DataRequestUpdate, error) { return DataRequestUpdate{Status: ptr("completed")}, nil })
	again, created, err := s.SuggestDataRequest(ctx, newRequest(got.ConversationID, "access", at))
	if err != nil || !created {
		t.Fatalf("a new request after the last was completed: %v %v", created, err)
	}
	dis, err := s.UpdateDataRequest(ctx, again.ID, 0, func(*DataRequest) (DataRequestUpdate, error) { return DataRequestUpdate{Status: ptr("dismissed")}, nil })
	if err != nil || dis.Status != "dismissed" {
		t.Fatalf("dismiss: %+v %v", dis, err)
	}
	if list, _, _ := s.DataRequests(ctx, DataRequestFilter{}); len(list) != 1 {
		t.Fatalf("dismissed suggestions must not be listed by default: %d", len(list))
	}
	// detection of the same message run again (the follow-up work after a crash) does
	// not bring a dismissed suggestion back
	n2 := newRequest(got.ConversationID, "erasure", at)
	n2.MessageID = got.MessageID
	if _, created, err := s.SuggestDataRequest(ctx, n2); err != nil || created {
		t.Fatalf("the same message suggested again after its request was handled: created=%v %v", created, err)
	}
	if _, _, err := s.SuggestDataRequest(ctx, newRequest(424242, "access", at)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown conversation: %v", err)
	}
}

func TestDataRequestListByDueDateFiltersAndPages(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "email")
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	var ids []int64
	for i, typ := range []string{"access", "erasure", "access", "objection", "erasure"} {
		got, _ := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: emailFrom("p" + string(rune('a'+i)) + "@example.com"), Text: "hi", NewThread: true}})
		// received in reverse order: the last is due first
		dr, _, err := s.OpenDataRequest(ctx, newRequest(got.ConversationID, typ, base.AddDate(0, 0, -i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, dr.ID)
	}
	// extending the one due first moves it to the end
	ext := base.AddDate(0, 3, 0)
	s.UpdateDataRequest(ctx, ids[4], 0, func(*DataRequest) (DataRequestUpdate, error) {
		return DataRequestUpdate{ExtendedDueAt: &ext}, nil
	})
	s.UpdateDataRequest(ctx, ids[3], 0, func(*DataRequest) (DataRequestUpdate, error) { return DataRequestUpdate{Status: ptr("refused")}, nil })

	list, next, err := s.DataRequests(ctx, DataRequestFilter{Status: "active"})
	if err != nil || next != "" {
		t.Fatal(err, next)
	}
	var order []int64
	for _, d := range list {
		order = append(order, d.ID)
	}
	if want := []int64{ids[2], ids[1], ids[0], ids[4]}; !equalIDs(order, want) {
		t.Fatalf("active by due date %v, want %v", order, want)
	}
	if l, _, _ := s.DataRequests(ctx, DataRequestFilter{Type: "erasure"}); len(l) != 2 {
		t.Fatalf("%d erasure requests, want 2", len(l))
	}
	if l, _, _ := s.DataRequests(ctx, DataRequestFilter{Status: "refused"}); len(l) != 1 || l[0].ID != ids[3] {
		t.Fatalf("refused: %v", l)
	}
	if _, _, err := s.DataRequests(ctx, DataRequestFilter{Status: "pending"}); err == nil {
		t.Fatal("an unknown status was accepted")
	}
	// pages of two cover everything once, in order
	var paged []int64
	cursor := ""
	for {
		page, nextC, err := s.DataRequests(ctx, DataRequestFilter{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page {
			paged = append(paged, d.ID)
		}
		if nextC == "" {
			break
		}
		cursor = nextC
	}
	all, _, _ := s.DataRequests(ctx, DataRequestFilter{})
	var allIDs []int64
	for _, d := range all {
		allIDs = append(allIDs, d.ID)
	}
	if len(paged) != 5 || !equalIDs(paged, allIDs) {
		t.Fatalf("paged %v, all %v", paged, allIDs)
	}
	c, err := s.CountDataRequests(ctx, base.AddDate(0, 0, 28).Add(12*time.Hour))
	if err != nil || c.Active != 4 || c.Overdue != 1 || c.DueSoon != 2 {
		t.Fatalf("counts %+v %v", c, err)
	}
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSettingsAreStoredAndAudited(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	if v, err := s.Settings(ctx, "company_timezone"); err != nil || len(v) != 0 {
		t.Fatalf("%v %v", v, err)
	}
	if err := s.SetSettings(ctx, map[string]string{"company_timezone": "Europe/Berlin"}, 0); err != nil {
		t.Fatal(err)
	}
	s.SetSettings(ctx, map[string]string{"company_timezone": "Europe/Paris"}, 0)
	if v, _ := s.Settings(ctx, "company_timezone", "other"); v["company_timezone"] != "Europe/Paris" || len(v) != 1 {
		t.Fatalf("%v", v)
	}
	if log, _ := s.AuditLog(ctx, "settings", "", 10); len(log) != 2 {
		t.Fatalf("%d audit entries", len(log))
	}
}
