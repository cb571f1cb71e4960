package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// holdAll takes every slot of g, as a burst of requests would, until the test ends or
// the returned func is called.
func holdAll(t *testing.T, g *gate) (release func()) {
	t.Helper()
	n := cap(g.slots)
	for i := 0; i < n; i++ {
		if !g.enter() {
			t.Fatalf("slot %d of %d is taken before the test took it", i+1, n)
		}
	}
	released := false
	release = func() {
		if !released {
			released = true
			for i := 0; i < n; i++ {
				g.leave()
			}
		}
	}
	t.Cleanup(release)
	return release
}

// wantBusy checks a clear refusal: 503, Retry-After, and the JSON error of docs/API.md.
func wantBusy(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	if resp == nil {
		t.Fatalf("%s: no HTTP answer", what)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("%s: status %d, want 503: %s", what, resp.StatusCode, body)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("%s: a 503 without Retry-After", what)
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != "unavailable" || e.Error.Message == "" {
		t.Errorf("%s: want the JSON error with code unavailable and a message, got %s", what, body)
	}
}

// getWithToken calls the API and hands back the whole answer.
func (k *testKibo) getWithToken(path, token string) *http.Response {
	k.t.Helper()
	req, _ := http.NewRequest("GET", k.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		k.t.Fatal(err)
	}
	return resp
}

// While the expensive routes' slots are all busy, a list is refused at once with a
// clear 503, and the rest of Kibo goes on: cheap API calls, widget messages and their
// acks, new widget sockets.
func TestHeavyRoutesAreRefusedWhileTheRestIsServed(t *testing.T) {
	k := startKibo(t)
	v := k.visitor()
	token := v.hello("", nil)["token"].(string)
	v.say("before", "Hello before the burst")

	release := holdAll(t, k.srv.listSlots)
	for _, path := range []string{"/api/v1/conversations", "/api/v1/conversations?q=hello", "/api/v1/contacts"} {
		wantBusy(t, "GET "+path, k.getWithToken(path, k.agentToken))
	}
	// a report has slots of its own: the lists' burst does not hold it up, nor the
	// inbox counts
	k.api("GET", "/api/v1/reports", k.agentToken, nil, nil, 200)
	k.api("GET", "/api/v1/counts", k.agentToken, nil, nil, 200)
	releaseLong := holdAll(t, k.srv.longSlots)
	wantBusy(t, "GET /api/v1/reports", k.getWithToken("/api/v1/reports", k.agentToken))
	releaseLong()

	// cheap routes keep the big limit
	var me map[string]any
	k.api("GET", "/api/v1/me", k.agentToken, nil, &me, 200)
	if me["email"] != "sam@example.com" {
		t.Fatalf("me: %v", me)
	}
	// an open widget session is still acknowledged, and a new one gets its welcome
	ack := v.say("during", "Hello during the burst")
	convID := num(ack["conversation_id"])
	k.api("GET", fmt.Sprint("/api/v1/conversations/", convID), k.agentToken, nil, nil, 200)
	w := k.visitor()
	if wel := w.hello(token, nil); num(wel["conversation_id"]) != convID {
		t.Fatalf("the returning visitor's welcome: %v", wel)
	}

	release()
	var list struct {
		Conversations []map[string]any `json:"conversations"`
	}
	k.api("GET", "/api/v1/conversations", k.agentToken, nil, &list, 200)
	if len(list.Conversations) != 1 {
		t.Fatalf("after the burst: %d conversations, want 1", len(list.Conversations))
	}
}

// Past MaxHandshakes the upgrade is refused before it happens, with 503 and
// Retry-After; a socket that got through gives its slot back with its welcome.
func TestWidgetUpgradeCapRefusesClearly(t *testing.T) {
	k := startKibo(t)
	slots := k.srv.handshakeSlots
	release := holdAll(t, slots)
	_, resp, err := k.dialWidget("https://shop.example")
	if !errors.Is(err, websocket.ErrBadHandshake) {
		t.Fatalf("dial past the cap: %v, want a refused handshake", err)
	}
	wantBusy(t, "widget upgrade past the cap", resp)

	release()
	v := k.visitor()
	v.hello("", nil)
	v.say("c1", "Hello")
	// the welcome is out, so the slot is back (the writer gives it back just after it
	// wrote the frame: wait for that, not for a time)
	for deadline := time.Now().Add(5 * time.Second); slots.inUse() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d handshake slots still taken after the welcome", slots.inUse())
		}
	}
}

// When the chat's sockets are all taken, counting the handshakes under way, the
// upgrade gets a 503 before it costs anything, not an upgrade and then a close frame.
func TestWidgetUpgradeRefusedWhenTheChatIsFull(t *testing.T) {
	k := startKiboTuned(t, nil, func(c *Config) { c.Chat.MaxConnections = 2 })
	srv := k.srv
	upgrade := func() *http.Response {
		req := httptest.NewRequest("GET", "/widget/ws?inbox="+url.QueryEscape(k.publicKey), nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		resp, err := srv.App().Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// two handshakes under way fill a chat of two sockets
	h1, err := srv.admitWidget()
	if err != nil {
		t.Fatal(err)
	}
	h2, err := srv.admitWidget()
	if err != nil {
		t.Fatal(err)
	}
	resp := upgrade()
	wantBusy(t, "upgrade into a full chat", resp)
	h1.done()
	h1.done() // a second call gives nothing back twice
	h2.done()
	if n := srv.handshakeSlots.inUse(); n != 0 {
		t.Fatalf("%d handshake slots taken after both were given back", n)
	}
}

// A socket that upgrades and never says hello is closed at the handshake deadline
// with a reason, and gives its slot back: it cannot hold a handshake slot for the
// chat's whole idle timeout.
func TestWidgetWithoutHelloIsClosedAtTheHandshakeDeadline(t *testing.T) {
	k := startKiboTuned(t, nil, func(c *Config) { c.HandshakeTimeout = 300 * time.Millisecond })
	srv := k.srv
	u := "ws" + strings.TrimPrefix(k.base, "http") + "/widget/ws?inbox=" + url.QueryEscape(k.publicKey)
	c, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || !strings.Contains(ce.Text, "hello") {
		t.Fatalf("silent socket: %v, want close 1008 saying no hello came", err)
	}
	for deadline := time.Now().Add(5 * time.Second); srv.handshakeSlots.inUse() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d handshake slots still taken", srv.handshakeSlots.inUse())
		}
	}

	// a visitor who says hello in time keeps the socket past that deadline
	c2, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	v := &visitor{t: t, c: c2}
	v.hello("", nil)
	time.Sleep(2 * srv.cfg.HandshakeTimeout)
	v.say("c1", "still here")
}
