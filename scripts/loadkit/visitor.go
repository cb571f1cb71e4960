package loadkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// Message is one message a visitor wrote, as the visitor knows it. CID, Text and Sent
// never change; the ack fields are written under the fleet's lock (read them through
// Fleet.Messages while visitors run).
type Message struct {
	CID   string
	Text  string
	Sent  time.Time // first send
	last  time.Time // latest (re)send, under the visitor's lock
	Acked bool
	AckAt time.Time
	ID    int64 // the server's id, from the ack
	// Sends counts how often it went out (1 + resends); the visitor's socket goroutine
	// owns it.
	Sends int
}

// Fleet is what all visitors of a run share: counters, latencies, the window in which
// samples count, and (for the crash and backup checks) every message written.
type Fleet struct {
	Base, Key string
	// RunID prefixes every client_id so runs never collide.
	RunID string
	// Rate is messages per second per visitor; 0 sends the next message as soon as
	// the previous one is acknowledged (closed loop).
	Rate float64
	// Count caps the messages of each visitor (0: no cap).
	Count int
	// AckTimeout: after a rate_limited error frame the outbox is sent again this long
	// later on the same socket, as the widget does.
	AckTimeout time.Duration
	// StallTimeout, when set, resends the outbox when the oldest message has had no
	// ack for this long without any error (counted as ack_stalled). Off by default:
	// the widget waits for a reconnect.
	StallTimeout time.Duration
	// Filler is appended to every message text (realistic size, searchable words).
	Filler string
	// Track keeps every message in Messages (crash and backup checks).
	Track bool
	// OnAck, when set, is called for every first acknowledgement.
	OnAck func(m *Message, at time.Time)

	Errors Errors
	AckLat Latencies // send→ack of messages first sent inside the window
	Sent   atomic.Int64
	Acked  atomic.Int64
	// AckedInWindow counts acknowledgements received inside the window.
	AckedInWindow atomic.Int64
	Connected     atomic.Int64 // sockets that are through hello/welcome now
	Reconnects    atomic.Int64

	winStart, winEnd atomic.Int64

	mu       sync.Mutex
	messages []*Message
	closes   map[string]int // close frames by code and reason
}

// NewRunID is a short random id for client_ids.
func NewRunID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// SetWindow sets the interval whose samples count (end zero: open).
func (f *Fleet) SetWindow(start, end time.Time) {
	f.winStart.Store(start.UnixNano())
	if end.IsZero() {
		f.winEnd.Store(0)
	} else {
		f.winEnd.Store(end.UnixNano())
	}
}

// InWindow tells whether t lies in the window.
func (f *Fleet) InWindow(t time.Time) bool {
	s, e := f.winStart.Load(), f.winEnd.Load()
	n := t.UnixNano()
	return s != 0 && n >= s && (e == 0 || n < e)
}

// MessageState is a copy of what a tracked message's visitor knows of it.
type MessageState struct {
	CID, Text string
	Sent      time.Time
	Acked     bool
	AckAt     time.Time
	ID        int64
}

// Messages returns a copy of every tracked message, safe to read while visitors run.
func (f *Fleet) Messages() []MessageState {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]MessageState, len(f.messages))
	for i, m := range f.messages {
		out[i] = MessageState{CID: m.CID, Text: m.Text, Sent: m.Sent, Acked: m.Acked, AckAt: m.AckAt, ID: m.ID}
	}
	return out
}

// Closes returns the close frames seen, by "code reason".
func (f *Fleet) Closes() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.closes {
		out[k] = v
	}
	return out
}

func (f *Fleet) noteClose(code int, reason string) {
	f.mu.Lock()
	if f.closes == nil {
		f.closes = map[string]int{}
	}
	f.closes[fmt.Sprintf("%d %s", code, reason)]++
	f.mu.Unlock()
}

// Marker starts every load message's text: "lg:<client_id>:<send time in unix ns> ".
// The agent socket reads the send time back from the text.
const Marker = "lg:"

// Visitor is one widget visitor: a token that keeps its conversation across
// reconnects, and an outbox of unacknowledged messages resent after every reconnect
// with the same client_id, as widget.js does.
type Visitor struct {
	N     int
	Fleet *Fleet
	Token string

	mu      sync.Mutex
	pending []*Message
	retryAt time.Time // resend the outbox then (after a rate_limited error)
	made    int
	ackCh   chan struct{}
}

// Pending is the number of unacknowledged messages.
func (v *Visitor) Pending() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.pending)
}

// Dialer is the websocket dialer of every tool: small buffers, so that ten thousand
// sockets fit in the client too.
var Dialer = &websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 2048, WriteBufferSize: 2048, Proxy: nil}

// WidgetURL is the widget socket's address for an inbox key.
func WidgetURL(base, key string) string {
	return strings.Replace(base, "http", "ws", 1) + "/widget/ws?inbox=" + url.QueryEscape(key)
}

// DialKind names a dial failure for the error counts.
func DialKind(err error, resp *http.Response) string {
	if resp != nil {
		return fmt.Sprintf("dial_http_%d", resp.StatusCode)
	}
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "dial_refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "dial_reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "dial_no_port"
	case errors.Is(err, syscall.EMFILE):
		return "dial_emfile"
	case errors.As(err, &ne) && ne.Timeout():
		return "dial_timeout"
	}
	return "dial_error"
}

// ReadKind names a read failure; code is the close code when there was a close frame.
func ReadKind(err error) (kind string, code int, reason string) {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Sprintf("close_%d", ce.Code), ce.Code, ce.Text
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "read_timeout", 0, ""
	}
	return "conn_lost", 0, ""
}

// Welcome is the part of the welcome frame the tools read.
type Welcome struct {
	Type     string `json:"type"`
	Token    string `json:"token"`
	Code     string `json:"code"`
	Messages []struct {
		ClientID string `json:"client_id"`
	} `json:"messages"`
}

// Hello dials the widget socket and goes through hello → welcome.
func Hello(ctx context.Context, base, key, token string) (*websocket.Conn, *Welcome, error) {
	h := http.Header{}
	h.Set("Origin", base)
	c, resp, err := Dialer.DialContext(ctx, WidgetURL(base, key), h)
	if err != nil {
		return nil, nil, &KindError{DialKind(err, resp), err}
	}
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.WriteJSON(map[string]any{"type": "hello", "token": token, "page": "http://127.0.0.1/loadtest"}); err != nil {
		c.Close()
		return nil, nil, &KindError{"hello_write", err}
	}
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			c.Close()
			k, _, _ := ReadKind(err)
			return nil, nil, &KindError{"hello_" + k, err}
		}
		var w Welcome
		if json.Unmarshal(b, &w) != nil {
			continue
		}
		switch w.Type {
		case "welcome":
			c.SetReadDeadline(time.Time{})
			return c, &w, nil
		case "error":
			c.Close()
			return nil, nil, &KindError{"hello_error_" + w.Code, fmt.Errorf("error frame %s", b)}
		}
	}
}

// KindError is an error with a short kind for the counts.
type KindError struct {
	Kind string
	Err  error
}

func (e *KindError) Error() string { return e.Kind + ": " + e.Err.Error() }
func (e *KindError) Unwrap() error { return e.Err }

// ErrKind is the kind of a KindError, or "error".
func ErrKind(err error) string {
	var ke *KindError
	if errors.As(err, &ke) {
		return ke.Kind
	}
	return "error"
}

// Run writes messages until gen ends, then keeps reconnecting and resending until
// every message is acknowledged or life ends.
func (v *Visitor) Run(gen, life context.Context) {
	f := v.Fleet
	if f.AckTimeout <= 0 {
		f.AckTimeout = 5 * time.Second
	}
	v.ackCh = make(chan struct{}, 1)
	backoff := 50 * time.Millisecond
	first := true
	for life.Err() == nil {
		if gen.Err() != nil && v.Pending() == 0 {
			return
		}
		if !first {
			f.Reconnects.Add(1)
		}
		first = false
		ok := v.session(gen, life)
		if ok {
			backoff = 50 * time.Millisecond
		} else if backoff < 2*time.Second {
			backoff *= 2
		}
		if gen.Err() != nil && v.Pending() == 0 {
			return
		}
		// back off with jitter, as the widget does
		select {
		case <-life.Done():
			return
		case <-time.After(backoff/2 + time.Duration(mrand.Int64N(int64(backoff)))):
		}
	}
}

type frameIn struct {
	Type     string `json:"type"`
	ClientID string `json:"client_id"`
	ID       int64  `json:"id"`
	Code     string `json:"code"`
}

// session is one socket: hello, resend what is pending, then write at the rate until
// the socket fails or the run ends. It reports whether the socket got as far as a
// welcome.
func (v *Visitor) session(gen, life context.Context) bool {
	f := v.Fleet
	dctx, cancel := context.WithTimeout(life, 15*time.Second)
	c, w, err := Hello(dctx, f.Base, f.Key, v.Token)
	cancel()
	if err != nil {
		if life.Err() == nil {
			f.Errors.Add(ErrKind(err))
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				f.noteClose(ce.Code, ce.Text)
			}
		}
		return false
	}
	defer c.Close()
	f.Connected.Add(1)
	defer f.Connected.Add(-1)
	v.Token = w.Token
	// a pending message already in the history was committed: its ack got lost
	if len(w.Messages) > 0 {
		inHistory := map[string]bool{}
		for _, m := range w.Messages {
			if m.ClientID != "" {
				inHistory[m.ClientID] = true
			}
		}
		now := time.Now()
		v.mu.Lock()
		kept := v.pending[:0]
		for _, m := range v.pending {
			if inHistory[m.CID] {
				v.ackedLocked(m, 0, now)
				continue
			}
			kept = append(kept, m)
		}
		v.pending = kept
		v.mu.Unlock()
	}

	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				if life.Err() == nil {
					// a close after the run ended is the answer to our own close
					if k, code, reason := ReadKind(err); gen.Err() == nil {
						f.Errors.Add(k)
						if code != 0 {
							f.noteClose(code, reason)
						}
					}
				}
				return
			}
			var fr frameIn
			if json.Unmarshal(b, &fr) != nil {
				f.Errors.Add("bad_frame")
				continue
			}
			switch fr.Type {
			case "ack":
				v.ack(fr.ClientID, fr.ID)
			case "error":
				f.Errors.Add("frame_" + fr.Code)
				if fr.Code == "rate_limited" {
					v.mu.Lock()
					if v.retryAt == (time.Time{}) {
						v.retryAt = time.Now().Add(f.AckTimeout)
					}
					v.mu.Unlock()
				}
			}
		}
	}()

	write := func(m *Message) error {
		v.mu.Lock()
		m.last = time.Now()
		v.mu.Unlock()
		m.Sends++
		if m.Sends > 1 {
			f.Errors.Add("resent")
		}
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		return c.WriteJSON(map[string]any{"type": "message", "client_id": m.CID, "text": m.Text})
	}
	// resend the outbox first, in order
	v.mu.Lock()
	resend := append([]*Message(nil), v.pending...)
	v.mu.Unlock()
	for _, m := range resend {
		if write(m) != nil {
			c.Close()
			<-readerDone
			return true
		}
	}

	var tick <-chan time.Time
	if f.Rate > 0 {
		period := time.Duration(float64(time.Second) / f.Rate)
		// spread the visitors over the period so they don't write in step
		t := time.NewTicker(period)
		defer t.Stop()
		tick = t.C
	}
	check := time.NewTicker(250 * time.Millisecond)
	defer check.Stop()
	next := func() error {
		if gen.Err() != nil || (f.Count > 0 && v.made >= f.Count) {
			return nil
		}
		now := time.Now()
		v.made++
		cid := fmt.Sprintf("%s-%d-%d", f.RunID, v.N, v.made)
		m := &Message{CID: cid, Sent: now, Text: fmt.Sprintf("%s%s:%d %s", Marker, cid, now.UnixNano(), f.Filler)}
		v.mu.Lock()
		v.pending = append(v.pending, m)
		v.mu.Unlock()
		if f.Track {
			f.mu.Lock()
			f.messages = append(f.messages, m)
			f.mu.Unlock()
		}
		f.Sent.Add(1)
		return write(m)
	}
	if f.Rate == 0 && v.Pending() == 0 {
		if next() != nil {
			c.Close()
			<-readerDone
			return true
		}
	}
	for {
		var err error
		select {
		case <-readerDone:
			return true
		case <-life.Done():
			c.Close()
			<-readerDone
			return true
		case <-tick:
			err = next()
		case <-v.ackCh:
			if f.Rate == 0 && v.Pending() == 0 {
				err = next()
			}
		case <-check.C:
			// after a rate_limited error (not stored yet, or too fast) the widget sends
			// its outbox again a few seconds later; so do we, once AckTimeout has passed
			// (the server answers a repeated client_id with the same ack)
			now := time.Now()
			v.mu.Lock()
			var late []*Message
			if v.retryAt != (time.Time{}) && now.After(v.retryAt) {
				v.retryAt = time.Time{}
				late = append(late, v.pending...)
			} else if len(v.pending) > 0 && now.Sub(v.pending[0].last) > f.StallTimeout && f.StallTimeout > 0 {
				// no ack for a long time and no error: count it, and resend once more
				f.Errors.Add("ack_stalled")
				late = append(late, v.pending...)
			}
			v.mu.Unlock()
			for _, m := range late {
				if err = write(m); err != nil {
					break
				}
			}
		}
		if err != nil {
			f.Errors.Add("write_failed")
			c.Close()
			<-readerDone
			return true
		}
		if gen.Err() != nil && v.Pending() == 0 {
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			c.Close()
			<-readerDone
			return true
		}
	}
}

func (v *Visitor) ack(cid string, id int64) {
	now := time.Now()
	v.mu.Lock()
	for i, m := range v.pending {
		if m.CID == cid {
			v.ackedLocked(m, id, now)
			v.pending = append(v.pending[:i], v.pending[i+1:]...)
			break
		}
	}
	v.mu.Unlock()
	select {
	case v.ackCh <- struct{}{}:
	default:
	}
}

// ackedLocked records a first acknowledgement (a repeated ack finds nothing pending).
func (v *Visitor) ackedLocked(m *Message, id int64, now time.Time) {
	f := v.Fleet
	f.mu.Lock()
	m.Acked, m.AckAt, m.ID = true, now, id
	f.mu.Unlock()
	f.Acked.Add(1)
	if f.InWindow(now) {
		f.AckedInWindow.Add(1)
	}
	if f.InWindow(m.Sent) {
		f.AckLat.Add(now.Sub(m.Sent))
	}
	if f.OnAck != nil {
		f.OnAck(m, now)
	}
}

// Filler returns about n bytes of support-desk words, for realistic message sizes.
func Filler(n int) string {
	words := strings.Fields("hello my order has not arrived yet could you check the tracking number please " +
		"I was charged twice for the subscription and need a refund the invoice shows the wrong address " +
		"the app crashes when I open settings login does not work after the password reset thanks")
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[mrand.IntN(len(words))])
	}
	return b.String()
}
