package chat

import (
	"net"
	"sync"
	"time"
)

// What one visitor socket or one address may cost the server.
//
// Per-address limits never apply to loopback addresses. Loopback is this machine: a
// reverse proxy in front of Kibo (whose visitors would otherwise all share its one
// address, and one limit), a load test, the conformance checker. Behind a proxy, the
// visitor's own address comes from the trusted proxies setting; the server hands the
// chat that address.

// Limits protect the server from one visitor or one address.
type Limits struct {
	// MessagesPerSecond and Burst limit each visitor connection.
	MessagesPerSecond float64
	Burst             int
	// PerIPConnections caps open sockets per remote address (0: no cap). A visitor has
	// one socket per open tab; a generous cap leaves room for an office behind one
	// address.
	PerIPConnections int
	// NewConversationsPerMinute and NewConversationsBurst limit the conversations one
	// remote address may open: a token bucket per address, so a script opening sockets
	// can't fill the inbox (0: no limit). A message refused for it is answered
	// rate_limited, and the widget sends it again a few seconds later.
	NewConversationsPerMinute float64
	NewConversationsBurst     int
	// MaxConnections caps all widget sockets; past it new ones are refused with a
	// close frame saying so (0: no cap).
	MaxConnections int
	// IdleTimeout closes a socket that has answered nothing (not even a pong) for this
	// long.
	IdleTimeout time.Duration
}

// limitsAddress tells whether per-address limits apply to ip (see above).
func limitsAddress(ip string) bool {
	a := net.ParseIP(ip)
	return a != nil && !a.IsLoopback()
}

// allow takes a token from the visitor's bucket.
func (ss *session) allow() bool {
	now := time.Now()
	ss.tokens += now.Sub(ss.last).Seconds() * ss.srv.limits.MessagesPerSecond
	ss.last = now
	if max := float64(ss.srv.limits.Burst); ss.tokens > max {
		ss.tokens = max
	}
	if ss.tokens < 1 {
		return false
	}
	ss.tokens--
	return true
}

// addressBuckets are the new-conversation token buckets, one per remote address.
type addressBuckets struct {
	perSecond, burst float64

	mu     sync.Mutex
	byAddr map[string]*addressBucket
	swept  time.Time
}

type addressBucket struct {
	tokens float64
	at     time.Time
}

func newAddressBuckets(perMinute float64, burst int) *addressBuckets {
	if perMinute <= 0 {
		return nil
	}
	return &addressBuckets{perSecond: perMinute / 60, burst: float64(max(burst, 1)), byAddr: map[string]*addressBucket{}}
}

// take takes a token from the address's bucket; a nil set of buckets allows all.
func (a *addressBuckets) take(addr string, now time.Time) bool {
	if a == nil || !limitsAddress(addr) {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sweep(now)
	b := a.byAddr[addr]
	if b == nil {
		b = &addressBucket{tokens: a.burst, at: now}
		a.byAddr[addr] = b
	}
	b.tokens = min(a.burst, b.tokens+now.Sub(b.at).Seconds()*a.perSecond)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep forgets the buckets that have filled up again (a new one starts full), at most
// once a minute, so the map holds only the addresses active lately.
func (a *addressBuckets) sweep(now time.Time) {
	if now.Sub(a.swept) < time.Minute {
		return
	}
	a.swept = now
	for addr, b := range a.byAddr {
		if b.tokens+now.Sub(b.at).Seconds()*a.perSecond >= a.burst {
			delete(a.byAddr, addr)
		}
	}
}

// Typing frames reach every agent page that shows the conversation. A socket tells the
// agents at most one change per typingGap; a change inside the gap is sent when the gap
// ends (so the agents end with the visitor's last state), and a repeated "typing" (the
// widget repeats it every 2 s while the visitor types, to keep the agents' indicator
// on) passes once per typingRefresh. However fast a page or a script sends typing
// frames, each agent page gets about one event a second from it.
const (
	typingGap     = time.Second
	typingRefresh = 1500 * time.Millisecond
)

// typingGate is one socket's typing state: what the agents were told last and when,
// and the state waiting for the gap to end.
type typingGate struct {
	mu      sync.Mutex
	told    bool
	at      time.Time
	want    bool
	convID  int64
	pending *time.Timer
	stopped bool
	tell    func(convID int64, on bool)
}

// set is a typing frame from the visitor.
func (g *typingGate) set(convID int64, on bool, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.want, g.convID = on, convID
	if g.pending != nil || g.stopped {
		return // the pending send takes the latest state
	}
	if on == g.told && (!on || now.Sub(g.at) < typingRefresh) {
		return // nothing new for the agents
	}
	if wait := typingGap - now.Sub(g.at); wait > 0 {
		g.pending = time.AfterFunc(wait, g.flush)
		return
	}
	g.send(now)
}

func (g *typingGate) flush() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pending = nil
	if g.stopped || g.want == g.told && (!g.want || time.Since(g.at) < typingRefresh) {
		return
	}
	g.send(time.Now())
}

// send tells the agents; g.mu is held.
func (g *typingGate) send(now time.Time) {
	g.told, g.at = g.want, now
	g.tell(g.convID, g.want)
}

// stop drops a pending change when the socket ends.
func (g *typingGate) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopped = true
	if g.pending != nil {
		g.pending.Stop()
		g.pending = nil
	}
}
