package hub

import (
	"encoding/json"
	"fmt"
	"sort"
	"testing"
)

type event struct {
	Type           string          `json:"type"`
	Seq            int64           `json:"seq"`
	N              int             `json:"n"`
	ConversationID int64           `json:"conversation_id"`
	Agents         []PresenceAgent `json:"agents"`
}

func decode(t *testing.T, b []byte) event {
	t.Helper()
	var e event
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return e
}

// drain reads what is queued for s without blocking.
func drain(t *testing.T, s *Subscriber) []event {
	t.Helper()
	var out []event
	for {
		select {
		case b, ok := <-s.C:
			if !ok {
				return out
			}
			out = append(out, decode(t, b))
		default:
			return out
		}
	}
}

func publish(h *Hub, from, to int) []int64 {
	var seqs []int64
	for n := from; n <= to; n++ {
		seqs = append(seqs, h.Publish(map[string]any{"type": "message.created", "n": n}))
	}
	return seqs
}

func TestReconnectReplaysExactlyWhatWasMissedInOrder(t *testing.T) {
	h := New(100)
	live, _, _ := h.Subscribe(Viewer{AgentID: 1, Name: "Ann"}, 0, 0)
	seqs := publish(h, 1, 10)
	got := drain(t, live)
	if len(got) != 10 {
		t.Fatalf("live page got %d events, want 10", len(got))
	}
	for i, e := range got {
		if e.N != i+1 || e.Seq != seqs[i] || (i > 0 && e.Seq <= got[i-1].Seq) {
			t.Fatalf("event %d: %+v (seqs %v)", i, e, seqs)
		}
	}
	// a page that saw up to the fourth event and lost its socket
	back, current, resync := h.Subscribe(Viewer{AgentID: 1, Name: "Ann"}, seqs[3], 0)
	if resync || current != seqs[9] {
		t.Fatalf("resync %v, current %d (want %d)", resync, current, seqs[9])
	}
	replay := drain(t, back)
	if len(replay) != 6 {
		t.Fatalf("replayed %d events, want the 6 after seq %d", len(replay), seqs[3])
	}
	for i, e := range replay {
		if e.N != i+5 {
			t.Fatalf("replay %d is event %d, want %d", i, e.N, i+5)
		}
	}
	// and then it is live like the others
	publish(h, 11, 11)
	if e := drain(t, back); len(e) != 1 || e[0].N != 11 {
		t.Fatalf("after the replay: %+v", e)
	}
	// caught up: nothing to replay, no resync
	upToDate, _, resync := h.Subscribe(Viewer{AgentID: 1, Name: "Ann"}, h.Current(), 0)
	if resync || len(drain(t, upToDate)) != 0 {
		t.Fatalf("an up-to-date page got a replay or a resync")
	}
}

func TestTooOldOrUnknownSeqAsksForResync(t *testing.T) {
	h := New(4)
	seqs := publish(h, 1, 10) // the ring keeps 7..10
	if _, _, resync := h.Subscribe(Viewer{AgentID: 1, Name: "Ann"}, seqs[5], 0); resync {
		t.Fatalf("seq %d is just before the oldest kept: its successors are all there", seqs[5])
	}
	s, _, resync := h.Subscribe(Viewer{AgentID: 1, Name: "Ann"}, seqs[4], 0)
	if !resync {
		t.Fatalf("event 6 is gone from a ring of 4: the page must resync")
	}
	if got := drain(t, s); len(got) != 0 {
		t.Fatalf("a resync must not come with a partial replay: %+v", got)
	}
	// a seq this hub never gave out (the server restarted with its clock behind)
	if _, _, resync := h.Subscribe(Viewer{AgentID: 1, Name: "Ann"}, h.Current()+1_000_000, 0); !resync {
		t.Fatalf("a seq from the future must resync")
	}
}

func TestSlowPageIsDroppedAndPublishingNeverBlocks(t *testing.T) {
	h := New(1000)
	slow, _, _ := h.Subscribe(Viewer{AgentID: 1, Name: "Ann"}, 0, 64) // never reads
	fast, _, _ := h.Subscribe(Viewer{AgentID: 2, Name: "Bo"}, 0, 1000)
	seqs := publish(h, 1, 200) // returns only if Publish never blocks on the slow page
	var gotSlow int
	for range slow.C { // closed when dropped
		gotSlow++
	}
	if gotSlow != 64 {
		t.Fatalf("slow page received %d before it was dropped, want its buffer (64)", gotSlow)
	}
	if h.Subscribers() != 1 {
		t.Fatalf("%d subscribers, want only the fast one", h.Subscribers())
	}
	if got := drain(t, fast); len(got) != 200 {
		t.Fatalf("fast page got %d of 200", len(got))
	}
	// the dropped page reconnects from the last seq it read and misses nothing
	again, _, resync := h.Subscribe(Viewer{AgentID: 1, Name: "Ann"}, seqs[63], 0)
	if got := drain(t, again); resync || len(got) != 136 || got[0].N != 65 || got[135].N != 200 {
		t.Fatalf("replay after the drop: resync %v, %d events", resync, len(got))
	}
	h.Unsubscribe(slow) // already dropped: must not panic on a closed channel
}

func TestPresenceOneEntryPerAgentAndLeavingIsBroadcast(t *testing.T) {
	h := New(10)
	ann1, _, _ := h.Subscribe(Viewer{AgentID: 1, Name: "Ann"}, 0, 0)
	ann2, _, _ := h.Subscribe(Viewer{AgentID: 1, Name: "Ann"}, 0, 0) // a second tab
	bo, _, _ := h.Subscribe(Viewer{AgentID: 2, Name: "Bo"}, 0, 0)
	h.View(ann1, 7)
	h.View(ann2, 7)
	h.View(bo, 7)
	h.Replying(ann2, 7, true)
	agents := h.Presence(7)
	sort.Slice(agents, func(i, j int) bool { return agents[i].ID < agents[j].ID })
	if len(agents) != 2 || agents[0] != (PresenceAgent{ID: 1, Name: "Ann", Replying: true}) || agents[1] != (PresenceAgent{ID: 2, Name: "Bo"}) {
		t.Fatalf("presence on 7: %+v", agents)
	}
	drain(t, bo)
	// Ann closes both tabs: Bo is told he is alone
	h.Unsubscribe(ann1)
	h.Unsubscribe(ann2)
	msgs := drain(t, bo)
	if len(msgs) == 0 {
		t.Fatalf("Bo was not told that Ann left")
	}
	last := msgs[len(msgs)-1]
	if last.Type != "presence" || last.ConversationID != 7 || len(last.Agents) != 1 || last.Agents[0].ID != 2 {
		t.Fatalf("last presence Bo saw: %+v", last)
	}
	// moving to another conversation leaves the first
	h.View(bo, 8)
	if p := h.Presence(7); len(p) != 0 {
		t.Fatalf("nobody is on 7 any more: %+v", p)
	}
	if p := h.Presence(8); len(p) != 1 || p[0].ID != 2 {
		t.Fatalf("presence on 8: %+v", p)
	}
}

// An event for some agents reaches only them, live and in a replay.
func TestAddressedEventsReachOnlyTheirAudience(t *testing.T) {
	h := New(100)
	admin, _, _ := h.Subscribe(Viewer{AgentID: 1, Name: "Ada", Admin: true}, 0, 0)
	sam, _, _ := h.Subscribe(Viewer{AgentID: 2, Name: "Sam"}, 0, 0)
	bo, _, _ := h.Subscribe(Viewer{AgentID: 3, Name: "Bo"}, 0, 0)
	first := h.Publish(map[string]any{"type": "message.created", "n": 1})
	h.PublishTo(map[string]any{"type": "notification.created", "n": 2}, Agents(1))
	h.PublishTo(map[string]any{"type": "notification.created", "n": 3}, Agents(2))
	h.PublishTo(map[string]any{"type": "audit", "n": 4}, Admins())
	h.PublishTo(map[string]any{"type": "notification.created", "n": 5}, Agents())
	h.Publish(map[string]any{"type": "message.created", "n": 6})
	ns := func(evs []event) []int {
		var out []int
		for _, e := range evs {
			out = append(out, e.N)
		}
		return out
	}
	for _, c := range []struct {
		who  string
		s    *Subscriber
		v    Viewer
		want []int
	}{
		{"admin", admin, admin.Viewer, []int{1, 2, 4, 6}},
		{"Sam", sam, sam.Viewer, []int{1, 3, 6}},
		{"Bo", bo, bo.Viewer, []int{1, 6}},
	} {
		if got := ns(drain(t, c.s)); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s live: %v, want %v", c.who, got, c.want)
		}
		again, _, _ := h.Subscribe(c.v, first-1, 0)
		if got := ns(drain(t, again)); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s replayed: %v, want %v", c.who, got, c.want)
		}
	}
}

// Disconnect closes exactly the pages it names, says why, and tells the others that
// their agent left the conversation.
func TestDisconnectClosesThePagesOfACredentialOrAnAgent(t *testing.T) {
	h := New(10)
	samSession, _, _ := h.Subscribe(Viewer{AgentID: 2, Name: "Sam", Credential: "session:a"}, 0, 0)
	samToken, _, _ := h.Subscribe(Viewer{AgentID: 2, Name: "Sam", Credential: "token:7"}, 0, 0)
	samOther, _, _ := h.Subscribe(Viewer{AgentID: 2, Name: "Sam", Credential: "token:8"}, 0, 0)
	bo, _, _ := h.Subscribe(Viewer{AgentID: 3, Name: "Bo", Credential: "token:9"}, 0, 0)
	h.View(samToken, 5)
	h.View(bo, 5)
	drain(t, bo)
	// closed drains s and tells whether its channel is closed
	closed := func(s *Subscriber) bool {
		for {
			select {
			case _, ok := <-s.C:
				if !ok {
					return true
				}
			default:
				return false
			}
		}
	}
	if n := h.DisconnectCredential("token:7", "token revoked"); n != 1 {
		t.Fatalf("closed %d pages for one token", n)
	}
	if !closed(samToken) || samToken.Reason() != "token revoked" {
		t.Fatalf("the token's page: closed %v, reason %q", closed(samToken), samToken.Reason())
	}
	if p := h.Presence(5); len(p) != 1 || p[0].ID != 3 {
		t.Fatalf("presence after the disconnect: %+v", p)
	}
	if msgs := drain(t, bo); len(msgs) == 0 || msgs[len(msgs)-1].Type != "presence" {
		t.Fatalf("Bo was not told Sam left: %+v", msgs)
	}
	if closed(samSession) || closed(samOther) || closed(bo) {
		t.Fatalf("other pages were closed by one token's revocation")
	}
	if n := h.DisconnectAgent(2, "access changed"); n != 2 {
		t.Fatalf("closed %d of Sam's two remaining pages", n)
	}
	if !closed(samSession) || !closed(samOther) || closed(bo) || samOther.Reason() != "access changed" {
		t.Fatalf("after disconnecting Sam: session %v, other %v, Bo %v", closed(samSession), closed(samOther), closed(bo))
	}
	if h.Subscribers() != 1 {
		t.Fatalf("%d subscribers left, want Bo's", h.Subscribers())
	}
	// nothing more reaches a closed page, and unsubscribing it again is harmless
	h.Publish(map[string]any{"type": "message.created"})
	h.Unsubscribe(samSession)
}
