package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"kibo/server/alerts"
	"kibo/store"
)

// watchedSocket reads an agent socket in the background: its frames and how it ended.
type watchedSocket struct {
	c      *websocket.Conn
	mu     sync.Mutex
	frames []string
	closed chan struct{}
	code   int // the close code the server sent, 0 for none
}

func watch(t *testing.T, c *websocket.Conn) *watchedSocket {
	w := &watchedSocket{c: c, closed: make(chan struct{})}
	go func() {
		defer close(w.closed)
		for {
			c.SetReadDeadline(time.Now().Add(time.Minute))
			_, b, err := c.ReadMessage()
			w.mu.Lock()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					w.code = ce.Code
				}
				w.mu.Unlock()
				return
			}
			w.frames = append(w.frames, string(b))
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close() })
	return w
}

// closedWithin tells whether the server closed the socket within d, and with which code.
func (w *watchedSocket) closedWithin(d time.Duration) (bool, int) {
	select {
	case <-w.closed:
		w.mu.Lock()
		defer w.mu.Unlock()
		return true, w.code
	case <-time.After(d):
		return false, 0
	}
}

// sees waits up to d for a frame holding text.
func (w *watchedSocket) sees(text string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		w.mu.Lock()
		for _, f := range w.frames {
			if strings.Contains(f, text) {
				w.mu.Unlock()
				return true
			}
		}
		w.mu.Unlock()
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openSocket opens /api/v1/ws with the given headers and waits for the hello.
func (k *testKibo) openSocket(h http.Header) *watchedSocket {
	k.t.Helper()
	h.Set("Origin", k.base)
	c, resp, err := websocket.DefaultDialer.Dial(strings.Replace(k.base, "http", "ws", 1)+"/api/v1/ws", h)
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		k.t.Fatalf("open socket: %v (%d)", err, code)
	}
	w := watch(k.t, c)
	if !w.sees(`"type":"hello"`, 5*time.Second) {
		k.t.Fatal("no hello on the agent socket")
	}
	return w
}

func (k *testKibo) tokenSocket(token string) *watchedSocket {
	return k.openSocket(http.Header{"Authorization": {"Bearer " + token}})
}

// newToken makes an API token for an agent straight in the store: its id and secret.
func (k *testKibo) newToken(agentID int64) (int64, string) {
	k.t.Helper()
	secret := NewAPIToken()
	tok, err := k.st.CreateAPIToken(context.Background(), agentID, "test", secret)
	if err != nil {
		k.t.Fatal(err)
	}
	return tok.ID, secret
}

// browserSession signs in through the login form: the session cookie, a client that
// carries it, and the CSRF token of its pages.
type browserSession struct {
	cookie string
	client *http.Client
	csrf   string
}

func (k *testKibo) signIn(email, password string) *browserSession {
	k.t.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(k.base+"/login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		k.t.Fatal(err)
	}
	resp.Body.Close()
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			cookie = c.Value
		}
	}
	if resp.StatusCode != 303 || cookie == "" {
		k.t.Fatalf("sign in as %s: %d", email, resp.StatusCode)
	}
	resp, err = client.Get(k.base + "/settings")
	if err != nil {
		k.t.Fatal(err)
	}
	var page strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		page.Write(buf[:n])
		if err != nil {
			break
		}
	}
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`).FindStringSubmatch(page.String())
	if m == nil {
		k.t.Fatalf("no CSRF token on the settings page (%d)", resp.StatusCode)
	}
	return &browserSession{cookie: cookie, client: client, csrf: m[1]}
}

func (k *testKibo) sessionSocket(b *browserSession) *watchedSocket {
	return k.openSocket(http.Header{"Cookie": {sessionCookie + "=" + b.cookie}})
}

// do sends a JSON request with the session and its CSRF token.
func (b *browserSession) do(t *testing.T, method, u, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", b.csrf)
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// An agent's socket dies with their token, their session or their access, within a
// second, and only the sockets that authority opened.
func TestAgentSocketsCloseWhenTheirAuthorityEnds(t *testing.T) {
	k := startKibo(t)
	const soon = time.Second
	mustClose := func(what string, w *watchedSocket, code int) {
		t.Helper()
		closed, got := w.closedWithin(soon)
		if !closed {
			t.Fatalf("%s: the socket is still open a second later", what)
		}
		if got != code {
			t.Errorf("%s: close code %d, want %d", what, got, code)
		}
	}
	mustStay := func(what string, w *watchedSocket) {
		t.Helper()
		if closed, code := w.closedWithin(100 * time.Millisecond); closed {
			t.Fatalf("%s: closed (code %d) but its authority holds", what, code)
		}
	}

	// a revoked token closes its own socket, not the agent's others
	id1, tok1 := k.newToken(k.agent.ID)
	_, tok2 := k.newToken(k.agent.ID)
	s1, s2 := k.tokenSocket(tok1), k.tokenSocket(tok2)
	k.api("DELETE", fmt.Sprintf("/api/v1/tokens/%d", id1), k.agentToken, nil, nil, 204)
	mustClose("revoked token", s1, closeSignedOut)
	mustStay("another token of the same agent", s2)
	k.api("GET", "/api/v1/me", tok1, nil, nil, 401) // at once, though it was just used

	// logout closes the session's socket, not another session's
	b1 := k.signIn("sam@example.com", "agent-password")
	b2 := k.signIn("sam@example.com", "agent-password")
	w1, w2 := k.sessionSocket(b1), k.sessionSocket(b2)
	if code := b1.do(t, "POST", k.base+"/logout", ""); code != 303 {
		t.Fatalf("logout: %d", code)
	}
	mustClose("logout", w1, closeSignedOut)
	// the old cookie, sent again as a thief would, at once though it was just used
	req, _ := http.NewRequest("GET", k.base+"/api/v1/me", nil)
	req.Header.Set("Cookie", sessionCookie+"="+b1.cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("a session after its logout: %d", resp.StatusCode)
	}
	mustStay("another session", w2)
	mustStay("a token after a logout", s2)

	// disabling closes every socket of the agent and no other agent's
	admin := k.tokenSocket(k.adminToken)
	k.api("PATCH", fmt.Sprintf("/api/v1/agents/%d", k.agent.ID), k.adminToken, map[string]any{"disabled": true}, nil, 200)
	mustClose("disabled (session)", w2, closeSignedOut)
	mustClose("disabled (token)", s2, closeSignedOut)
	mustStay("an admin when an agent is disabled", admin)
	k.api("GET", "/api/v1/me", tok2, nil, nil, 401)
	k.api("PATCH", fmt.Sprintf("/api/v1/agents/%d", k.agent.ID), k.adminToken, map[string]any{"disabled": false}, nil, 200)

	// an admin resetting the password closes all of them and ends sessions and tokens
	b3 := k.signIn("sam@example.com", "agent-password")
	w3, s3 := k.sessionSocket(b3), k.tokenSocket(tok2)
	k.api("PATCH", fmt.Sprintf("/api/v1/agents/%d", k.agent.ID), k.adminToken, map[string]any{"password": "reset-by-admin"}, nil, 200)
	mustClose("password reset (session)", w3, closeSignedOut)
	mustClose("password reset (token)", s3, closeSignedOut)
	k.api("GET", "/api/v1/me", tok2, nil, nil, 401)
	if code := b3.do(t, "GET", k.base+"/api/v1/me", ""); code != 401 {
		t.Fatalf("a session after a password reset: %d", code)
	}

	// a new role: the pages reconnect and hear what the new role may hear
	b4 := k.signIn("sam@example.com", "reset-by-admin")
	w4 := k.sessionSocket(b4)
	k.api("PATCH", fmt.Sprintf("/api/v1/agents/%d", k.agent.ID), k.adminToken, map[string]any{"role": "admin"}, nil, 200)
	mustClose("new role", w4, closeAccessChanged)
	k.sessionSocket(b4) // the session holds: it reconnects
	mustStay("the admin's own socket", admin)
}

// Changing one's own password needs the current one; it keeps the session that did it
// and ends the others and every API token. An admin resets another's without it.
func TestOwnPasswordChangeNeedsTheCurrentOneAndEndsTheRest(t *testing.T) {
	k := startKibo(t)
	path := fmt.Sprintf("/api/v1/agents/%d", k.agent.ID)
	k.api("PATCH", path, k.agentToken, map[string]any{"password": "new-password-1"}, nil, 422)
	k.api("PATCH", path, k.agentToken, map[string]any{"password": "new-password-1", "current_password": "wrong-password"}, nil, 403)
	k.api("GET", "/api/v1/me", k.agentToken, nil, nil, 200) // nothing changed
	here := k.signIn("sam@example.com", "agent-password")
	there := k.signIn("sam@example.com", "agent-password")
	hereWS, thereWS := k.sessionSocket(here), k.sessionSocket(there)
	if code := here.do(t, "PATCH", k.base+"/api/v1"+strings.TrimPrefix(path, "/api/v1"), `{"password":"new-password-1","current_password":"agent-password"}`); code != 200 {
		t.Fatalf("own password change with the current one: %d", code)
	}
	if code := here.do(t, "GET", k.base+"/api/v1/me", ""); code != 200 {
		t.Fatalf("the session that changed the password: %d", code)
	}
	if code := there.do(t, "GET", k.base+"/api/v1/me", ""); code != 401 {
		t.Fatalf("another session after the change: %d", code)
	}
	k.api("GET", "/api/v1/me", k.agentToken, nil, nil, 401) // tokens are revoked
	if closed, code := thereWS.closedWithin(time.Second); !closed || code != closeSignedOut {
		t.Fatalf("the other session's socket: closed %v, code %d", closed, code)
	}
	if closed, code := hereWS.closedWithin(time.Second); !closed || code != closeAccessChanged {
		t.Fatalf("this session's socket: closed %v, code %d", closed, code)
	}
	k.sessionSocket(here) // and reconnects
	// an admin resets it without knowing it; so does an admin their own only with it
	k.api("PATCH", path, k.adminToken, map[string]any{"password": "new-password-2"}, nil, 200)
	k.signIn("sam@example.com", "new-password-2")
	k.api("PATCH", fmt.Sprintf("/api/v1/agents/%d", k.admin.ID), k.adminToken, map[string]any{"password": "new-password-3"}, nil, 422)
}

// A credential ended outside this process (the CLI, expiry) closes its socket at
// the next check.
func TestAgentSocketNoticesACredentialEndedElsewhere(t *testing.T) {
	k := startKiboTuned(t, nil, func(c *Config) { c.CredentialRecheck = 100 * time.Millisecond })
	id, tok := k.newToken(k.agent.ID)
	w := k.tokenSocket(tok)
	if closed, _ := w.closedWithin(300 * time.Millisecond); closed {
		t.Fatal("closed while the token holds")
	}
	if err := k.st.RevokeAPIToken(context.Background(), id, 0); err != nil { // as another process would
		t.Fatal(err)
	}
	if closed, code := w.closedWithin(time.Second); !closed || code != closeSignedOut {
		t.Fatalf("after a revocation in the store: closed %v, code %d", closed, code)
	}
}

// A notification reaches only the agents it is for, live and on replay.
func TestNotificationsReachOnlyTheirAgents(t *testing.T) {
	k := startKibo(t)
	agentWS, adminWS := k.tokenSocket(k.agentToken), k.tokenSocket(k.adminToken)
	before := k.srv.Hub().Current()
	admins, _, err := alerts.Recipients(context.Background(), k.st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.srv.alerts.Raise(context.Background(), "test", "for-admins", "subject", "for the admins only", "/inbox", admins); err != nil {
		t.Fatal(err)
	}
	if _, err := k.srv.alerts.Raise(context.Background(), "test", "for-sam", "subject", "for Sam only", "/inbox", []*store.Agent{k.agent}); err != nil {
		t.Fatal(err)
	}
	k.srv.events.ConversationUpdated(&store.Conversation{ID: 1}) // a marker everyone gets
	if !adminWS.sees("for the admins only", 2*time.Second) || !agentWS.sees(`"conversation.updated"`, 2*time.Second) {
		t.Fatal("the events did not arrive")
	}
	if agentWS.sees("for the admins only", 0) || adminWS.sees("for Sam only", 0) || !agentWS.sees("for Sam only", 0) {
		t.Fatal("a notification reached an agent it was not for")
	}
	// and a page that reconnects from before gets the same
	var replay struct{ frames []string }
	c := k.agentSocket(before)
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			break
		}
		replay.frames = append(replay.frames, string(b))
	}
	all := strings.Join(replay.frames, "\n")
	if strings.Contains(all, "for the admins only") || !strings.Contains(all, "for Sam only") {
		t.Fatalf("replay to the agent: %s", all)
	}
}
