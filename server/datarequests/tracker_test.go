package datarequests

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"kibo/connectors"
	"kibo/server/events"
	"kibo/server/gdpr"
	"kibo/server/hub"
	"kibo/store"
)

// testClock is the injected clock: tests move it, nothing sleeps.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// Deadline alerts go out at 7, 3 and 1 day before the due date and once overdue, each
// once, to the assignee or, while nobody has the request, to every active admin.
func TestDataRequestAlertsOncePerMarkToTheRightPeople(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(t.TempDir(), store.Options{Durability: store.DurabilityNormal})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clock := &testClock{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tracker := New(Deps{Store: st, Events: events.NewPublisher(hub.New(64), st, log, func() {}), WakeOutbox: func() {}, Now: clock.Now, Log: log})
	ada, _ := st.CreateAgent(ctx, "ada@example.com", "Ada", "admin", "x")
	ben, _ := st.CreateAgent(ctx, "ben@example.com", "Ben", "admin", "x")
	dee, _ := st.CreateAgent(ctx, "dee@example.com", "Dee", "admin", "x")
	sam, _ := st.CreateAgent(ctx, "sam@example.com", "Sam", "agent", "x")
	if _, err := st.UpdateAgent(ctx, dee.ID, store.AgentUpdate{Disabled: ptrTo(true)}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetSettings(ctx, map[string]string{SettingTimezone: "Europe/Berlin"}, ada.ID); err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	inbox, _ := st.CreateInbox(ctx, "email", "Support", "", map[string]any{"address": "support@example.com"})
	open := func(who string, received time.Time) *store.DataRequest {
		got, err := st.Ingest(ctx, store.Incoming{Inbound: connectors.Inbound{InboxID: inbox.ID, Identity: connectors.Identity{Kind: "email", ExternalID: who, Name: "Private Person"},
			Subject: "my data", Text: "please send me my data", NewThread: true}})
		if err != nil {
			t.Fatal(err)
		}
		dr, _, err := st.OpenDataRequest(ctx, store.NewDataRequest{ConversationID: got.ConversationID, Type: "access", ReceivedAt: received,
			DueAt: gdpr.DueDate(received, gdpr.RuleEarlier, berlin), DueRule: string(gdpr.RuleEarlier)})
		if err != nil {
			t.Fatal(err)
		}
		return dr
	}
	received := time.Date(2026, 1, 31, 10, 0, 0, 0, berlin)
	dr := open("one@example.com", received)
	due := dr.DueAt // end of 28 February, Berlin
	if want := time.Date(2026, 3, 1, 0, 0, 0, 0, berlin).Add(-time.Nanosecond); !due.Equal(want) {
		t.Fatalf("due %v, want %v", due, want)
	}

	tick := func(at time.Time) int {
		t.Helper()
		clock.Set(at)
		n, err := tracker.SendAlerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	notices := func() map[string][]string { // agent → texts
		out := map[string][]string{}
		for _, a := range []*store.Agent{ada, ben, dee, sam} {
			list, _, _ := st.Notifications(ctx, a.ID, 100)
			for _, n := range list {
				out[a.Name] = append(out[a.Name], n.Text)
			}
		}
		return out
	}
	mails := func() []string {
		rows := outboxAlerts(t, st)
		sort.Strings(rows)
		return rows
	}

	if n := tick(received.Add(time.Hour)); n != 0 {
		t.Fatalf("%d alerts four weeks before the deadline", n)
	}
	if n := tick(due.Add(-7*24*time.Hour - time.Second)); n != 0 {
		t.Fatalf("%d alerts a second before the 7-day mark", n)
	}
	if n := tick(due.Add(-7 * 24 * time.Hour)); n != 1 {
		t.Fatalf("7-day mark: %d alerts, want 1", n)
	}
	for i := 0; i < 3; i++ {
		if n := tick(due.Add(-6 * 24 * time.Hour)); n != 0 {
			t.Fatalf("the 7-day alert went out again (%d)", n)
		}
	}
	got := notices()
	if len(got["Ada"]) != 1 || len(got["Ben"]) != 1 || len(got["Dee"]) != 0 || len(got["Sam"]) != 0 {
		t.Fatalf("unassigned: the active admins, once each; got %v", got)
	}
	if !strings.Contains(got["Ada"][0], "is due in 7 days") || strings.Contains(got["Ada"][0], "Private Person") {
		t.Fatalf("notice text %q", got["Ada"][0])
	}
	if m := mails(); len(m) != 2 || !strings.HasPrefix(m[0], "dr-mail:") {
		t.Fatalf("e-mails %v", m)
	}

	// once assigned, only the assignee hears
	st.UpdateDataRequest(ctx, dr.ID, ada.ID, func(*store.DataRequest) (store.DataRequestUpdate, error) {
		return store.DataRequestUpdate{AssigneeID: &sam.ID}, nil
	})
	if n := tick(due.Add(-3*24*time.Hour + time.Hour)); n != 1 {
		t.Fatalf("3-day mark: %d", n)
	}
	// asleep through the 1-day mark: one alert saying how bad it is now, not two
	if n := tick(due.Add(time.Second)); n != 1 {
		t.Fatalf("overdue: %d", n)
	}
	if n := tick(due.Add(48 * time.Hour)); n != 0 {
		t.Fatalf("overdue again: %d", n)
	}
	got = notices()
	if len(got["Ada"]) != 1 || len(got["Sam"]) != 2 || !strings.Contains(got["Sam"][0], "overdue") || !strings.Contains(got["Sam"][1], "is due in 2 days") {
		t.Fatalf("after assignment %v", got)
	}
	cur, _ := st.DataRequest(ctx, dr.ID)
	if strings.Join(cur.AlertsSent, ",") != "7d,3d,overdue" {
		t.Fatalf("marks %v", cur.AlertsSent)
	}
	// a completed request is quiet
	st.UpdateDataRequest(ctx, dr.ID, sam.ID, func(*store.DataRequest) (store.DataRequestUpdate, error) {
		return store.DataRequestUpdate{Status: ptrTo("completed")}, nil
	})

	// An extension starts a new round against the new date.
	two := open("two@example.com", received)
	if n := tick(due.Add(-7 * 24 * time.Hour)); n != 1 {
		t.Fatalf("second request, 7-day mark: %d", n)
	}
	newDue, err := gdpr.Extend(two.ReceivedAt, two.DueAt, clock.Now(), false, 2, berlin)
	if err != nil {
		t.Fatal(err)
	}
	st.UpdateDataRequest(ctx, two.ID, ada.ID, func(*store.DataRequest) (store.DataRequestUpdate, error) {
		return store.DataRequestUpdate{ExtendedDueAt: &newDue, ExtendReason: "complex"}, nil
	})
	if n := tick(due.Add(time.Hour)); n != 0 {
		t.Fatalf("the first date of an extended request raised %d alerts", n)
	}
	if n := tick(newDue.Add(-7 * 24 * time.Hour)); n != 1 {
		t.Fatalf("extended request, 7-day mark: %d", n)
	}
	cur, _ = st.DataRequest(ctx, two.ID)
	if strings.Join(cur.AlertsSent, ",") != "7d,ext-7d" {
		t.Fatalf("marks %v", cur.AlertsSent)
	}
	if n := tick(newDue.Add(time.Minute)); n != 1 {
		t.Fatalf("extended request overdue: %d", n)
	}
}

func outboxAlerts(t *testing.T, st *store.Store) []string {
	t.Helper()
	// claim the queued e-mails as the outbox worker would (this server is not started,
	// so nothing else takes them) and mark them sent, so each call sees only new ones
	items, err := st.DueOutbox(context.Background(), 100, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		if it.Kind == "alert" {
			out = append(out, it.DedupeKey)
		}
		st.OutboxSent(context.Background(), it.ID, "")
	}
	return out
}

func ptrTo[T any](v T) *T { return &v }
