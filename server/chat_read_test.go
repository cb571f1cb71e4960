package server

import (
	"fmt"
	"testing"
	"time"
)

// A chat reply goes to the visitor's open widget as soon as it is stored (the chat's
// descriptor says Direct), and the widget's read frame is kept: the agents' pages hear
// conversation.seen and the conversation carries contact_read_id.
func TestChatReplyIsPushedAndTheVisitorsReadIsKept(t *testing.T) {
	k := startKibo(t)
	ws := k.agentSocket(0)
	readEvent(t, ws, "hello")
	v := k.visitor()
	token, _ := v.hello("", nil)["token"].(string)
	convID := num(v.say("r-1", "Is my order on its way?")["conversation_id"])

	var note, reply map[string]any
	k.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", convID), k.agentToken, map[string]any{"text": "check the warehouse", "private": true}, &note, 201)
	k.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", convID), k.agentToken, map[string]any{"text": "It left this morning."}, &reply, 201)
	if reply["delivery"] != "sent" {
		t.Errorf("a chat reply's delivery is %v, want sent: it does not wait in the outbox", reply["delivery"])
	}
	if got := v.must("message"); num(got["id"]) != num(reply["id"]) || got["text"] != "It left this morning." {
		t.Fatalf("the widget got %v", got)
	}
	if got := v.must("typing"); got["on"] != false || got["name"] != "Sam" {
		t.Errorf("the reply should end Sam's typing in the widget: %v", got)
	}
	if n := k.dbInt(`SELECT COUNT(*) FROM outbox`); n != 0 {
		t.Errorf("%d outbox rows for a chat reply", n)
	}

	readOf := func() int64 { return num(k.conversation(convID)["contact_read_id"]) }
	// a read reaches only the company's public messages of this conversation: up to the
	// note, there are none; past the reply, the reply is the last
	v.send(map[string]any{"type": "read", "up_to": note["id"]})
	v.send(map[string]any{"type": "read", "up_to": num(reply["id"]) + 1000})
	ev := readEvent(t, ws, "conversation.seen")
	if num(ev["conversation_id"]) != convID || num(ev["contact_read_id"]) != num(reply["id"]) {
		t.Fatalf("conversation.seen %v, want conversation %d read up to %v", ev, convID, reply["id"])
	}
	if got := readOf(); got != num(reply["id"]) {
		t.Fatalf("contact_read_id %d, want %v", got, reply["id"])
	}
	// a repeated or older read changes nothing and tells nobody
	v.send(map[string]any{"type": "read", "up_to": reply["id"]})
	v2 := k.visitor()
	v2.hello(token, nil)
	v2.send(map[string]any{"type": "read", "up_to": num(reply["id"]) - 1})
	ws.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	for {
		var f map[string]any
		if ws.ReadJSON(&f) != nil {
			break
		}
		if f["type"] == "conversation.seen" {
			t.Fatalf("a read that moved nothing was told: %v", f)
		}
	}
	if got := readOf(); got != num(reply["id"]) {
		t.Errorf("contact_read_id went to %d", got)
	}
}
