package hub

import (
	"encoding/json"
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
	live, _, _ := h.Subscribe(1, "Ann", 0, 0)
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
	back, current, resync := h.Subscribe(1, "Ann", seqs[3], 0)
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
	upToDate, _, resync := h.Subscribe(1, "Ann", h.Current(), 0)
	if resync || len(drain(t, upToDate)) != 0 {
		t.Fatalf("an up-to-date page got a replay or a resync")
	}
}

func TestTooOldOrUnknownSeqAsksForResync(t *testing.T) {
	h := New(4)
	seqs := publish(h, 1, 10) // the ring keeps 7..10
	if _, _, resync := h.Subscribe(1, "Ann", seqs[5], 0); resync {
		t.Fatalf("seq %d is just before the oldest kept: its successors are all there", seqs[5])
	}
	s, _, resync := h.Subscribe(1, "Ann", seqs[4], 0)
	if !resync {
		t.Fatalf("event 6 is gone from a ring of 4: the page must resync")
	}
	if got := drain(t, s); len(got) != 0 {
		t.Fatalf("a resync must not come with a partial replay: %+v", got)
	}
	// a seq this hub never gave out (the server restarted with its clock behind)
	if _, _, resync := h.Subscribe(1, "Ann", h.Current()+1_000_000, 0); !resync {
		t.Fatalf("a seq from the future must resync")
	}
}

func TestSlowPageIsDroppedAndPublishingNeverBlocks(t *testing.T) {
	h := New(1000)
	slow, _, _ := h.Subscribe(1, "Ann", 0, 64) // never reads
	fast, _, _ := h.Subscribe(2, "Bo", 0, 1000)
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
	again, _, resync := h.Subscribe(1, "Ann", seqs[63], 0)
	if got := drain(t, again); resync || len(got) != 136 || got[0].N != 65 || got[135].N != 200 {
		t.Fatalf("replay after the drop: resync %v, %d events", resync, len(got))
	}
	h.Unsubscribe(slow) // already dropped: must not panic on a closed channel
}

func TestPresenceOneEntryPerAgentAndLeavingIsBroadcast(t *testing.T) {
	h := New(10)
	ann1, _, _ := h.Subscribe(1, "Ann", 0, 0)
	ann2, _, _ := h.Subscribe(1, "Ann", 0, 0) // a second tab
	bo, _, _ := h.Subscribe(2, "Bo", 0, 0)
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
