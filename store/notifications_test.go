package store

import (
	"context"
	"testing"
	"time"

	"kibo/connectors"
)

func TestDataRequestAlertIsRecordedOnceWithItsNoticesAndMails(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "email")
	ann := mustAgent(t, s, "ann@example.com", "admin")
	bob := mustAgent(t, s, "bob@example.com", "admin")
	got, _ := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: emailFrom("c@example.com"), Text: "my data please"}})
	dr, _, err := s.OpenDataRequest(ctx, newRequest(got.ConversationID, "access", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	notes := []NewNotification{{AgentID: ann.ID, Kind: "data_request", Text: "due in 7 days", Link: "/data-requests", DedupeKey: "dr:1:7d:ann"},
		{AgentID: bob.ID, Kind: "data_request", Text: "due in 7 days", Link: "/data-requests", DedupeKey: "dr:1:7d:bob"}}
	mails := []OutboxItem{{Kind: "alert", DedupeKey: "dr-mail:1:7d:ann", Payload: map[string]string{"to": ann.Email}}}
	for i, want := range []bool{true, false} {
		ok, err := s.RecordDataRequestAlert(ctx, dr.ID, "7d", notes, mails)
		if err != nil || ok != want {
			t.Fatalf("round %d: recorded=%v %v", i, ok, err)
		}
	}
	if ok, _ := s.RecordDataRequestAlert(ctx, dr.ID, "3d", notes[:1], nil); !ok {
		t.Fatal("a new mark was not recorded")
	}
	cur, _ := s.DataRequest(ctx, dr.ID)
	if len(cur.AlertsSent) != 2 || cur.AlertsSent[0] != "7d" || cur.AlertsSent[1] != "3d" {
		t.Fatalf("marks %v", cur.AlertsSent)
	}
	var n int
	s.r.QueryRow(`SELECT COUNT(*) FROM outbox WHERE kind = 'alert'`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d alert mails queued, want 1", n)
	}
	list, unread, err := s.Notifications(ctx, ann.ID, 0)
	if err != nil || len(list) != 1 || unread != 1 || list[0].Text != "due in 7 days" {
		// the 3d notice reused the 7d dedupe key on purpose: keys make notices once-only
		t.Fatalf("ann's notices %+v unread %d %v", list, unread, err)
	}
	if err := s.MarkNotificationsRead(ctx, ann.ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, unread, _ := s.Notifications(ctx, ann.ID, 0); unread != 0 {
		t.Fatalf("%d unread after reading all", unread)
	}
	if _, unread, _ := s.Notifications(ctx, bob.ID, 0); unread != 1 {
		t.Fatalf("bob's notice was marked read by ann: %d unread", unread)
	}
}
