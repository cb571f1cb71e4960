package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"kibo/store"
)

// nextCounts reads events until a "counts" event whose figures satisfy ok.
func nextCounts(t *testing.T, c *websocket.Conn, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.SetReadDeadline(deadline)
		var f map[string]any
		if err := c.ReadJSON(&f); err != nil {
			t.Fatalf("waiting for counts: %v", err)
		}
		if f["type"] != "counts" {
			continue
		}
		counts := f["counts"].(map[string]any)
		if ok(counts) {
			return counts
		}
	}
}

func openCount(c map[string]any) int64 { return num(c["by_status"].(map[string]any)["open"]) }

// The pages get the inbox counts pushed when they change, each agent their own, instead
// of asking after every event; and GET /counts gives the same figures.
func TestCountsArePushedToThePages(t *testing.T) {
	k := startKibo(t)
	ws := k.agentSocket(0)
	readEvent(t, ws, "hello")
	v := k.visitor()
	v.hello("", nil)
	ack := v.say("c-1", "hello there")
	conv := num(ack["conversation_id"])
	got := nextCounts(t, ws, func(c map[string]any) bool { return openCount(c) == 1 })
	if num(got["unread"]) != 1 || num(got["unassigned"]) != 1 || num(got["mine"]) != 0 {
		t.Fatalf("after the first message: %v, want 1 unread, 1 unassigned", got)
	}
	if byInbox := got["by_inbox"].(map[string]any); num(byInbox[fmt.Sprint(k.inboxID)]) != 1 {
		t.Fatalf("by_inbox %v, want 1 in inbox %d", byInbox, k.inboxID)
	}
	// the agent reads it and takes it: their own figures change
	k.api("POST", fmt.Sprintf("/api/v1/conversations/%d/read", conv), k.agentToken, map[string]any{"up_to": num(ack["id"])}, nil, 204)
	k.api("PATCH", fmt.Sprintf("/api/v1/conversations/%d", conv), k.agentToken, map[string]any{"assignee_id": k.agent.ID}, nil, 200)
	got = nextCounts(t, ws, func(c map[string]any) bool { return num(c["mine"]) == 1 && num(c["unread"]) == 0 })
	if num(got["unassigned"]) != 0 {
		t.Fatalf("after assigning: %v", got)
	}
	var polled map[string]any
	k.api("GET", "/api/v1/counts", k.agentToken, nil, &polled, 200)
	if num(polled["mine"]) != 1 || num(polled["unread"]) != 0 || openCount(polled) != 1 {
		t.Fatalf("GET /counts: %v", polled)
	}
	// the admin, who has read nothing, still has it unread
	k.api("GET", "/api/v1/counts", k.adminToken, nil, &polled, 200)
	if num(polled["unread"]) != 1 || num(polled["mine"]) != 0 {
		t.Fatalf("GET /counts as the admin: %v", polled)
	}
	// resolving it moves it between statuses
	k.api("PATCH", fmt.Sprintf("/api/v1/conversations/%d", conv), k.agentToken, map[string]any{"status": "resolved"}, nil, 200)
	got = nextCounts(t, ws, func(c map[string]any) bool { return openCount(c) == 0 })
	if num(got["by_status"].(map[string]any)["resolved"]) != 1 || num(got["mine"]) != 0 {
		t.Fatalf("after resolving: %v", got)
	}
}

// An event the publisher had to drop is followed by a resync, so the pages reload
// instead of silently missing a message.
func TestDroppedEventsMakeThePagesResync(t *testing.T) {
	k := startKibo(t)
	ws := k.agentSocket(0)
	readEvent(t, ws, "hello")
	v := k.visitor()
	v.hello("", nil)
	ack := v.say("c-1", "one")
	p := newPublisher(k.srv, 1) // a queue of one, not running yet
	res := store.Ingested{MessageID: num(ack["id"]), ConversationID: num(ack["conversation_id"])}
	p.add(res)
	p.add(res) // dropped
	if !p.lost.Load() {
		t.Fatal("a dropped event was not noted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.run(ctx)
	readEvent(t, ws, "resync")
}
