package store

import (
	"context"
	"sync"
	"testing"
	"time"

	"kibo/connectors"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClockStore(t testing.TB, start time.Time) (*Store, *testClock) {
	t.Helper()
	clk := &testClock{t: start}
	s, err := Open(t.TempDir(), Options{Durability: DurabilityNormal, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clk
}

func TestAddBusinessTime(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	office := &BusinessHours{TimeZone: "Europe/Berlin", Weekdays: []int{1, 2, 3, 4, 5}, Start: "09:00", End: "17:00", Holidays: []string{"2026-12-25"}}
	// a window across the small hours, every day: the days the clocks change
	night := &BusinessHours{TimeZone: "Europe/Berlin", Weekdays: []int{0, 1, 2, 3, 4, 5, 6}, Start: "01:00", End: "05:00"}
	always := &BusinessHours{TimeZone: "Europe/Berlin", Weekdays: []int{0, 1, 2, 3, 4, 5, 6}, Start: "00:00", End: "24:00"}
	at := func(y int, m time.Month, d, hh, mm int) time.Time { return time.Date(y, m, d, hh, mm, 0, 0, berlin) }
	tests := []struct {
		name  string
		start time.Time
		d     time.Duration
		h     *BusinessHours
		want  time.Time
	}{
		{"no business hours: plain addition", at(2026, 3, 7, 12, 0), 90 * time.Minute, nil, at(2026, 3, 7, 13, 30)},
		{"zero is the start", at(2026, 3, 7, 12, 0), 0, office, at(2026, 3, 7, 12, 0)},
		{"within the day", at(2026, 3, 2, 10, 0), 2 * time.Hour, office, at(2026, 3, 2, 12, 0)},
		{"ends exactly at closing", at(2026, 3, 2, 9, 0), 8 * time.Hour, office, at(2026, 3, 2, 17, 0)},
		{"over the night", at(2026, 3, 2, 16, 0), 2 * time.Hour, office, at(2026, 3, 3, 10, 0)},
		{"before opening", at(2026, 3, 2, 7, 0), 30 * time.Minute, office, at(2026, 3, 2, 9, 30)},
		{"after closing", at(2026, 3, 2, 18, 0), time.Hour, office, at(2026, 3, 3, 10, 0)},
		{"over the weekend", at(2026, 3, 6, 16, 0), 2 * time.Hour, office, at(2026, 3, 9, 10, 0)},
		{"from a Saturday", at(2026, 3, 7, 12, 0), time.Hour, office, at(2026, 3, 9, 10, 0)},
		{"a working week", at(2026, 3, 2, 9, 0), 40 * time.Hour, office, at(2026, 3, 6, 17, 0)},
		{"a holiday and a weekend", at(2026, 12, 24, 16, 0), 2 * time.Hour, office, at(2026, 12, 28, 10, 0)},
		{"start given in UTC", time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC), time.Hour, office, at(2026, 3, 2, 10, 0)},
		{"spring forward: the window is an hour shorter", at(2026, 3, 29, 1, 0), 4 * time.Hour, night, at(2026, 3, 30, 2, 0)},
		{"fall back: the window is an hour longer", at(2026, 10, 25, 1, 0), 5 * time.Hour, night, at(2026, 10, 25, 5, 0)},
		{"round the clock over the change", at(2026, 3, 28, 12, 0), 24 * time.Hour, always, at(2026, 3, 29, 13, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AddBusinessTime(tt.start, tt.d, tt.h)
			if !got.Equal(tt.want) {
				t.Fatalf("AddBusinessTime(%s, %s) = %s, want %s", tt.start, tt.d, got.In(berlin), tt.want)
			}
		})
	}
}

func TestSLAPolicyValidation(t *testing.T) {
	bad := []*SLAPolicy{
		{Targets: map[string]SLATarget{"critical": {FirstResponseMinutes: 5}}},
		{Targets: map[string]SLATarget{"high": {FirstResponseMinutes: -1}}},
		{BusinessHours: &BusinessHours{TimeZone: "Mars/Olympus", Weekdays: []int{1}, Start: "09:00", End: "17:00"}},
		{BusinessHours: &BusinessHours{Weekdays: []int{1}, Start: "17:00", End: "09:00"}},
		{BusinessHours: &BusinessHours{Weekdays: []int{}, Start: "09:00", End: "17:00"}},
		{BusinessHours: &BusinessHours{Weekdays: []int{7}, Start: "09:00", End: "17:00"}},
		{BusinessHours: &BusinessHours{Weekdays: []int{1}, Start: "9am", End: "17:00"}},
		{BusinessHours: &BusinessHours{Weekdays: []int{1}, Start: "09:00", End: "17:00", Holidays: []string{"25/12/2026"}}},
		{WarnPercent: 120},
	}
	for i, p := range bad {
		if err := p.Validate(); err == nil {
			t.Errorf("policy %d was accepted", i)
		}
	}
	if err := DefaultSLAPolicy().Validate(); err != nil {
		t.Fatal(err)
	}
}

// Due times are stored on the conversation, follow a priority change, and a breach
// is found (and recorded once) by SLAAlertsDue.
func TestSLADueTimesAndBreaches(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) // a Monday
	s, clk := newClockStore(t, start)
	ctx := context.Background()
	mail := mustInbox(t, s, "email")
	p := &SLAPolicy{Targets: map[string]SLATarget{"normal": {FirstResponseMinutes: 60, ResolutionMinutes: 240}, "urgent": {FirstResponseMinutes: 15, ResolutionMinutes: 60}}}
	if err := s.SetSLAPolicy(ctx, p, 0); err != nil {
		t.Fatal(err)
	}
	a, _ := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: mail.ID, Identity: emailFrom("ann@example.com"), ExternalID: "<a@x>", Text: "help"}})
	b, _ := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: mail.ID, Identity: emailFrom("bob@example.com"), ExternalID: "<b@x>", Text: "help too"}})
	if n, err := s.RefreshSLA(ctx, nil, 100); err != nil || n != 2 {
		t.Fatalf("refresh: %d %v", n, err)
	}
	conv, _ := s.Conversation(ctx, a.ConversationID, 0)
	if conv.SLA == nil || conv.SLA.FirstResponseDueAt == nil || !conv.SLA.FirstResponseDueAt.Equal(start.Add(time.Hour)) ||
		!conv.SLA.NextDueAt.Equal(start.Add(time.Hour)) || !conv.SLA.ResolutionDueAt.Equal(start.Add(4*time.Hour)) {
		t.Fatalf("sla %+v", conv.SLA)
	}
	urgent := "urgent"
	if _, err := s.UpdateConversation(ctx, b.ConversationID, 0, ConversationUpdate{Priority: &urgent}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.RefreshSLA(ctx, nil, 100); n != 1 {
		t.Fatalf("a priority change recomputed %d conversations", n)
	}
	conv, _ = s.Conversation(ctx, b.ConversationID, 0)
	if !conv.SLA.FirstResponseDueAt.Equal(start.Add(15 * time.Minute)) {
		t.Fatalf("urgent due %v", conv.SLA.FirstResponseDueAt)
	}
	// sort=due puts the urgent one first; nothing is breached yet
	list, _, err := s.Conversations(ctx, ConversationFilter{Sort: "due"})
	if err != nil || len(list) != 2 || list[0].ID != b.ConversationID {
		t.Fatalf("by due: %v %v", list, err)
	}
	if list, _, _ := s.Conversations(ctx, ConversationFilter{SLA: "breached"}); len(list) != 0 {
		t.Fatalf("breached before any due time: %d", len(list))
	}

	clk.Add(13 * time.Minute) // past 80% of 15 minutes
	due, err := s.SLAAlertsDue(ctx, clk.Now(), start, 100)
	if err != nil || len(due) != 1 || due[0].Mark != SLAFirstResponseWarn || due[0].ConversationID != b.ConversationID {
		t.Fatalf("warnings: %+v %v", due, err)
	}
	if list, _, _ := s.Conversations(ctx, ConversationFilter{SLA: "due_soon"}); len(list) != 1 || list[0].ID != b.ConversationID {
		t.Fatalf("due soon: %v", list)
	}
	marks := func(due []SLAAlertDue) map[SLAAlertMark]int {
		got := map[SLAAlertMark]int{}
		for _, d := range due {
			got[d.Mark]++
		}
		return got
	}
	clk.Add(40 * time.Minute) // 53 minutes: b breached its first response; both are warned
	due, _ = s.SLAAlertsDue(ctx, clk.Now(), start, 100)
	if got := marks(due); len(due) != 3 || got[SLAFirstResponseBreach] != 1 || got[SLAResolutionWarn] != 1 || got[SLAFirstResponseWarn] != 1 {
		t.Fatalf("after 53 minutes: %+v", due)
	}
	clk.Add(10 * time.Minute) // 63 minutes: a's first response and b's resolution
	due, _ = s.SLAAlertsDue(ctx, clk.Now(), start, 100)
	if got := marks(due); len(due) != 2 || got[SLAFirstResponseBreach] != 1 || got[SLAResolutionBreach] != 1 {
		t.Fatalf("after 63 minutes: %+v", due)
	}
	if again, _ := s.SLAAlertsDue(ctx, clk.Now(), start, 100); len(again) != 0 {
		t.Fatalf("raised twice: %+v", again)
	}
	conv, _ = s.Conversation(ctx, b.ConversationID, 0)
	if conv.SLA.BreachedAt == nil || !conv.SLA.BreachedAt.Equal(start.Add(15*time.Minute)) {
		t.Fatalf("breached at %v", conv.SLA.BreachedAt)
	}
	if list, _, _ := s.Conversations(ctx, ConversationFilter{SLA: "breached"}); len(list) != 2 {
		t.Fatalf("breached list: %d", len(list))
	}
	if ids, _ := s.ConversationIDsByDue(ctx, "breached", 10); len(ids) != 2 {
		t.Fatalf("ids by due: %v", ids)
	}
}

// A target met late is marked breached without an alert.
func TestSLAMetLateIsMarkedQuietly(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	s, clk := newClockStore(t, start)
	ctx := context.Background()
	mail := mustInbox(t, s, "email")
	s.SetSLAPolicy(ctx, &SLAPolicy{Targets: map[string]SLATarget{"normal": {FirstResponseMinutes: 30}}}, 0)
	a, _ := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: mail.ID, Identity: emailFrom("ann@example.com"), ExternalID: "<a@x>", Text: "help"}})
	s.RefreshSLA(ctx, nil, 100)
	clk.Add(45 * time.Minute)
	if _, err := s.AddAgentMessage(ctx, AgentMessage{ConversationID: a.ConversationID, AuthorName: "Sam", Text: "Sorry for the wait", Queue: true}); err != nil {
		t.Fatal(err)
	}
	due, err := s.SLAAlertsDue(ctx, clk.Now(), start, 100)
	if err != nil || len(due) != 0 {
		t.Fatalf("alerts for a target already met: %+v %v", due, err)
	}
	conv, _ := s.Conversation(ctx, a.ConversationID, 0)
	if conv.SLA.BreachedAt == nil || !conv.SLA.BreachedAt.Equal(start.Add(30*time.Minute)) || conv.SLA.NextDueAt != nil {
		t.Fatalf("sla %+v", conv.SLA)
	}
}
