// Package hub fans real-time events out to the agents' open pages.
//
// Every durable event gets an increasing seq and stays in a ring buffer, so a page that
// lost its socket (laptop sleep, network drop) reconnects with ?since=seq and receives
// exactly what it missed, in order; when that is older than the ring holds it is told
// to resync. Seqs start at the boot time in microseconds, so they keep growing across
// restarts and a page never mistakes a fresh server's events for ones it has seen.
//
// Publishing never blocks: each subscriber has a buffered channel, and one that falls
// behind is dropped (its page reconnects and replays from the ring).
//
// A subscriber knows whose page it is and by which credential it was opened (Viewer).
// An event may be for some agents only (Audience), and is then neither sent nor
// replayed to anyone else; and when a credential ends (logout, a revoked token) or an
// agent loses access (disabled, new password, another role), Disconnect closes the
// pages it opened, so no page keeps hearing what its agent may no longer see.
package hub

import (
	"encoding/json"
	"sync"
	"time"
)

// Event is one real-time event. Payload is the JSON sent to the page, with "seq" set.
type Event struct {
	Seq     int64
	Payload []byte
	To      Audience
}

// Viewer is whose page a subscriber is, and what opened it.
type Viewer struct {
	AgentID int64
	Name    string
	Admin   bool
	// Credential names what authenticated the socket ("session:<hash>",
	// "token:<id>"), so that ending it closes exactly the pages it opened.
	Credential string
}

// Audience is who may receive an event. The zero value is every agent.
type Audience struct {
	restricted bool
	agents     []int64
	admins     bool
}

// Everyone is every agent.
func Everyone() Audience { return Audience{} }

// Agents is these agents only (nobody when there are none).
func Agents(ids ...int64) Audience {
	return Audience{restricted: true, agents: append([]int64(nil), ids...)}
}

// Admins is the admins only.
func Admins() Audience { return Audience{restricted: true, admins: true} }

// Allows tells whether v may receive an event for a.
func (a Audience) Allows(v Viewer) bool {
	if !a.restricted {
		return true
	}
	if a.admins && v.Admin {
		return true
	}
	for _, id := range a.agents {
		if id == v.AgentID {
			return true
		}
	}
	return false
}

// Hub holds the ring and the subscribers.
type Hub struct {
	mu     sync.Mutex
	next   int64
	ring   []Event
	start  int // index of the oldest event in ring
	count  int
	subs   map[*Subscriber]struct{}
	closed bool

	presence map[int64]map[*Subscriber]bool // conversation → viewer → replying
}

// Subscriber is one open agent page.
type Subscriber struct {
	Viewer
	C       chan []byte
	viewing int64
	dropped bool
	reason  string // why Disconnect closed C; empty when dropped for being slow
}

// Reason is why the hub closed C: what Disconnect was told, or "" when the page was
// dropped for falling behind (or the hub closed). Read it only after C is closed.
func (s *Subscriber) Reason() string { return s.reason }

// New makes a hub that remembers the last size events.
func New(size int) *Hub {
	if size <= 0 {
		size = 8192
	}
	return &Hub{
		next:     time.Now().UnixMicro(),
		ring:     make([]Event, size),
		subs:     map[*Subscriber]struct{}{},
		presence: map[int64]map[*Subscriber]bool{},
	}
}

// Publish stamps v (a JSON object) with the next seq, keeps it for replay and sends it
// to every subscriber. It returns the seq.
func (h *Hub) Publish(v map[string]any) int64 { return h.PublishTo(v, Everyone()) }

// PublishTo is Publish for the subscribers to allows only; a page of anyone else
// neither receives the event nor has it replayed.
func (h *Hub) PublishTo(v map[string]any, to Audience) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next++
	seq := h.next
	v["seq"] = seq
	b, err := json.Marshal(v)
	if err != nil {
		return seq
	}
	idx := (h.start + h.count) % len(h.ring)
	if h.count == len(h.ring) {
		h.start = (h.start + 1) % len(h.ring)
	} else {
		h.count++
	}
	h.ring[idx] = Event{Seq: seq, Payload: b, To: to}
	for s := range h.subs {
		if to.Allows(s.Viewer) {
			h.sendLocked(s, b)
		}
	}
	return seq
}

// Ephemeral sends v to every subscriber without a seq and without keeping it
// (typing, presence): missing one is harmless.
func (h *Hub) Ephemeral(v any, except *Subscriber) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if s != except {
			h.sendLocked(s, b)
		}
	}
}

func (h *Hub) sendLocked(s *Subscriber, b []byte) {
	if s.dropped {
		return
	}
	select {
	case s.C <- b:
	default:
		// too slow: drop it; its page reconnects with since= and replays
		h.dropLocked(s)
	}
}

func (h *Hub) dropLocked(s *Subscriber) {
	if s.dropped {
		return
	}
	s.dropped = true
	delete(h.subs, s)
	h.leaveLocked(s)
	close(s.C)
}

// Subscribe registers a page. With since > 0 the events after since are queued first;
// resync is true when since is older than the ring (or from before this boot) and
// the page must reload instead. The current seq is returned for the hello frame.
func (h *Hub) Subscribe(v Viewer, since int64, buffer int) (s *Subscriber, current int64, resync bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var replay [][]byte
	if since > 0 && since < h.next {
		oldest := h.next + 1 // nothing kept
		if h.count > 0 {
			oldest = h.ring[h.start].Seq
		}
		if since+1 < oldest {
			resync = true
		} else {
			for i := 0; i < h.count; i++ {
				e := h.ring[(h.start+i)%len(h.ring)]
				if e.Seq > since && e.To.Allows(v) {
					replay = append(replay, e.Payload)
				}
			}
		}
	} else if since > h.next {
		// a seq this hub never gave out: the server restarted with a clock behind
		resync = true
	}
	if buffer < len(replay)+64 {
		buffer = len(replay) + 64
	}
	s = &Subscriber{Viewer: v, C: make(chan []byte, buffer)}
	for _, b := range replay {
		s.C <- b
	}
	h.subs[s] = struct{}{}
	return s, h.next, resync
}

// Unsubscribe removes a page (idempotent).
func (h *Hub) Unsubscribe(s *Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.dropped {
		return
	}
	presenceChanged := s.viewing
	h.dropLocked(s)
	if presenceChanged != 0 {
		h.broadcastPresenceLocked(presenceChanged)
	}
}

// Disconnect closes the pages of every subscriber that match picks, with reason for
// their writers to pass on (Reason), and returns how many it closed. A page whose
// agent may still connect reconnects and replays what it missed.
func (h *Hub) Disconnect(match func(Viewer) bool, reason string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	var gone []*Subscriber
	for s := range h.subs {
		if match(s.Viewer) {
			gone = append(gone, s)
		}
	}
	left := map[int64]bool{}
	for _, s := range gone {
		if s.viewing != 0 {
			left[s.viewing] = true
		}
		s.reason = reason
		h.dropLocked(s)
	}
	for conv := range left {
		h.broadcastPresenceLocked(conv)
	}
	return len(gone)
}

// DisconnectAgent closes every page of one agent.
func (h *Hub) DisconnectAgent(agentID int64, reason string) int {
	return h.Disconnect(func(v Viewer) bool { return v.AgentID == agentID }, reason)
}

// DisconnectCredential closes the pages opened with one credential.
func (h *Hub) DisconnectCredential(credential, reason string) int {
	return h.Disconnect(func(v Viewer) bool { return v.Credential == credential }, reason)
}

// Current is the last seq given out.
func (h *Hub) Current() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.next
}

// Subscribers is how many pages are connected.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// ---- presence (collision detection)

// PresenceAgent is one agent on a conversation.
type PresenceAgent struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Replying bool   `json:"replying"`
}

// View records which conversation a page shows (0 for none) and tells everyone.
func (h *Hub) View(s *Subscriber, conversationID int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.dropped || s.viewing == conversationID {
		return
	}
	old := s.viewing
	h.leaveLocked(s)
	s.viewing = conversationID
	if conversationID != 0 {
		if h.presence[conversationID] == nil {
			h.presence[conversationID] = map[*Subscriber]bool{}
		}
		h.presence[conversationID][s] = false
		h.broadcastPresenceLocked(conversationID)
	}
	if old != 0 {
		h.broadcastPresenceLocked(old)
	}
	// the newcomer learns who is already there
}

// Replying marks whether the page's agent is writing a reply on the conversation.
func (h *Hub) Replying(s *Subscriber, conversationID int64, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.dropped {
		return
	}
	viewers := h.presence[conversationID]
	if viewers == nil {
		viewers = map[*Subscriber]bool{}
		h.presence[conversationID] = viewers
	}
	if was, ok := viewers[s]; ok && was == on {
		return
	}
	viewers[s] = on
	if s.viewing != conversationID && !on {
		delete(viewers, s)
	}
	h.broadcastPresenceLocked(conversationID)
}

func (h *Hub) leaveLocked(s *Subscriber) {
	if s.viewing == 0 {
		return
	}
	if v := h.presence[s.viewing]; v != nil {
		delete(v, s)
		if len(v) == 0 {
			delete(h.presence, s.viewing)
		}
	}
}

// Presence lists the agents on a conversation (one entry per agent).
func (h *Hub) Presence(conversationID int64) []PresenceAgent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.presenceLocked(conversationID)
}

func (h *Hub) presenceLocked(conversationID int64) []PresenceAgent {
	byAgent := map[int64]*PresenceAgent{}
	out := []PresenceAgent{}
	for s, replying := range h.presence[conversationID] {
		if p, ok := byAgent[s.AgentID]; ok {
			p.Replying = p.Replying || replying
			continue
		}
		byAgent[s.AgentID] = &PresenceAgent{ID: s.AgentID, Name: s.Name, Replying: replying}
	}
	for _, p := range byAgent {
		out = append(out, *p)
	}
	return out
}

func (h *Hub) broadcastPresenceLocked(conversationID int64) {
	b, err := json.Marshal(map[string]any{"type": "presence", "conversation_id": conversationID, "agents": h.presenceLocked(conversationID)})
	if err != nil {
		return
	}
	for s := range h.subs {
		h.sendLocked(s, b)
	}
}

// Close drops every subscriber (shutdown).
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		h.dropLocked(s)
	}
}

// ToEachAgent sends every page the frame made for its agent, without a seq and without
// keeping it (the counts, which differ per agent and are sent again when they change).
// frame is called once per agent, under the hub's lock: it must be quick; a nil frame
// sends nothing to that agent.
func (h *Hub) ToEachAgent(frame func(agentID int64) []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	made := map[int64][]byte{}
	for s := range h.subs {
		b, ok := made[s.AgentID]
		if !ok {
			b = frame(s.AgentID)
			made[s.AgentID] = b
		}
		if b != nil {
			h.sendLocked(s, b)
		}
	}
}
