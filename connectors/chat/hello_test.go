package chat

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"kibo/connectors"
)

// memSocket is a Socket in memory: the test writes the visitor's frames to in and
// reads what the server wrote.
type memSocket struct {
	in     chan []byte
	mu     sync.Mutex
	out    [][]byte
	closed []int // close codes sent
	done   chan struct{}
	once   sync.Once
}

func newMemSocket() *memSocket {
	return &memSocket{in: make(chan []byte, 8), done: make(chan struct{})}
}

func (m *memSocket) ReadMessage() (int, []byte, error) {
	select {
	case b := <-m.in:
		return textMessage, b, nil
	case <-m.done:
		return 0, nil, io.EOF
	}
}
func (m *memSocket) WriteMessage(_ int, b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.out = append(m.out, append([]byte(nil), b...))
	return nil
}
func (m *memSocket) WriteControl(typ int, b []byte, _ time.Time) error {
	if typ == closeMessage && len(b) >= 2 {
		m.mu.Lock()
		m.closed = append(m.closed, int(b[0])<<8|int(b[1]))
		m.mu.Unlock()
	}
	return nil
}
func (m *memSocket) SetReadLimit(int64)                {}
func (m *memSocket) SetReadDeadline(time.Time) error   { return nil }
func (m *memSocket) SetWriteDeadline(time.Time) error  { return nil }
func (m *memSocket) SetPongHandler(func(string) error) {}
func (m *memSocket) UnderlyingConn() net.Conn          { return nil }
func (m *memSocket) Close() error                      { m.once.Do(func() { close(m.done) }); return nil }

// flakyBackend fails its lookups with a store error when down is set.
type flakyBackend struct {
	down bool
}

var errStoreDown = errors.New("database is locked")

func (b *flakyBackend) Conversation(context.Context, int64, connectors.Identity) (int64, error) {
	if b.down {
		return 0, errStoreDown
	}
	return 7, nil
}
func (b *flakyBackend) History(context.Context, int64) ([]HistoryMessage, error) { return nil, nil }
func (b *flakyBackend) Incident(context.Context) (any, error)                    { return nil, nil }
func (b *flakyBackend) VisitorTyping(int64, int64, string, bool)                 {}
func (b *flakyBackend) VisitorRead(int64, int64)                                 {}

// serveHello runs one socket through its hello and returns the error code the server
// sent (or "" for a welcome) and the close code.
func serveHello(t *testing.T, b Backend) (string, int) {
	t.Helper()
	srv := New(b, Limits{})
	sock := newMemSocket()
	done := make(chan struct{})
	go func() { srv.Serve(sock, &Inbox{ID: 1, Name: "Web"}, "203.0.113.5"); close(done) }()
	hello, _ := json.Marshal(map[string]any{"type": "hello", "token": "a-returning-visitors-token"})
	sock.in <- hello
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		sock.Close()
		<-done
	}
	sock.mu.Lock()
	defer sock.mu.Unlock()
	code, closeCode := "", 0
	for _, b := range sock.out {
		var f map[string]any
		json.Unmarshal(b, &f)
		if f["type"] == "error" && code == "" {
			code, _ = f["code"].(string)
		}
	}
	if len(sock.closed) > 0 {
		closeCode = sock.closed[0]
	}
	return code, closeCode
}

// When Kibo's store fails during a returning visitor's hello, the visitor is told to
// try again (rate_limited, close 1013), not that they are unauthorized: on
// unauthorized the widget throws its token away and the visitor loses their chat.
func TestHelloDuringAStoreFailureKeepsTheVisitor(t *testing.T) {
	if code, closeCode := serveHello(t, &flakyBackend{down: true}); code != "rate_limited" || closeCode != closeTryAgainLater {
		t.Fatalf("store down: error %q, close %d; want rate_limited and %d", code, closeCode, closeTryAgainLater)
	}
	if code, _ := serveHello(t, &flakyBackend{}); code != "" {
		t.Fatalf("store up: error %q, want a welcome", code)
	}
}
