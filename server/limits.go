package server

// Admission control. Go cannot give the store's writer, which acknowledges the open
// chats' messages, priority over a burst of list queries or new sockets; so under a
// spike Kibo admits less work, by what it costs:
//
//   - every API request counts against MaxInFlight (shed);
//   - the expensive routes, whose cost grows with the data, also need one of a few
//     slots tied to the cores (MaxHeavy): a burst of them can keep about half the
//     machine busy, and the rest stays for the open sockets and the writer. They come in
//     two classes with slots of their own, so that a long report or export never holds
//     up the lists and searches agents run all day;
//   - a new widget socket needs a handshake slot from its upgrade request until its
//     welcome frame, apart from the cap on open sockets (admitWidget).
//
// Past a limit the answer is quick and clear: 503 with Retry-After (errors.go), never a
// stall.

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"kibo/connectors/chat"
)

// gate is a counting semaphore with a bounded wait.
type gate struct {
	slots chan struct{}
	wait  time.Duration
}

func newGate(n int, wait time.Duration) *gate {
	return &gate{slots: make(chan struct{}, n), wait: wait}
}

// enter takes a slot, waiting at most g.wait for one; it tells whether it got one.
// Waiters are served in order of arrival.
func (g *gate) enter() bool {
	select {
	case g.slots <- struct{}{}:
		return true
	default:
	}
	if g.wait <= 0 {
		return false
	}
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

func (g *gate) leave() { <-g.slots }

// inUse is the number of slots taken.
func (g *gate) inUse() int { return len(g.slots) }

// limitDefaults fills in the limits the operator left at zero, from the machine.
func limitDefaults(cfg *Config) {
	cores := runtime.GOMAXPROCS(0)
	if cfg.MaxHeavy <= 0 {
		cfg.MaxHeavy = max(1, cores/2)
	}
	if cfg.HeavyWait <= 0 {
		cfg.HeavyWait = 100 * time.Millisecond
	}
	if cfg.MaxHandshakes <= 0 {
		// A handshake costs little CPU (1-2 % of the server in the spike's profile); the
		// cap only bounds what a flood can hold open. 64 per core refused some of 200
		// visitors connecting at once (the conformance probe's load), which is no spike.
		cfg.MaxHandshakes = 512 * cores
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	// Per remote address (the chat never applies them to loopback: see chat.Limits):
	// a generous cap on open sockets, for an office behind one address with many tabs,
	// and a token bucket of new conversations, so that a script opening sockets can't
	// fill the inbox (50 sockets from one address opened 50 conversations in a second).
	// Zero means these defaults, a negative value none.
	cfg.Chat.PerIPConnections = orDefault(cfg.Chat.PerIPConnections, 100)
	switch r := &cfg.Chat.NewConversationsPerMinute; {
	case *r < 0:
		*r = 0
	case *r == 0:
		*r = 6
	}
	cfg.Chat.NewConversationsBurst = orDefault(cfg.Chat.NewConversationsBurst, 20)
}

// orDefault is v, or def when v is zero, or zero (off) when v is negative.
func orDefault(v, def int) int {
	switch {
	case v < 0:
		return 0
	case v == 0:
		return def
	}
	return v
}

func errBusy(msg string) error {
	return &apiError{fiber.StatusServiceUnavailable, "unavailable", msg}
}

// shed refuses API requests past MaxInFlight with 503 and Retry-After, so a spike gets
// a clear answer instead of a stall; the expensive routes have tighter limits of their
// own (admit, limits.go).
func (s *Server) shed(c *fiber.Ctx) error {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	if n > int64(s.cfg.MaxInFlight) {
		s.metrics.shed.Add(1)
		return errBusy("Kibo is busy: try again in a moment")
	}
	return c.Next()
}

// admit guards the expensive routes of one class: a request runs once one of the
// class's slots is free, after waiting at most HeavyWait; otherwise the answer is 503
// with Retry-After.
func (s *Server) admit(g *gate) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !g.enter() {
			s.metrics.shed.Add(1)
			return errBusy("Kibo is busy: try again in a moment")
		}
		defer g.leave()
		return c.Next()
	}
}

// admitWidget takes a handshake slot for a new widget socket, or refuses it before the
// upgrade: when the chat's sockets are all taken (counting the handshakes under way,
// which the chat does not see yet) or MaxHandshakes are under way.
func (s *Server) admitWidget() (*handshake, error) {
	if max := s.cfg.Chat.MaxConnections; max > 0 && s.chat.Connections()+s.handshakeSlots.inUse() >= max {
		s.metrics.shed.Add(1)
		return nil, errBusy("the chat is full: try again later")
	}
	if !s.handshakeSlots.enter() {
		s.metrics.shed.Add(1)
		return nil, errBusy("Kibo is busy: try again in a moment")
	}
	h := &handshake{slots: s.handshakeSlots, deadline: time.Now().Add(s.cfg.HandshakeTimeout)}
	// the slot comes back even if the upgrade never reaches the socket handler
	h.timer = time.AfterFunc(s.cfg.HandshakeTimeout, h.expire)
	return h, nil
}

// handshake is a widget socket from its upgrade request until its first frame out
// (the welcome, or the error that ends it): it holds a handshake slot until then.
type handshake struct {
	slots    *gate
	deadline time.Time
	timer    *time.Timer
	once     sync.Once
	hello    atomic.Bool // the visitor's first frame arrived
}

// done gives the slot back; it may be called any number of times.
func (h *handshake) done() {
	h.once.Do(func() {
		h.timer.Stop()
		h.slots.leave()
	})
}

// expire gives the slot back at the deadline (it must not touch h.timer, which its
// own goroutine may not see set).
func (h *handshake) expire() { h.once.Do(h.slots.leave) }

// handshakeSocket is the chat's view of a new widget socket: it gives the handshake
// slot back with the first frame the chat writes, and gives the visitor until the
// handshake deadline, not the chat's idle timeout, to send the hello.
type handshakeSocket struct {
	chat.Socket
	h *handshake
}

func (w handshakeSocket) ReadMessage() (int, []byte, error) {
	typ, b, err := w.Socket.ReadMessage()
	if err != nil && !w.h.hello.Load() && time.Now().After(w.h.deadline) {
		// a close frame that says why, ahead of the chat's own plain one
		w.Socket.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "no hello in time"), time.Now().Add(time.Second))
	}
	if err == nil {
		w.h.hello.Store(true)
	}
	return typ, b, err
}

func (w handshakeSocket) SetReadDeadline(t time.Time) error {
	if !w.h.hello.Load() && t.After(w.h.deadline) {
		t = w.h.deadline
	}
	return w.Socket.SetReadDeadline(t)
}

func (w handshakeSocket) WriteMessage(typ int, data []byte) error {
	err := w.Socket.WriteMessage(typ, data)
	w.h.done()
	return err
}

func (w handshakeSocket) WriteControl(typ int, data []byte, deadline time.Time) error {
	err := w.Socket.WriteControl(typ, data, deadline)
	if typ == websocket.CloseMessage {
		w.h.done()
	}
	return err
}
