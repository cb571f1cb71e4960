package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"kibo/connectors"
	"kibo/connectors/chat"
	"kibo/connectors/email"
	"kibo/connectors/messenger"
	"kibo/connectors/x"
	"kibo/store"
)

// testKibo is a running server on a loopback port with an admin, an agent and a chat
// inbox.
type testKibo struct {
	t          *testing.T
	srv        *Server
	st         *store.Store
	base       string
	adminToken string
	agentToken string
	admin      *store.Agent
	agent      *store.Agent
	inboxID    int64
	publicKey  string
}

func startKibo(t *testing.T) *testKibo {
	t.Helper()
	return startKiboWith(t, nil)
}

// startKiboWith starts it on a clock of the test's (nil: the real one), shared by the
// store and the server so deadlines and SLAs can be tested without sleeping.
func startKiboWith(t *testing.T, now func() time.Time) *testKibo {
	t.Helper()
	return startKiboTuned(t, now, nil)
}

// startKiboTuned starts it with the test's changes to the configuration (limits).
func startKiboTuned(t *testing.T, now func() time.Time, tune func(*Config)) *testKibo {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{Durability: store.DurabilityNormal, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := Config{OutboxInterval: 100 * time.Millisecond, RetryBase: 50 * time.Millisecond, Chat: chat.Limits{MessagesPerSecond: 1000, Burst: 1000}, Now: now,
		// the tests' Dovecot, SMTP, Graph API and X servers listen on loopback
		AllowPrivateHosts: true, Channels: testChannels()}
	if tune != nil {
		tune(&cfg)
	}
	srv, err := New(cfg, st, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Start(context.Background())
	go srv.Listen(ln)
	t.Cleanup(func() {
		srv.Shutdown(5 * time.Second)
		st.Close()
	})
	k := &testKibo{t: t, srv: srv, st: st, base: "http://" + ln.Addr().String()}
	ctx := context.Background()
	hash, _ := HashPassword("admin-password")
	k.admin, _ = st.CreateAgent(ctx, "admin@example.com", "Ada Admin", "admin", hash)
	hash, _ = HashPassword("agent-password")
	k.agent, _ = st.CreateAgent(ctx, "sam@example.com", "Sam", "agent", hash)
	k.adminToken = NewAPIToken()
	st.CreateAPIToken(ctx, k.admin.ID, "test", k.adminToken)
	k.agentToken = NewAPIToken()
	st.CreateAPIToken(ctx, k.agent.ID, "test", k.agentToken)
	var inbox map[string]any
	k.api("POST", "/api/v1/inboxes", k.adminToken, map[string]any{"kind": "chat", "name": "Web", "settings": map[string]any{}}, &inbox, 201)
	k.inboxID = int64(inbox["id"].(float64))
	k.publicKey = inbox["public_key"].(string)
	return k
}

// testChannels are the channels cmd/kibo registers; a test may register one of its
// own (channel_test.go).
func testChannels() *connectors.Registry {
	return connectors.NewRegistry(chat.Channel(), email.Channel(), messenger.Channel(), x.Channel())
}

// api calls the API with a bearer token and checks the status.
func (k *testKibo) api(method, path, token string, body, out any, want int) *http.Response {
	k.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, k.base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		k.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if want != 0 && resp.StatusCode != want {
		k.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			k.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp
}

// ---- a visitor over the real widget protocol

type visitor struct {
	t *testing.T
	c *websocket.Conn
}

func (k *testKibo) dialWidget(origin string) (*visitor, *http.Response, error) {
	u := strings.Replace(k.base, "http://", "ws://", 1) + "/widget/ws?inbox=" + url.QueryEscape(k.publicKey)
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	c, resp, err := websocket.DefaultDialer.Dial(u, h)
	if err != nil {
		return nil, resp, err
	}
	return &visitor{t: k.t, c: c}, resp, nil
}

func (k *testKibo) visitor() *visitor {
	k.t.Helper()
	v, _, err := k.dialWidget("https://shop.example")
	if err != nil {
		k.t.Fatal(err)
	}
	k.t.Cleanup(func() { v.c.Close() })
	return v
}

func (v *visitor) send(f map[string]any) {
	v.t.Helper()
	if err := v.c.WriteJSON(f); err != nil {
		v.t.Fatal(err)
	}
}

// next reads frames until one of type typ arrives.
func (v *visitor) next(typ string) (map[string]any, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		v.c.SetReadDeadline(deadline)
		var f map[string]any
		if err := v.c.ReadJSON(&f); err != nil {
			return nil, err
		}
		if f["type"] == typ {
			return f, nil
		}
	}
}

func (v *visitor) must(typ string) map[string]any {
	v.t.Helper()
	f, err := v.next(typ)
	if err != nil {
		v.t.Fatalf("waiting for %s: %v", typ, err)
	}
	return f
}

func (v *visitor) hello(token string, extra map[string]any) map[string]any {
	v.t.Helper()
	f := map[string]any{"type": "hello", "token": token, "page": "https://shop.example/pricing"}
	for k, x := range extra {
		f[k] = x
	}
	v.send(f)
	return v.must("welcome")
}

func (v *visitor) say(clientID, text string) map[string]any {
	v.t.Helper()
	v.send(map[string]any{"type": "message", "client_id": clientID, "text": text})
	return v.must("ack")
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

func (k *testKibo) messages(convID int64) []map[string]any {
	var out struct {
		Messages []map[string]any `json:"messages"`
	}
	k.api("GET", fmt.Sprintf("/api/v1/conversations/%d/messages", convID), k.adminToken, nil, &out, 200)
	return out.Messages
}
