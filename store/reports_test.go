package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"kibo/connectors"
)

// seedReport writes a small history with known times (UTC) and returns the store.
//
//	#1 e-mail  Mon 09:00, Sam answers 09:10, resolved 10:00 (Sam)
//	#2 e-mail  Mon 11:00, Kim answers 11:30, resolved 13:00 (Kim)
//	#3 chat    Mon 12:00, Sam answers 12:05, still open
//	#4 chat    Tue 08:00, customer again 08:10, Sam answers 08:20, resolved 09:00 (Sam)
//	#5 e-mail  Tue 23:30, unanswered (Wednesday already in Berlin)
//	#6 e-mail  Thu 10:00, outside the range
func seedReport(t *testing.T) (*Store, *Agent, *Agent) {
	t.Helper()
	mon := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	s, clk := newClockStore(t, mon)
	ctx := context.Background()
	sam, _ := s.CreateAgent(ctx, "sam@example.com", "Sam", "agent", "x")
	kim, _ := s.CreateAgent(ctx, "kim@example.com", "Kim", "agent", "x")
	mail, chat := mustInbox(t, s, "email"), mustInbox(t, s, "chat")
	at := func(day, h, m int) {
		clk.mu.Lock()
		clk.t = mon.Add(time.Duration(day)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
		clk.mu.Unlock()
	}
	n := 0
	ingest := func(in Incoming) Ingested {
		n++
		if in.InboxID == mail.ID {
			in.ExternalID = fmt.Sprintf("<%d@x>", n)
		} else {
			in.ClientID = fmt.Sprint("c", n)
		}
		r, err := s.Ingest(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	reply := func(conv int64, a *Agent) {
		if _, err := s.AddAgentMessage(ctx, AgentMessage{ConversationID: conv, AgentID: a.ID, AuthorName: a.Name, Text: "answer", Queue: true}); err != nil {
			t.Fatal(err)
		}
	}
	resolve := func(conv int64, a *Agent) {
		st, id := "resolved", a.ID
		if _, err := s.UpdateConversation(ctx, conv, a.ID, ConversationUpdate{Status: &st, AssigneeID: &id, SetAssignee: true}); err != nil {
			t.Fatal(err)
		}
	}
	visitor := func(v string) connectors.Identity {
		return connectors.Identity{Kind: "visitor", Scope: "1", ExternalID: v}
	}

	at(0, 9, 0)
	c1 := ingest(Incoming{Inbound: connectors.Inbound{InboxID: mail.ID, Identity: emailFrom("a@example.com"), Text: "1"}})
	at(0, 9, 10)
	reply(c1.ConversationID, sam)
	at(0, 10, 0)
	resolve(c1.ConversationID, sam)
	at(0, 11, 0)
	c2 := ingest(Incoming{Inbound: connectors.Inbound{InboxID: mail.ID, Identity: emailFrom("b@example.com"), Text: "2"}})
	at(0, 11, 30)
	reply(c2.ConversationID, kim)
	at(0, 12, 0)
	c3 := ingest(Incoming{Inbound: connectors.Inbound{InboxID: chat.ID, Identity: visitor("v3"), Text: "3"}})
	at(0, 12, 5)
	reply(c3.ConversationID, sam)
	at(0, 13, 0)
	resolve(c2.ConversationID, kim)
	at(1, 8, 0)
	c4 := ingest(Incoming{Inbound: connectors.Inbound{InboxID: chat.ID, Identity: visitor("v4"), Text: "4"}})
	at(1, 8, 10)
	ingest(Incoming{Inbound: connectors.Inbound{InboxID: chat.ID, Identity: visitor("v4"), ConversationID: c4.ConversationID, Text: "4 again"}})
	at(1, 8, 20)
	reply(c4.ConversationID, sam)
	at(1, 9, 0)
	resolve(c4.ConversationID, sam)
	at(1, 23, 30)
	ingest(Incoming{Inbound: connectors.Inbound{InboxID: mail.ID, Identity: emailFrom("e@example.com"), Text: "5"}})
	at(3, 10, 0)
	ingest(Incoming{Inbound: connectors.Inbound{InboxID: mail.ID, Identity: emailFrom("f@example.com"), Text: "6"}})
	return s, sam, kim
}

func TestReportFiguresOnASeededHistory(t *testing.T) {
	s, sam, kim := seedReport(t)
	ctx := context.Background()
	from := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	r, err := s.Report(ctx, from, from.AddDate(0, 0, 2), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(r.Days) != "[2026-03-02 2026-03-03]" || fmt.Sprint(r.Channels) != "[chat email]" {
		t.Fatalf("days %v channels %v", r.Days, r.Channels)
	}
	if fmt.Sprint(r.Conversations["email"], r.Conversations["chat"], r.TotalConversations) != "[2 1] [1 1] 5" {
		t.Fatalf("conversations %v total %d", r.Conversations, r.TotalConversations)
	}
	if fmt.Sprint(r.Messages["email"], r.Messages["chat"], r.TotalMessages) != "[2 1] [1 2] 6" {
		t.Fatalf("messages %v total %d", r.Messages, r.TotalMessages)
	}
	min := func(m int64) int64 { return m * 60 }
	check := func(name string, st TimeStat, count int, median, p90 int64) {
		t.Helper()
		if st.Count != count || st.MedianSeconds != min(median) || st.P90Seconds != min(p90) {
			t.Errorf("%s: %+v, want %d, median %dm, p90 %dm", name, st, count, median, p90)
		}
	}
	// first responses 5, 10, 20, 30 minutes
	check("first response", r.FirstResponse.Overall, 4, 10, 30)
	check("first response chat", r.FirstResponse.ByChannel[0], 2, 5, 20)
	check("first response e-mail", r.FirstResponse.ByChannel[1], 2, 10, 30)
	if len(r.FirstResponse.ByAgent) != 2 || r.FirstResponse.ByAgent[0].AgentID != kim.ID || r.FirstResponse.ByAgent[1].AgentID != sam.ID {
		t.Fatalf("by agent %+v", r.FirstResponse.ByAgent)
	}
	check("first response Kim", r.FirstResponse.ByAgent[0], 1, 30, 30)
	check("first response Sam", r.FirstResponse.ByAgent[1], 3, 10, 20)
	// resolutions 60, 120, 60 minutes
	check("resolution", r.Resolution.Overall, 3, 60, 120)
	check("resolution chat", r.Resolution.ByChannel[0], 1, 60, 60)
	check("resolution e-mail", r.Resolution.ByChannel[1], 2, 60, 120)
	check("resolution Kim", r.Resolution.ByAgent[0], 1, 120, 120)
	check("resolution Sam", r.Resolution.ByAgent[1], 2, 60, 60)

	// the same range in Berlin: #5 (Tue 23:30 UTC) is Wednesday there, and the days
	// start an hour earlier
	berlin, _ := time.LoadLocation("Europe/Berlin")
	bfrom := time.Date(2026, 3, 2, 0, 0, 0, 0, berlin)
	r, err = s.Report(ctx, bfrom, bfrom.AddDate(0, 0, 2), berlin)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(r.Conversations["email"], r.Conversations["chat"]) != "[2 0] [1 1]" {
		t.Fatalf("in Berlin: %v", r.Conversations)
	}
	if _, err := s.Report(ctx, from, from, time.UTC); err == nil {
		t.Fatal("an empty range was accepted")
	}
}

func TestPercentileNearestRank(t *testing.T) {
	ds := func(xs ...int) []time.Duration {
		out := make([]time.Duration, len(xs))
		for i, x := range xs {
			out[i] = time.Duration(x)
		}
		return out
	}
	tests := []struct {
		xs   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 0.5, 0},
		{ds(7), 0.9, 7},
		{ds(1, 2, 3), 0.5, 2},
		{ds(1, 2, 3, 4), 0.5, 2},
		{ds(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.9, 9},
		{ds(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), 0.9, 10},
	}
	for _, tt := range tests {
		if got := Percentile(tt.xs, tt.p); got != tt.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tt.xs, tt.p, got, tt.want)
		}
	}
}
