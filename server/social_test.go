package server

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeGraph speaks the Graph API paths Kibo calls: the profile and the Send API. While
// down is set it answers like an outage (HTTP 500 with a Graph error body).
type fakeGraph struct {
	*httptest.Server
	mu    sync.Mutex
	sent  []map[string]any
	down  atomic.Bool
	calls atomic.Int64
}

func newFakeGraph(t *testing.T) *fakeGraph {
	g := &fakeGraph{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if g.down.Load() {
			w.WriteHeader(500)
			io.WriteString(w, `{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","is_transient":true,"code":2,"fbtrace_id":"AbC"}}`)
			return
		}
		switch {
		case r.Method == "GET" && strings.HasSuffix(r.URL.Path, "/6738291543210987"):
			b, _ := os.ReadFile("../connectors/messenger/testdata/profile.json")
			w.Write(b)
		case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/me/messages"):
			var body map[string]any
			json.NewDecoder(r.Body).Decode(&body)
			g.mu.Lock()
			g.sent = append(g.sent, body)
			g.mu.Unlock()
			fmt.Fprintf(w, `{"recipient_id":"6738291543210987","message_id":"m_sent_%d"}`, len(g.sent))
		default:
			w.WriteHeader(404)
			io.WriteString(w, `{"error":{"message":"Unknown path","type":"GraphMethodException","code":100,"fbtrace_id":"x"}}`)
		}
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *fakeGraph) sentCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.sent)
}

func signMessenger(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (k *testKibo) post(path string, headers map[string]string, body []byte) (int, string) {
	req, _ := http.NewRequest("POST", k.base+path, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	for h, v := range headers {
		req.Header.Set(h, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		k.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMessengerWebhookToInboxAndReplyThroughOutbox(t *testing.T) {
	k := startKibo(t)
	graph := newFakeGraph(t)
	var inbox map[string]any
	k.api("POST", "/api/v1/inboxes", k.adminToken, map[string]any{"kind": "messenger", "name": "Facebook", "settings": map[string]any{
		"page_id": "106171755573456", "page_access_token": "PAGE-TOKEN", "app_secret": "app-secret", "verify_token": "verify-me", "graph_base_url": graph.URL,
	}}, &inbox, 201)
	id := int64(inbox["id"].(float64))
	hook := fmt.Sprintf("/webhooks/messenger/%d", id)

	// verification handshake
	resp, _ := http.Get(k.base + hook + "?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "1158201444" {
		t.Fatalf("challenge: %d %q", resp.StatusCode, b)
	}
	resp, _ = http.Get(k.base + hook + "?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1")
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("wrong verify token: %d", resp.StatusCode)
	}

	// the platform's own example, re-timed to now so the 24-hour window is open
	raw, _ := os.ReadFile("../connectors/messenger/testdata/messages_text.json")
	now := fmt.Sprint(time.Now().UnixMilli())
	body := []byte(strings.ReplaceAll(string(raw), "1458692752478", now))
	if code, _ := k.post(hook, map[string]string{"X-Hub-Signature-256": "sha256=" + strings.Repeat("0", 64)}, body); code != 403 {
		t.Fatalf("bad signature: %d", code)
	}
	if code, _ := k.post(hook, nil, body); code != 403 {
		t.Fatalf("missing signature: %d", code)
	}
	bad := []byte(`{"object":"page","entry":[{`)
	if code, _ := k.post(hook, map[string]string{"X-Hub-Signature-256": signMessenger("app-secret", bad)}, bad); code != 400 {
		t.Fatalf("malformed JSON: %d", code)
	}
	for i := 0; i < 2; i++ { // Facebook delivers the same event twice
		if code, out := k.post(hook, map[string]string{"X-Hub-Signature-256": signMessenger("app-secret", body)}, body); code != 200 {
			t.Fatalf("signed event: %d %s", code, out)
		}
	}
	var list struct {
		Conversations []map[string]any `json:"conversations"`
	}
	k.api("GET", fmt.Sprintf("/api/v1/conversations?inbox=%d", id), k.agentToken, nil, &list, 200)
	if len(list.Conversations) != 1 || list.Conversations[0]["channel"] != "messenger" {
		t.Fatalf("conversations: %v", list.Conversations)
	}
	conv := list.Conversations[0]
	if name := conv["contact"].(map[string]any)["name"]; name != "Peter Chang" {
		t.Fatalf("contact name from the Graph profile: %v", name)
	}
	convID := int64(conv["id"].(float64))
	if msgs := k.messages(convID); len(msgs) != 1 || msgs[0]["text"] != "hello, world!" {
		t.Fatalf("messages after a duplicate delivery: %v", msgs)
	}

	// the agent answers while Facebook is down: queued, retried, sent once it is back
	graph.down.Store(true)
	var m map[string]any
	k.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", convID), k.agentToken, map[string]any{"text": "Hi Peter, how can we help?"}, &m, 201)
	if m["delivery"] != "queued" {
		t.Fatalf("reply delivery %v", m["delivery"])
	}
	waitFor(t, "a failed attempt", func() bool { return graph.calls.Load() > 2 })
	graph.down.Store(false)
	k.srv.outbox.wake()
	waitFor(t, "the reply to be sent", func() bool {
		msgs := k.messages(convID)
		return msgs[len(msgs)-1]["delivery"] == "sent"
	})
	if n := graph.sentCount(); n != 1 {
		t.Fatalf("Send API called %d times for one reply", n)
	}
	graph.mu.Lock()
	sent := graph.sent[0]
	graph.mu.Unlock()
	if sent["messaging_type"] != "RESPONSE" || sent["recipient"].(map[string]any)["id"] != "6738291543210987" {
		t.Fatalf("sent %v", sent)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestXWebhookCRCAndSignedEvents(t *testing.T) {
	k := startKibo(t)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/direct_messages/events/list.json"):
			io.WriteString(w, `{"events":[]}`)
		case strings.HasSuffix(r.URL.Path, "/users/lookup.json"):
			io.WriteString(w, `[]`)
		default:
			w.WriteHeader(404)
			io.WriteString(w, `{"errors":[{"code":34,"message":"Sorry, that page does not exist."}]}`)
		}
	}))
	defer api.Close()
	var inbox map[string]any
	k.api("POST", "/api/v1/inboxes", k.adminToken, map[string]any{"kind": "x", "name": "X", "settings": map[string]any{
		"user_id": "4337869213", "consumer_key": "ck", "consumer_secret": "consumer-secret", "access_token": "at", "access_secret": "as",
		"api_base_url": api.URL, "poll_interval": "1h",
	}}, &inbox, 201)
	hook := fmt.Sprintf("/webhooks/x/%v", inbox["id"])
	resp, _ := http.Get(k.base + hook + "?crc_token=abc123")
	var crc map[string]string
	json.NewDecoder(resp.Body).Decode(&crc)
	resp.Body.Close()
	m := hmac.New(sha256.New, []byte("consumer-secret"))
	m.Write([]byte("abc123"))
	if want := "sha256=" + base64.StdEncoding.EncodeToString(m.Sum(nil)); crc["response_token"] != want {
		t.Fatalf("crc %v, want %s", crc, want)
	}
	body, _ := os.ReadFile("../connectors/x/testdata/aaa_dm_received.json")
	sign := func(b []byte) string {
		m := hmac.New(sha256.New, []byte("consumer-secret"))
		m.Write(b)
		return "sha256=" + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	if code, _ := k.post(hook, map[string]string{"x-twitter-webhooks-signature": "sha256=AAAA"}, body); code != 403 {
		t.Fatalf("bad signature: %d", code)
	}
	for i := 0; i < 2; i++ {
		if code, out := k.post(hook, map[string]string{"x-twitter-webhooks-signature": sign(body)}, body); code != 200 {
			t.Fatalf("signed: %d %s", code, out)
		}
	}
	var list struct {
		Conversations []map[string]any `json:"conversations"`
	}
	k.api("GET", fmt.Sprintf("/api/v1/conversations?inbox=%v", inbox["id"]), k.agentToken, nil, &list, 200)
	if len(list.Conversations) != 1 || list.Conversations[0]["channel"] != "x" || list.Conversations[0]["contact"].(map[string]any)["name"] != "Jordan Brinks" {
		t.Fatalf("x conversations: %v", list.Conversations)
	}
	if msgs := k.messages(int64(list.Conversations[0]["id"].(float64))); len(msgs) != 1 || msgs[0]["text"] != "Hello World!" {
		t.Fatalf("messages: %v", msgs)
	}
}

// The attack on the CRC: ask Kibo to answer a CRC whose token is a forged webhook body,
// then post that body with the answer as its signature. The CRC refuses such a token,
// and a body signed with the real secret still needs this inbox's account.
func TestXWebhookCRCIsNoSigningOracle(t *testing.T) {
	k := startKibo(t)
	var inbox map[string]any
	k.api("POST", "/api/v1/inboxes", k.adminToken, map[string]any{"kind": "x", "name": "X", "settings": map[string]any{
		"user_id": "42", "consumer_key": "ck", "consumer_secret": "consumer-secret", "access_token": "at", "access_secret": "as",
		"api_base_url": "https://api.x-test.invalid", "poll_interval": "1h",
	}}, &inbox, 201)
	hook := fmt.Sprintf("/webhooks/x/%v", inbox["id"])
	forged := func(forUser string) []byte {
		b, _ := json.Marshal(map[string]any{
			"for_user_id": forUser,
			"direct_message_events": []any{map[string]any{
				"type": "message_create", "id": "1" + forUser, "created_timestamp": "1516403560557",
				"message_create": map[string]any{"target": map[string]any{"recipient_id": "42"}, "sender_id": "666",
					"message_data": map[string]any{"text": "Real CEO here: wire the money today"}},
			}},
			"users": map[string]any{"666": map[string]any{"id": "666", "name": "Real CEO", "screen_name": "realceo"}},
		})
		return b
	}
	body := forged("42")
	resp, err := http.Get(k.base + hook + "?crc_token=" + url.QueryEscape(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	var crc map[string]string
	json.NewDecoder(resp.Body).Decode(&crc)
	resp.Body.Close()
	if resp.StatusCode != 400 || crc["response_token"] != "" {
		t.Errorf("CRC with a webhook body as token: %d %v, want 400 and no answer", resp.StatusCode, crc)
	}
	if crc["response_token"] != "" {
		code, out := k.post(hook, map[string]string{"x-twitter-webhooks-signature": crc["response_token"]}, body)
		t.Logf("the forged body posted with the CRC answer as its signature: %d %s", code, out)
	}
	// bodies signed with the real secret, but not for this inbox's account
	sign := func(b []byte) string {
		m := hmac.New(sha256.New, []byte("consumer-secret"))
		m.Write(b)
		return "sha256=" + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	noUser := bytes.Replace(forged("42"), []byte(`"for_user_id":"42",`), nil, 1)
	for _, b := range [][]byte{forged("43"), noUser} {
		if code, out := k.post(hook, map[string]string{"x-twitter-webhooks-signature": sign(b)}, b); code != 400 {
			t.Errorf("a signed body for another account: %d %s, want 400", code, out)
		}
	}
	var list struct {
		Conversations []map[string]any `json:"conversations"`
	}
	k.api("GET", fmt.Sprintf("/api/v1/conversations?inbox=%v", inbox["id"]), k.adminToken, nil, &list, 200)
	if len(list.Conversations) != 0 {
		t.Fatalf("a forged DM was stored: %v", list.Conversations)
	}
	// a real token still gets its answer
	resp, err = http.Get(k.base + hook + "?crc_token=NjgzMTk4OTQ0NzU0NTk2ODgw")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&crc)
	resp.Body.Close()
	if resp.StatusCode != 200 || crc["response_token"] != sign([]byte("NjgzMTk4OTQ0NzU0NTk2ODgw")) {
		t.Errorf("a real token: %d %v", resp.StatusCode, crc)
	}
}

// Facebook's handshake echoes its challenge: only a plain token, as plain text.
func TestMessengerChallengeEchoesOnlyAToken(t *testing.T) {
	k := startKibo(t)
	var inbox map[string]any
	k.api("POST", "/api/v1/inboxes", k.adminToken, map[string]any{"kind": "messenger", "name": "FB", "settings": map[string]any{
		"page_id": "1", "page_access_token": "t", "app_secret": "app-secret", "verify_token": "verify-me",
		"graph_base_url": "https://graph.fb-test.invalid",
	}}, &inbox, 201)
	hook := fmt.Sprintf("%s/webhooks/messenger/%v?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=", k.base, inbox["id"])
	for challenge, want := range map[string]int{"1158201444": 200, "<script>alert(1)</script>": 403, `{"object":"page"}`: 403} {
		resp, err := http.Get(hook + url.QueryEscape(challenge))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("challenge %q: %d %s, want %d", challenge, resp.StatusCode, b, want)
		}
		if want == 200 && (string(b) != challenge || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || resp.Header.Get("X-Content-Type-Options") != "nosniff") {
			t.Errorf("challenge answered %q as %q", b, resp.Header)
		}
	}
}
