package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"kibo/connectors"
)

func TestIncidentLifecycleAndPhases(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	s, clk := newClockStore(t, start)
	ctx := context.Background()
	if _, _, err := s.CreateIncident(ctx, IncidentInput{Title: " "}, 1); err == nil {
		t.Fatal("an incident without a title was declared")
	}
	if _, _, err := s.CreateIncident(ctx, IncidentInput{Title: "x", Audience: "recent:0"}, 1); err == nil {
		t.Fatal("audience recent:0 accepted")
	}
	if _, _, err := s.CreateIncident(ctx, IncidentInput{Title: "x", State: "scheduled"}, 1); err == nil {
		t.Fatal("maintenance without a window accepted")
	}
	eta := start.Add(2 * time.Hour)
	inc, upd, err := s.CreateIncident(ctx, IncidentInput{Title: "E-mail is delayed", Message: "We are looking into it.", ETA: &eta, Audience: "recent:7", Services: []string{"email", " "}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if inc.State != "investigating" || inc.Phase != "active" || inc.Message != "We are looking into it." || upd.Text != inc.Message ||
		len(inc.Services) != 1 || inc.ETA == nil || !inc.ETA.Equal(eta) {
		t.Fatalf("declared %+v", inc)
	}
	ws, we := start.Add(24*time.Hour), start.Add(26*time.Hour)
	mnt, _, err := s.CreateIncident(ctx, IncidentInput{Title: "Database upgrade", State: "scheduled", ScheduledStart: &ws, ScheduledEnd: &we}, 1)
	if err != nil || mnt.Phase != "upcoming" || !mnt.ETA.Equal(we) {
		t.Fatalf("maintenance %+v %v", mnt, err)
	}
	clk.Add(30 * time.Minute)
	inc, upd, err = s.AddIncidentUpdate(ctx, inc.ID, IncidentUpdateInput{Text: "Found it", State: "identified"}, 1)
	if err != nil || inc.State != "identified" || !inc.ETA.Equal(eta) || upd.State != "identified" || len(inc.Updates) != 2 || inc.Message != "Found it" {
		t.Fatalf("update %+v %v", inc, err)
	}
	list, _ := s.Incidents(ctx, IncidentFilter{})
	if len(list) != 2 || list[0].ID != inc.ID || list[1].ID != mnt.ID {
		t.Fatalf("order: %v", list)
	}
	clk.Add(30 * time.Minute)
	inc, _, err = s.AddIncidentUpdate(ctx, inc.ID, IncidentUpdateInput{Text: "Fixed", State: "resolved"}, 1)
	if err != nil || inc.Phase != "past" || inc.ResolvedAt == nil || !inc.ResolvedAt.Equal(start.Add(time.Hour)) || inc.ETA != nil {
		t.Fatalf("resolved %+v %v", inc, err)
	}
	open, _ := s.Incidents(ctx, IncidentFilter{Open: true})
	if len(open) != 1 || open[0].ID != mnt.ID {
		t.Fatalf("open: %v", open)
	}
	clk.Add(24 * time.Hour) // inside the window
	if m, _ := s.Incident(ctx, mnt.ID); m.Phase != "active" {
		t.Fatalf("maintenance in its window: %s", m.Phase)
	}
	clk.Add(2 * time.Hour)
	if m, _ := s.Incident(ctx, mnt.ID); m.Phase != "past" || m.EndedAt() == nil || !m.EndedAt().Equal(we) {
		t.Fatalf("maintenance after its window: %s", m.Phase)
	}
	if _, _, err := s.AddIncidentUpdate(ctx, 999, IncidentUpdateInput{Text: "x"}, 1); err == nil {
		t.Fatal("update of a missing incident")
	}
}

// The audience picks each contact's latest conversation outside the chat, and the
// messages of a fan-out are stored once whatever happens.
func TestAudienceAndIdempotentFanout(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	s, clk := newClockStore(t, start)
	ctx := context.Background()
	mail, chat := mustInbox(t, s, "email"), mustInbox(t, s, "chat")
	old, _ := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: mail.ID, Identity: emailFrom("old@example.com"), ExternalID: "<old@x>", Text: "long ago"}})
	resolved := "resolved"
	s.UpdateConversation(ctx, old.ConversationID, 0, ConversationUpdate{Status: &resolved})
	clk.Add(20 * 24 * time.Hour)
	ann1, _ := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: mail.ID, Identity: emailFrom("ann@example.com"), ExternalID: "<a1@x>", Text: "first"}})
	s.UpdateConversation(ctx, ann1.ConversationID, 0, ConversationUpdate{Status: &resolved})
	ann2, _ := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: mail.ID, Identity: emailFrom("ann@example.com"), ExternalID: "<a2@x>", Text: "second", NewThread: true}})
	visitor, _ := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: chat.ID, Identity: connectors.Identity{Kind: "visitor", Scope: "1", ExternalID: "v"}, ClientID: "c1", Text: "hi"}})
	now := clk.Now()

	ids := func(ms []AudienceMember) string { return fmt.Sprint(len(ms)) }
	openAud, _ := s.Audience(ctx, "open", now, broadcastKinds, 0, 100)
	if len(openAud) != 1 || openAud[0].ContactID != ann2.ContactID || openAud[0].ConversationID != ann2.ConversationID || openAud[0].Channel != "email" {
		t.Fatalf("open audience: %+v", openAud)
	}
	if all, _ := s.Audience(ctx, "all", now, broadcastKinds, 0, 100); len(all) != 2 {
		t.Fatalf("all (chat-only visitors are told in the widget): %s", ids(all))
	}
	if recent, _ := s.Audience(ctx, "recent:7", now, broadcastKinds, 0, 100); len(recent) != 1 {
		t.Fatalf("recent: %s", ids(recent))
	}
	if page, _ := s.Audience(ctx, "all", now, broadcastKinds, ann2.ContactID, 100); len(page) != 0 && page[0].ContactID <= ann2.ContactID {
		t.Fatalf("paging: %+v", page)
	}
	_ = visitor

	inc, upd, _ := s.CreateIncident(ctx, IncidentInput{Title: "Down"}, 1)
	msg := IncidentMessage{Kind: "broadcast", IncidentID: inc.ID, UpdateID: upd.ID, ContactID: ann2.ContactID, ConversationID: ann2.ConversationID,
		Channel: "email", DedupeKey: fmt.Sprintf("incident:%d:%d:%d", inc.ID, upd.ID, ann2.ContactID), AuthorName: "Acme", Text: "We are down", Queue: true}
	skip := IncidentMessage{Kind: "broadcast", IncidentID: inc.ID, UpdateID: upd.ID, ContactID: old.ContactID, ConversationID: old.ConversationID,
		Channel: "messenger", DedupeKey: fmt.Sprintf("incident:%d:%d:%d", inc.ID, upd.ID, old.ContactID), Skip: "window closed"}
	for i := 0; i < 3; i++ { // a fan-out run again after a crash
		out, err := s.AddIncidentMessages(ctx, []IncidentMessage{msg, skip})
		if err != nil {
			t.Fatal(err)
		}
		if (out[0] != nil) != (i == 0) || out[1] != nil {
			t.Fatalf("run %d stored %v", i, out)
		}
	}
	msgs, _ := s.Messages(ctx, ann2.ConversationID, MessageFilter{})
	if len(msgs) != 2 || msgs[1].Author.Kind != "system" || msgs[1].Author.Name != "Acme" || msgs[1].Delivery != "queued" || !msgs[1].Auto {
		t.Fatalf("messages %+v", msgs)
	}
	conv, _ := s.Conversation(ctx, ann2.ConversationID, 0)
	if conv.FirstResponseAt != nil || conv.LastMessageID != ann2.MessageID {
		t.Fatal("a broadcast counted as a first response or moved the conversation up")
	}
	st, err := s.IncidentDeliveryStats(ctx, inc.ID)
	if err != nil || st.ByChannel["email"].Queued != 1 || st.ByChannel["messenger"].Skipped != 1 || len(st.Failures) != 1 || st.Failures[0].Error != "window closed" {
		t.Fatalf("stats %+v %v", st, err)
	}
	// the outbox's outcome is the delivery's
	items, _ := s.DueOutbox(ctx, 10, time.Minute)
	if len(items) != 1 || items[0].Kind != "broadcast" || items[0].DedupeKey != msg.DedupeKey || items[0].ContactID != ann2.ContactID {
		t.Fatalf("outbox %+v", items)
	}
	s.OutboxFailed(ctx, items[0].ID, "550 mailbox unavailable")
	st, _ = s.IncidentDeliveryStats(ctx, inc.ID)
	if st.ByChannel["email"].Failed != 1 || len(st.Failures) != 2 || len(st.ByUpdate) != 1 || st.ByUpdate[0].ByChannel["email"].Failed != 1 {
		t.Fatalf("after a failure %+v", st)
	}
	if jobs, _ := s.PendingFanouts(ctx); len(jobs) != 1 || jobs[0].UpdateID != upd.ID {
		t.Fatalf("pending %+v", jobs)
	}
	s.FinishFanout(ctx, upd.ID)
	if jobs, _ := s.PendingFanouts(ctx); len(jobs) != 0 {
		t.Fatalf("pending after finishing %+v", jobs)
	}
}

// broadcastKinds are the channels that carry an incident's updates in these tests (the
// registry's Broadcasting in Kibo).
var broadcastKinds = []string{"email", "messenger", "x"}
