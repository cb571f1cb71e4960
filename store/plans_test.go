package store

import (
	"context"
	"fmt"
	"kibo/connectors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestQueryPlansHoldAtAnySize runs what the ingest path and the agents' pages do
// against a generated inbox, records every statement the store runs, and asks SQLite
// how it would run each one (EXPLAIN QUERY PLAN, with the statistics the store keeps).
// It fails on a plan that reads a whole table of conversations or messages, and on a
// lookup that walks an index over many more rows than it can return (a contact's
// conversation found by walking the inbox's activity index cost the writer half a
// second per new visitor at 1M conversations). The lists are keyset pages: they may
// walk an index in list order, because they stop after a page.
func TestQueryPlansHoldAtAnySize(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Generate(ctx, dir, GenConfig{Conversations: 8000, MessagesPer: 6, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, Options{Durability: DurabilityNormal})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	type statement struct {
		op   string
		list bool
		q    string
		args []any
	}
	var mu sync.Mutex
	var seen []statement
	op, list := "", false
	trace := func(q string, args []any) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, statement{op, list, q, append([]any(nil), args...)})
	}
	s.trace.Store(&trace)
	run := func(name string, isList bool, fn func() error) {
		t.Helper()
		mu.Lock()
		op, list = name, isList
		mu.Unlock()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	var agentID int64 = 1
	// the ingest path
	var chat Ingested
	run("ingest: a new visitor", false, func() (err error) {
		chat, err = s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: 1, Identity: connectors.Identity{Kind: "visitor", Scope: "1", ExternalID: "plan-visitor"}, ClientID: "p1", Text: "hello"}})
		return err
	})
	run("ingest: a chat message", false, func() error {
		_, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: 1, ConversationID: chat.ConversationID, Identity: connectors.Identity{Kind: "visitor", Scope: "1", ExternalID: "plan-visitor"}, ClientID: "p2", Text: "again"}})
		return err
	})
	run("ingest: a returning visitor's conversation", false, func() error {
		_, _, err := s.VisitorConversation(ctx, 1, "visitor", "1", "gen-visitor-10")
		return err
	})
	run("ingest: a Messenger message to an open conversation", false, func() error {
		_, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: 5, Identity: connectors.Identity{Kind: "messenger", Scope: "gen-page", ExternalID: "psid-20"}, ExternalID: "m_plan", Text: "hi"}, ReuseOpen: true})
		return err
	})
	run("ingest: an e-mail reply by reference and token", false, func() error {
		_, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: 3, Identity: emailFrom("plan@example.com"), ExternalID: "<plan@x>", ThreadRefs: []string{"<nothing@x>"}, SubjectToken: 1005, Text: "re"}})
		return err
	})
	run("ingest: a re-delivery", false, func() error {
		_, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: 5, Identity: connectors.Identity{Kind: "messenger", Scope: "gen-page", ExternalID: "psid-20"}, ExternalID: "m_plan", Text: "hi"}, ReuseOpen: true})
		return err
	})
	run("follow-ups", false, func() error {
		due, err := s.DueFollowups(ctx, time.Now(), 100)
		ids := []int64{}
		for _, f := range due {
			ids = append(ids, f.MessageID)
		}
		if err == nil {
			_, err = s.MessagesByID(ctx, ids)
		}
		if err == nil {
			_, err = s.ConversationsByID(ctx, []int64{chat.ConversationID})
		}
		if err == nil {
			err = s.FinishFollowups(ctx, ids)
		}
		return err
	})
	// what an inbox page asks for
	run("counts", false, func() error { _, err := s.ConversationCounts(ctx, agentID); return err })
	for _, f := range []ConversationFilter{
		{Status: "open"}, {Status: "pending"}, {Status: "snoozed"}, {Status: "resolved"}, {},
		{Status: "open", Assignee: "me"}, {Status: "open", Assignee: "none"}, {Status: "open", InboxID: 2}, {InboxID: 2},
		{Tag: "billing"}, {Tag: "billing", Status: "snoozed"}, {Status: "open", Sort: "due"},
	} {
		f.AgentID, f.Limit = agentID, 50
		run(fmt.Sprintf("list %+v", f), true, func() error {
			page, next, err := s.Conversations(ctx, f)
			if err == nil && next != "" && len(page) > 0 {
				f.Cursor = next
				_, _, err = s.Conversations(ctx, f)
			}
			return err
		})
	}
	run("open a conversation", false, func() error {
		if _, err := s.Conversation(ctx, chat.ConversationID, agentID); err != nil {
			return err
		}
		_, err := s.Messages(ctx, chat.ConversationID, MessageFilter{Limit: 200})
		return err
	})
	run("mark read", false, func() error { return s.MarkRead(ctx, chat.ConversationID, agentID, chat.MessageID) })
	run("the contact", false, func() error { _, err := s.Contact(ctx, chat.ContactID); return err })
	// the periodic jobs: they run on the single writer or beside the pages, every few
	// seconds, whatever the size of the inbox
	now := time.Now()
	run("periodic: SLA sweep", false, func() error { _, err := s.RefreshSLA(ctx, nil, 500); return err })
	run("periodic: SLA due times of new conversations", false, func() error {
		_, err := s.RefreshSLA(ctx, []SLAWork{{ConversationID: chat.ConversationID}}, 1)
		return err
	})
	run("periodic: SLA alerts", false, func() error { _, err := s.SLAAlertsDue(ctx, now, now.Add(-time.Minute), 500); return err })
	run("periodic: snoozed conversations waking", false, func() error { _, err := s.WakeSnoozed(ctx); return err })
	run("periodic: outbox", false, func() error { _, err := s.DueOutbox(ctx, 20, 2*time.Minute); return err })
	run("periodic: volume spike", false, func() error {
		if _, err := s.InboundCount(ctx, now.Add(-10*time.Minute), now); err != nil {
			return err
		}
		_, err := s.InboundCountWindows(ctx, [][2]time.Time{{now.Add(-7 * 24 * time.Hour), now.Add(-7*24*time.Hour + 10*time.Minute)}})
		return err
	})
	run("periodic: data requests due", false, func() error { _, err := s.AlertingDataRequests(ctx); return err })
	s.trace.Store(nil)

	// Each plan is checked twice: with the statistics the store keeps, and with none,
	// as SQLite plans before the first PRAGMA optimize has seen the data grow (a store
	// that started empty has statistics of an empty inbox until its next refresh).
	stat := planStatistics(t, s)
	// a partial index holds only the rows its queries want (a to-do list): walking it is
	// reading what there is to do
	partial := map[string]bool{}
	if names, err := s.r.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '% WHERE %'`); err == nil {
		for names.Next() {
			var n string
			names.Scan(&n)
			partial[n] = true
		}
		names.Close()
	}
	var bad []string
	checked := map[string]bool{}
	check := func(when string) {
		clear(checked)
		for _, st := range seen {
			if checked[st.q] || !strings.Contains(st.q, "conversations") && !strings.Contains(st.q, "messages") {
				continue
			}
			checked[st.q] = true
			plan, err := explain(ctx, s, st.q, st.args)
			if err != nil {
				t.Fatalf("%s: explain %s: %v", st.op, st.q, err)
			}
			if why := badPlan(plan, st.list, stat, partial); why != "" {
				bad = append(bad, fmt.Sprintf("%s (%s): %s\n  %s\n  plan:\n    %s", st.op, when, why, oneLine(st.q), strings.Join(plan, "\n    ")))
			}
		}
	}
	check("with statistics")
	if _, err := s.w.Exec(`DELETE FROM sqlite_stat1`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(`ANALYZE sqlite_schema`); err != nil { // makes SQLite read the (now empty) statistics again
		t.Fatal(err)
	}
	check("without statistics")
	if len(checked) < 20 {
		t.Fatalf("only %d statements on conversations or messages were seen: the trace missed most of them", len(checked))
	}
	if len(bad) > 0 {
		t.Fatalf("%d of %d statements have plans that grow with the data:\n%s", len(bad), len(checked), strings.Join(bad, "\n"))
	}
}

func oneLine(q string) string { return strings.Join(strings.Fields(q), " ") }

// explain returns the plan's lines.
func explain(ctx context.Context, s *Store, q string, args []any) ([]string, error) {
	rows, err := s.w.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return nil, err
		}
		out = append(out, detail)
	}
	return out, rows.Err()
}

// planStatistics is sqlite_stat1 by index: the rows of the table and the average rows
// per value of each prefix of the index's columns.
func planStatistics(t *testing.T, s *Store) map[string][]float64 {
	rows, err := s.r.Query(`SELECT idx, stat FROM sqlite_stat1 WHERE idx IS NOT NULL`)
	if err != nil {
		t.Fatalf("no statistics after Open (PRAGMA optimize): %v", err)
	}
	defer rows.Close()
	out := map[string][]float64{}
	for rows.Next() {
		var idx, stat string
		if err := rows.Scan(&idx, &stat); err != nil {
			t.Fatal(err)
		}
		var nums []float64
		for _, f := range strings.Fields(stat) {
			if n, err := strconv.ParseFloat(f, 64); err == nil {
				nums = append(nums, n)
			}
		}
		out[idx] = nums
	}
	if len(out) == 0 {
		t.Fatal("sqlite_stat1 is empty after Open: the planner has no statistics")
	}
	return out
}

var (
	planLine = regexp.MustCompile(`^(SCAN|SEARCH) (\w+)(?: AS \w+)?(?: USING (?:COVERING |INTEGER PRIMARY KEY|PRIMARY KEY)?(?:INDEX )?(\w*)(?: \((.*)\))?)?`)
	bigTable = map[string]bool{"conversations": true, "messages": true, "c": true, "m": true}
)

// badPlan says what is wrong with a plan, or "".
func badPlan(plan []string, list bool, stat map[string][]float64, partial map[string]bool) string {
	for _, line := range plan {
		m := planLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil || !bigTable[m[2]] {
			continue
		}
		verb, index, cond := m[1], m[3], m[4]
		switch {
		case verb == "SCAN" && index == "":
			return "a full scan of " + m[2]
		case verb == "SCAN" && !list && !partial[index]:
			return "a lookup walks a whole index: " + line
		case verb == "SEARCH" && !list && index != "" && !strings.Contains(line, "PRIMARY KEY"):
			// the rows one value of the prefix holds, on average
			eq := strings.Count(cond, "=?") - strings.Count(cond, ">=?") - strings.Count(cond, "<=?")
			st := stat[index]
			if eq >= 1 && eq < len(st) && st[eq] > 64 && !strings.Contains(cond, ">") && !strings.Contains(cond, "<") {
				return fmt.Sprintf("a lookup reads ~%.0f rows of %s per value of (%s)", st[eq], index, cond)
			}
		}
	}
	return ""
}
