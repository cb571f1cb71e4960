package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kibo/connectors"
)

// tagWorld is a store with a clock the test moves, two chat inboxes and an agent: the
// tag list is checked against the list without a tag, filtered in Go, after each
// change that moves a conversation in it or out of it.
type tagWorld struct {
	t      *testing.T
	s      *Store
	mu     sync.Mutex
	clock  time.Time
	inbox  [2]*Inbox
	agent  int64
	convs  []int64
	ctx    context.Context
	nextID int
	// who writes in each conversation, and where
	visitor map[int64]string
	inboxOf map[int64]int
}

func newTagWorld(t *testing.T) *tagWorld {
	w := &tagWorld{t: t, clock: time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC), ctx: context.Background(),
		visitor: map[int64]string{}, inboxOf: map[int64]int{}}
	s, err := Open(t.TempDir(), Options{Durability: DurabilityNormal, Now: func() time.Time {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.clock
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w.s = s
	for i := range w.inbox {
		in, err := s.CreateInbox(w.ctx, "chat", fmt.Sprintf("chat %d", i), fmt.Sprintf("tag-test-%d", i), map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		w.inbox[i] = in
	}
	a, err := s.CreateAgent(w.ctx, "sam@example.com", "Sam", "agent", "x")
	if err != nil {
		t.Fatal(err)
	}
	w.agent = a.ID
	return w
}

func (w *tagWorld) tick(d time.Duration) {
	w.mu.Lock()
	w.clock = w.clock.Add(d)
	w.mu.Unlock()
}

// say is a visitor's message: a new conversation in inbox (conv 0) or one more in conv.
func (w *tagWorld) say(inbox int, conv int64, text string) int64 {
	w.t.Helper()
	w.nextID++
	visitor := fmt.Sprintf("visitor-%d", w.nextID)
	if conv != 0 {
		visitor, inbox = w.visitor[conv], w.inboxOf[conv]
	}
	in := w.inbox[inbox]
	r, err := w.s.Ingest(w.ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, ConversationID: conv,
		Identity: connectors.Identity{Kind: "visitor", Scope: fmt.Sprint(in.ID), ExternalID: visitor},
		ClientID: fmt.Sprintf("m-%d", w.nextID), Text: text}})
	if err != nil {
		w.t.Fatal(err)
	}
	w.visitor[r.ConversationID], w.inboxOf[r.ConversationID] = visitor, inbox
	return r.ConversationID
}

func (w *tagWorld) update(conv int64, u ConversationUpdate) {
	w.t.Helper()
	if _, err := w.s.UpdateConversation(w.ctx, conv, w.agent, u); err != nil {
		w.t.Fatalf("update %d: %v", conv, err)
	}
}

// list follows the cursor through every page of f.
func (w *tagWorld) list(f ConversationFilter, limit int) []*Conversation {
	w.t.Helper()
	f.AgentID, f.Limit = w.agent, limit
	var out []*Conversation
	seen := map[int64]bool{}
	for page := 0; ; page++ {
		list, next, err := w.s.Conversations(w.ctx, f)
		if err != nil {
			w.t.Fatalf("%+v: %v", f, err)
		}
		for _, c := range list {
			if seen[c.ID] {
				w.t.Fatalf("%+v: conversation %d on two pages", f, c.ID)
			}
			seen[c.ID] = true
		}
		out = append(out, list...)
		if next == "" {
			return out
		}
		if page > 200 {
			w.t.Fatalf("%+v: the cursor does not end", f)
		}
		f.Cursor = next
	}
}

func ids(list []*Conversation) []int64 {
	out := make([]int64, len(list))
	for i, c := range list {
		out[i] = c.ID
	}
	return out
}

// check compares, for each filter combined with each tag, the tag list read in pages
// of 3 (so the cursor crosses conversations with the same activity time) with the list
// without the tag, filtered in Go; and that the tag rows' copies match their
// conversations.
func (w *tagWorld) check(step string) {
	w.t.Helper()
	var stale int
	if err := w.s.r.QueryRow(`SELECT COUNT(*) FROM conversation_tags t JOIN conversations c ON c.id = t.conversation_id
		WHERE t.last_message_at <> c.last_message_at OR t.status <> c.status`).Scan(&stale); err != nil {
		w.t.Fatal(err)
	}
	if stale != 0 {
		w.t.Errorf("%s: %d tag rows out of step with their conversation", step, stale)
	}
	contact := int64(0)
	if c, err := w.s.Conversation(w.ctx, w.convs[0], 0); err == nil {
		contact = c.Contact.ID
	}
	filters := []ConversationFilter{
		{},
		{Status: "open"}, {Status: "pending"}, {Status: "snoozed"}, {Status: "resolved"},
		{InboxID: w.inbox[0].ID}, {InboxID: w.inbox[1].ID, Status: "open"},
		{Assignee: "me"}, {Assignee: "none", Status: "open"},
		{Query: "invoice"}, {Query: "invoice", Status: "open"},
		{ContactID: contact},
		{Sort: "due"},
	}
	nonEmpty := 0
	for _, tag := range []string{"billing", "vip", "nobody-uses-this"} {
		for _, f := range filters {
			var want []int64
			for _, c := range w.list(f, 200) {
				if slices.Contains(c.Tags, tag) {
					want = append(want, c.ID)
				}
			}
			f.Tag = tag
			got := ids(w.list(f, 3))
			if !slices.Equal(got, want) {
				w.t.Errorf("%s: tag %q with %+v:\n got  %v\n want %v", step, tag, f, got, want)
			}
			if len(want) > 0 {
				nonEmpty++
			}
		}
	}
	if nonEmpty < 10 {
		w.t.Errorf("%s: only %d of the tag lists have anything in them: the test proves little", step, nonEmpty)
	}
}

func TestTagListFollowsActivityTagsAndStatus(t *testing.T) {
	w := newTagWorld(t)
	// 24 conversations, three at each instant: the cursor must break ties by id
	for i := 0; i < 24; i++ {
		text := "where is my parcel"
		if i%5 == 0 {
			text = "my invoice is wrong"
		}
		w.convs = append(w.convs, w.say(i%2, 0, text))
		if i%3 == 2 {
			w.tick(time.Minute)
		}
	}
	me := w.agent
	for i, c := range w.convs {
		var tags []string
		if i%2 == 0 {
			tags = append(tags, "Billing")
		}
		if i%3 == 0 {
			tags = append(tags, "vip")
		}
		u := ConversationUpdate{Tags: &tags}
		if i%4 == 0 {
			u.SetAssignee, u.AssigneeID = true, &me
		}
		w.update(c, u)
	}
	w.check("tagged")

	// new messages move old conversations to the top, some at the same instant
	w.tick(time.Minute)
	w.say(0, w.convs[0], "any news?")
	w.say(0, w.convs[6], "hello again, about my invoice")
	w.say(0, w.convs[7], "and me")
	w.tick(time.Minute)
	w.say(0, w.convs[3], "still waiting")
	if _, err := w.s.AddAgentMessage(w.ctx, AgentMessage{ConversationID: w.convs[9], AgentID: me, Text: "on it"}); err != nil {
		t.Fatal(err)
	}
	w.check("new messages")

	// tags added and removed, by an agent and by an incident
	w.update(w.convs[0], ConversationUpdate{Tags: &[]string{}})
	w.update(w.convs[1], ConversationUpdate{Tags: &[]string{"billing", "vip"}})
	w.update(w.convs[2], ConversationUpdate{Tags: &[]string{"vip"}})
	for _, c := range []int64{w.convs[5], w.convs[7], w.convs[8]} {
		if err := w.s.TagConversation(w.ctx, c, "billing"); err != nil {
			t.Fatal(err)
		}
	}
	w.check("tags changed")

	// status: resolved, pending, snoozed, woken up, reopened by the customer
	resolved, pending := "resolved", "pending"
	for _, i := range []int{1, 4, 6, 10, 12, 15} {
		w.update(w.convs[i], ConversationUpdate{Status: &resolved})
	}
	w.update(w.convs[8], ConversationUpdate{Status: &pending})
	w.update(w.convs[14], ConversationUpdate{Status: &pending})
	soon := w.s.Now().Add(time.Hour)
	w.update(w.convs[16], ConversationUpdate{SnoozedUntil: &soon})
	w.update(w.convs[18], ConversationUpdate{SnoozedUntil: &soon})
	w.check("status changed")
	w.tick(2 * time.Hour)
	if woke, err := w.s.WakeSnoozed(w.ctx); err != nil || len(woke) != 2 {
		t.Fatalf("woke %v, %v", woke, err)
	}
	w.say(0, w.convs[4], "it broke again")
	w.check("woken and reopened")

	// a deleted conversation leaves the tag's list with the others
	if err := w.s.DeleteConversation(w.ctx, w.convs[2]); err != nil {
		t.Fatal(err)
	}
	w.check("deleted")
}

// The tag list walks the tag's rows in list order and stops after a page: its plan has
// no temporary B-tree, whatever other filter goes with it. With a search or a contact
// the plan starts from those (few) conversations instead.
func TestTagListPlanWalksTheTagIndex(t *testing.T) {
	w := newTagWorld(t)
	w.convs = append(w.convs, w.say(0, 0, "hello"))
	cursor := encodeCursor(formatTime(w.s.Now()), w.convs[0])
	for _, f := range []ConversationFilter{
		{Tag: "billing"},
		{Tag: "billing", Cursor: cursor},
		{Tag: "billing", Status: "open"},
		{Tag: "billing", Status: "snoozed", Cursor: cursor},
		{Tag: "billing", InboxID: w.inbox[0].ID},
		{Tag: "billing", InboxID: w.inbox[0].ID, Status: "open", Assignee: "me"},
		{Tag: "billing", Assignee: "none"},
		{Tag: "billing", SLA: "breached"},
	} {
		plan := w.plan(f)
		index := "conversation_tags_activity"
		if f.Status != "" {
			index = "conversation_tags_status_activity"
		}
		if strings.Contains(plan, "TEMP B-TREE") || !strings.Contains(plan, "SEARCH tg USING COVERING INDEX "+index) {
			t.Errorf("%+v: the plan does not walk %s in list order:\n%s", f, index, plan)
		}
	}
	for _, f := range []ConversationFilter{
		{Tag: "billing", Query: "refund"},
		{Tag: "billing", ContactID: 1},
	} {
		if plan := w.plan(f); strings.Contains(plan, "conversation_tags_tag") {
			t.Errorf("%+v: the plan reads the tag's whole list:\n%s", f, plan)
		}
	}
}

func (w *tagWorld) plan(f ConversationFilter) string {
	w.t.Helper()
	f.AgentID, f.Limit = w.agent, 50
	q, args, err := w.s.conversationsQuery(f)
	if err != nil {
		w.t.Fatal(err)
	}
	rows, err := w.s.r.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			w.t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s\n", detail)
	}
	return b.String()
}

// Tagging costs the statements it did before the tag rows carried their
// conversation's activity (a trigger fills them, in the same statement), and the rows
// it writes are in step with the conversation.
func TestTaggingKeepsActivityInStepWithinItsQueryBudget(t *testing.T) {
	w := newTagWorld(t)
	conv := w.say(0, 0, "hello")
	w.tick(time.Hour)
	w.say(0, conv, "hello again")
	c, err := w.s.Conversation(w.ctx, conv, 0)
	if err != nil {
		t.Fatal(err)
	}
	inStep := func(want ...string) {
		t.Helper()
		rows, err := w.s.r.Query(`SELECT tag, last_message_at, status FROM conversation_tags WHERE conversation_id = ? ORDER BY tag`, conv)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var tag, last, status string
			rows.Scan(&tag, &last, &status)
			if last != formatTime(c.LastMessageAt) || status != c.Status {
				t.Errorf("tag %s: last_message_at %q status %q, the conversation has %q %q", tag, last, status, formatTime(c.LastMessageAt), c.Status)
			}
			got = append(got, tag)
		}
		if !slices.Equal(got, want) {
			t.Errorf("tags %v, want %v", got, want)
		}
	}
	cost := func(f func() error) int64 {
		t.Helper()
		before := w.s.QueryCount()
		if err := f(); err != nil {
			t.Fatal(err)
		}
		return w.s.QueryCount() - before
	}
	// read the status, delete the tags, one insert per tag, read the conversation back
	n := cost(func() error {
		_, err := w.s.UpdateConversation(w.ctx, conv, w.agent, ConversationUpdate{Tags: &[]string{"billing", "vip"}})
		return err
	})
	if n != 5 {
		t.Errorf("tagging with two tags took %d statements, want 5", n)
	}
	inStep("billing", "vip")
	if n := cost(func() error { return w.s.TagConversation(w.ctx, conv, "outage") }); n != 1 {
		t.Errorf("an incident's tag took %d statements, want 1", n)
	}
	if n := cost(func() error { return w.s.TagConversation(w.ctx, conv, "outage") }); n != 1 {
		t.Errorf("the same tag again took %d statements, want 1", n)
	}
	inStep("billing", "outage", "vip")
	if err := w.s.TagConversation(w.ctx, 999999, "billing"); err == nil {
		t.Error("tagged a conversation that does not exist")
	}
	// a message moves the copies along
	w.tick(time.Hour)
	w.say(0, conv, "one more thing")
	if c, err = w.s.Conversation(w.ctx, conv, 0); err != nil {
		t.Fatal(err)
	}
	inStep("billing", "outage", "vip")
}
