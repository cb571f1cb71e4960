package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"kibo/store"
)

// Every API route answers 401 to a request without credentials.
func TestEveryAPIRouteNeedsCredentials(t *testing.T) {
	k := startKibo(t)
	n := 0
	for _, r := range k.srv.App().GetRoutes(true) {
		if !strings.HasPrefix(r.Path, "/api/v1/") || r.Method == "HEAD" || r.Method == "OPTIONS" || r.Method == "CONNECT" || r.Method == "TRACE" || r.Method == "USE" {
			continue
		}
		path := regexp.MustCompile(`:[a-z_]+`).ReplaceAllString(r.Path, "1")
		req, _ := http.NewRequest(r.Method, k.base+path, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 401 || e.Error.Code != "unauthorized" || e.Error.Message == "" {
			t.Errorf("%s %s: %d %+v, want 401 with a JSON error", r.Method, path, resp.StatusCode, e)
		}
		n++
	}
	if n < 20 {
		t.Fatalf("only %d API routes checked", n)
	}
	k.api("GET", "/api/v1/me", "kibo_not-a-real-token", nil, nil, 401)
}

// Admin routes answer 403 to an agent.
func TestAdminRoutesRefuseAgents(t *testing.T) {
	k := startKibo(t)
	cases := []struct{ method, path string }{
		{"POST", "/api/v1/agents"},
		{"POST", "/api/v1/inboxes"},
		{"PATCH", fmt.Sprintf("/api/v1/inboxes/%d", k.inboxID)},
		{"POST", fmt.Sprintf("/api/v1/inboxes/%d/test", k.inboxID)},
		{"GET", "/api/v1/audit"},
		{"DELETE", "/api/v1/conversations/1"},
		{"PATCH", fmt.Sprintf("/api/v1/agents/%d", k.admin.ID)},
	}
	for _, c := range cases {
		var e map[string]map[string]string
		k.api(c.method, c.path, k.agentToken, map[string]any{"name": "x", "kind": "chat", "role": "admin"}, &e, 403)
		if e["error"]["code"] != "forbidden" {
			t.Errorf("%s %s: %v", c.method, c.path, e)
		}
	}
	// an agent may change their own name
	k.api("PATCH", fmt.Sprintf("/api/v1/agents/%d", k.agent.ID), k.agentToken, map[string]any{"name": "Sam S."}, nil, 200)
	k.api("PATCH", fmt.Sprintf("/api/v1/agents/%d", k.agent.ID), k.agentToken, map[string]any{"role": "admin"}, nil, 403)
}

func TestErrorsAreJSONWithMatchingStatus(t *testing.T) {
	k := startKibo(t)
	var e map[string]map[string]string
	k.api("GET", "/api/v1/conversations/424242", k.adminToken, nil, &e, 404)
	if e["error"]["code"] != "not_found" || !strings.Contains(e["error"]["message"], "424242") {
		t.Fatalf("%v", e)
	}
	req, _ := http.NewRequest("POST", k.base+"/api/v1/inboxes", strings.NewReader("{broken"))
	req.Header.Set("Authorization", "Bearer "+k.adminToken)
	resp, _ := http.DefaultClient.Do(req)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), `"bad_request"`) {
		t.Fatalf("bad JSON: %d %s", resp.StatusCode, b)
	}
	k.api("GET", "/api/v1/conversations?status=lost", k.adminToken, nil, nil, 422)
	k.api("POST", "/api/v1/inboxes", k.adminToken, map[string]any{"kind": "fax", "name": "x"}, nil, 422)
	k.api("POST", "/api/v1/agents", k.adminToken, map[string]any{"email": "sam@example.com", "name": "Sam 2", "password": "long-enough"}, nil, 409)
}

// login gives an HttpOnly SameSite cookie; writes with it need the CSRF token.
func TestSessionLoginAndCSRF(t *testing.T) {
	k := startKibo(t)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ := client.PostForm(k.base+"/login", url.Values{"email": {"sam@example.com"}, "password": {"wrong-one"}})
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	resp, _ = client.PostForm(k.base+"/login", url.Values{"email": {"sam@example.com"}, "password": {"agent-password"}, "next": {"https://evil.example/"}})
	resp.Body.Close()
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/inbox" {
		t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	sc := resp.Header.Get("Set-Cookie")
	if !strings.Contains(sc, "HttpOnly") || !strings.Contains(strings.ToLower(sc), "samesite=lax") {
		t.Fatalf("cookie %q", sc)
	}
	// the page carries the CSRF token
	resp, _ = client.Get(k.base + "/inbox")
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`).FindSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("inbox page %d without a CSRF token", resp.StatusCode)
	}
	csrf := string(m[1])
	post := func(token string) int {
		req, _ := http.NewRequest("POST", k.base+"/api/v1/tokens", strings.NewReader(`{"name":"x"}`))
		if token != "" {
			req.Header.Set("X-CSRF-Token", token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(""); code != 403 {
		t.Fatalf("write without CSRF token: %d", code)
	}
	if code := post("wrong"); code != 403 {
		t.Fatalf("write with a wrong CSRF token: %d", code)
	}
	if code := post(csrf); code != 201 {
		t.Fatalf("write with the CSRF token: %d", code)
	}
	// signed out, pages send the browser to the login
	resp, _ = http.DefaultClient.Do(mustReq("GET", k.base+"/settings"))
	if resp.Request.URL.Path != "/login" {
		t.Fatalf("signed-out settings ended at %s", resp.Request.URL)
	}
	resp.Body.Close()
}

func mustReq(method, u string) *http.Request {
	r, _ := http.NewRequest(method, u, nil)
	return r
}

func TestConversationWorkflowOverAPI(t *testing.T) {
	k := startKibo(t)
	v := k.visitor()
	v.hello("", nil)
	conv := num(v.say("w-1", "Where is my parcel?")["conversation_id"])
	path := fmt.Sprintf("/api/v1/conversations/%d", conv)
	var c map[string]any
	k.api("PATCH", path, k.agentToken, map[string]any{"assignee_id": k.agent.ID, "priority": "high", "tags": []string{"Shipping", "vip"}}, &c, 200)
	if num(c["assignee_id"]) != k.agent.ID || c["priority"] != "high" || fmt.Sprint(c["tags"]) != "[shipping vip]" {
		t.Fatalf("after patch: %v", c)
	}
	var list struct {
		Conversations []map[string]any `json:"conversations"`
	}
	k.api("GET", "/api/v1/conversations?assignee=me&tag=vip&status=open", k.agentToken, nil, &list, 200)
	if len(list.Conversations) != 1 || list.Conversations[0]["channel"] != "chat" {
		t.Fatalf("filtered list: %v", list)
	}
	k.api("GET", "/api/v1/conversations?q=parcel", k.agentToken, nil, &list, 200)
	if len(list.Conversations) != 1 {
		t.Fatalf("search: %v", list)
	}
	until := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	k.api("PATCH", path, k.agentToken, map[string]any{"status": "snoozed", "snoozed_until": until}, &c, 200)
	if c["status"] != "snoozed" {
		t.Fatalf("snooze: %v", c)
	}
	k.api("PATCH", path, k.agentToken, map[string]any{"status": "snoozed"}, nil, 422)
	k.api("PATCH", path, k.agentToken, map[string]any{"assignee_id": nil, "status": "resolved"}, &c, 200)
	if c["assignee_id"] != nil || c["status"] != "resolved" {
		t.Fatalf("unassign+resolve: %v", c)
	}
	// the customer writes again: the conversation reopens
	v.say("w-2", "Any news?")
	k.api("GET", path, k.agentToken, nil, &c, 200)
	if c["status"] != "open" {
		t.Fatalf("after a new message: %v", c["status"])
	}
	var counts store.Counts
	k.api("GET", "/api/v1/counts", k.agentToken, nil, &counts, 200)
	if counts.ByStatus["open"] != 1 || counts.Unread != 1 {
		t.Fatalf("counts %+v", counts)
	}
	msgs := k.messages(conv)
	k.api("POST", path+"/read", k.agentToken, map[string]any{"up_to": msgs[len(msgs)-1]["id"]}, nil, 204)
	k.api("GET", "/api/v1/counts", k.agentToken, nil, &counts, 200)
	if counts.Unread != 0 {
		t.Fatalf("unread after read: %+v", counts)
	}
}

func TestContactProfileAndMerge(t *testing.T) {
	k := startKibo(t)
	a := k.visitor()
	a.hello("", nil)
	convA := num(a.say("a", "first")["conversation_id"])
	b := k.visitor()
	b.hello("", nil)
	convB := num(b.say("b", "second")["conversation_id"])
	var ca, cb map[string]any
	k.api("GET", fmt.Sprintf("/api/v1/conversations/%d", convA), k.agentToken, nil, &ca, 200)
	k.api("GET", fmt.Sprintf("/api/v1/conversations/%d", convB), k.agentToken, nil, &cb, 200)
	idA := num(ca["contact"].(map[string]any)["id"])
	idB := num(cb["contact"].(map[string]any)["id"])
	var merged map[string]any
	k.api("POST", fmt.Sprintf("/api/v1/contacts/%d/merge", idA), k.agentToken, map[string]any{"other_id": idB}, &merged, 200)
	var profile struct {
		Identities    []map[string]any `json:"identities"`
		Conversations []map[string]any `json:"conversations"`
	}
	k.api("GET", fmt.Sprintf("/api/v1/contacts/%d", idA), k.agentToken, nil, &profile, 200)
	if len(profile.Identities) != 2 || len(profile.Conversations) != 2 {
		t.Fatalf("profile after merge: %+v", profile)
	}
	k.api("GET", fmt.Sprintf("/api/v1/contacts/%d", idB), k.agentToken, nil, nil, 404)
	var audit struct {
		Audit []map[string]any `json:"audit"`
	}
	k.api("GET", "/api/v1/audit?subject=contact", k.adminToken, nil, &audit, 200)
	if len(audit.Audit) != 1 || audit.Audit[0]["action"] != "contact.merge" {
		t.Fatalf("audit: %v", audit)
	}
}

// agentSocket opens /api/v1/ws as an API client would.
func (k *testKibo) agentSocket(since int64) *websocket.Conn {
	k.t.Helper()
	h := http.Header{"Authorization": {"Bearer " + k.agentToken}}
	c, _, err := websocket.DefaultDialer.Dial(strings.Replace(k.base, "http", "ws", 1)+fmt.Sprintf("/api/v1/ws?since=%d", since), h)
	if err != nil {
		k.t.Fatal(err)
	}
	k.t.Cleanup(func() { c.Close() })
	return c
}

func readEvent(t *testing.T, c *websocket.Conn, typ string) map[string]any {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var f map[string]any
		if err := c.ReadJSON(&f); err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		if f["type"] == typ {
			return f
		}
	}
}

// A page that was away catches up on every event it missed, by seq.
func TestAgentEventsReplayBySeq(t *testing.T) {
	k := startKibo(t)
	ws := k.agentSocket(0)
	hello := readEvent(t, ws, "hello")
	start := num(hello["seq"])
	v := k.visitor()
	v.hello("", nil)
	v.say("e-1", "first")
	ev := readEvent(t, ws, "message.created")
	seen := num(ev["seq"])
	if seen <= start || ev["message"].(map[string]any)["text"] != "first" {
		t.Fatalf("event %v after hello seq %d", ev, start)
	}
	ws.Close() // the laptop sleeps
	v.say("e-2", "second")
	v.say("e-3", "third")
	ws2 := k.agentSocket(seen)
	readEvent(t, ws2, "hello")
	var texts []string
	last := seen
	for len(texts) < 2 {
		ev := readEvent(t, ws2, "message.created")
		if num(ev["seq"]) <= last {
			t.Fatalf("seq went back: %v after %d", ev["seq"], last)
		}
		last = num(ev["seq"])
		texts = append(texts, ev["message"].(map[string]any)["text"].(string))
	}
	if strings.Join(texts, ",") != "second,third" {
		t.Fatalf("replayed %v", texts)
	}
	// a seq from before this server started cannot be replayed: resync
	ws3 := k.agentSocket(1)
	readEvent(t, ws3, "hello")
	readEvent(t, ws3, "resync")
}

func TestTypingAndPresence(t *testing.T) {
	k := startKibo(t)
	v := k.visitor()
	v.hello("", nil)
	conv := num(v.say("t-1", "hello")["conversation_id"])
	ws := k.agentSocket(0)
	readEvent(t, ws, "hello")
	v.send(map[string]any{"type": "typing", "on": true})
	if ev := readEvent(t, ws, "typing"); num(ev["conversation_id"]) != conv || ev["who"] != "contact" || ev["on"] != true {
		t.Fatalf("visitor typing: %v", ev)
	}
	ws.WriteJSON(map[string]any{"type": "viewing", "conversation_id": conv})
	if ev := readEvent(t, ws, "presence"); len(ev["agents"].([]any)) != 1 {
		t.Fatalf("presence: %v", ev)
	}
	ws.WriteJSON(map[string]any{"type": "typing", "conversation_id": conv, "on": true})
	if f := v.must("typing"); f["name"] != "Sam" || f["on"] != true {
		t.Fatalf("visitor sees %v", f)
	}
	ev := readEvent(t, ws, "presence")
	if a := ev["agents"].([]any)[0].(map[string]any); a["replying"] != true || a["name"] != "Sam" {
		t.Fatalf("replying presence: %v", ev)
	}
}

func TestQueryBudgetOverHTTP(t *testing.T) {
	k := startKibo(t)
	for i := 0; i < 30; i++ {
		v := k.visitor()
		v.hello("", nil)
		v.say(fmt.Sprint("q", i), "message")
		v.c.Close()
	}
	// the counter is global and the event publisher reads in the background: the
	// least of a few runs is the request's own cost
	cost := func(path string) int64 {
		least := int64(1 << 30)
		for i := 0; i < 5; i++ {
			before := k.st.QueryCount()
			k.api("GET", path, k.agentToken, nil, nil, 200)
			least = min(least, k.st.QueryCount()-before)
		}
		return least
	}
	small, large := cost("/api/v1/conversations?limit=2"), cost("/api/v1/conversations?limit=30")
	if small != large {
		t.Fatalf("inbox list: %d statements for 2 rows, %d for 30", small, large)
	}
	if large > 3 {
		t.Fatalf("inbox list costs %d statements", large)
	}
	t.Logf("inbox list: %d statements per page (auth included)", large)
}
