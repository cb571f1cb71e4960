package messenger

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"kibo/connectors"
	"kibo/connectors/netguard"
)

const testToken = "EAAGm0PX4ZCpsBAtesttoken"

var testNow = time.Date(2024, 3, 14, 12, 0, 0, 0, time.UTC)

type graphCall struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
}

type graphReply struct {
	status int
	header map[string]string
	body   []byte
}

// fakeGraph is a local Graph API: it records each request and answers with the next
// scripted reply (the last one repeats).
type fakeGraph struct {
	*httptest.Server
	mu      sync.Mutex
	calls   []graphCall
	replies []graphReply
}

func newFakeGraph(t *testing.T, replies ...graphReply) *fakeGraph {
	g := &fakeGraph{replies: replies}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.calls = append(g.calls, graphCall{r.Method, r.URL.Path, r.URL.Query(), r.Header.Clone(), body})
		rep := g.replies[min(len(g.calls), len(g.replies))-1]
		g.mu.Unlock()
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		if rep.header["Content-Type"] == "" {
			w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		}
		w.WriteHeader(rep.status)
		w.Write(rep.body)
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *fakeGraph) Calls() []graphCall {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]graphCall(nil), g.calls...)
}

func newTestClient(t *testing.T, g *fakeGraph) *Client {
	t.Helper()
	// the fake Graph API listens on loopback
	c, err := NewClient(Config{PageID: testPage, PageAccessToken: testToken, GraphBaseURL: g.URL, AllowPrivateHosts: true})
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return testNow }
	return c
}

func reply(t *testing.T, status int, fixture string) graphReply {
	return graphReply{status: status, body: readFixture(t, fixture)}
}

func outbound(text string, lastInbound time.Time, tag string) connectors.Outbound {
	return connectors.Outbound{
		MessageID:     42,
		InboxID:       1,
		Recipient:     connectors.Identity{Kind: Kind, Scope: testPage, ExternalID: testPSID},
		Text:          text,
		LastInboundAt: lastInbound,
		Tag:           tag,
	}
}

func TestSendInsideWindow(t *testing.T) {
	g := newFakeGraph(t, reply(t, 200, "send_response.json"))
	c := newTestClient(t, g)
	mid, err := c.Send(context.Background(), outbound("We've sent a new parcel.", testNow.Add(-23*time.Hour), ""))
	if err != nil {
		t.Fatal(err)
	}
	if mid != "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P" {
		t.Errorf("mid = %q", mid)
	}
	calls := g.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	call := calls[0]
	if call.Method != "POST" || call.Path != "/v19.0/me/messages" || call.Query.Get("access_token") != testToken {
		t.Errorf("request = %s %s ?%s", call.Method, call.Path, call.Query.Encode())
	}
	if ct := call.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	want := `{"recipient":{"id":"6738291543210987"},"messaging_type":"RESPONSE","message":{"text":"We've sent a new parcel."}}`
	if string(call.Body) != want {
		t.Errorf("body = %s\nwant   %s", call.Body, want)
	}
}

func TestSendOutsideWindow(t *testing.T) {
	tests := []struct {
		name   string
		age    time.Duration
		tag    string
		reason string
	}{
		{"25 hours, no tag", 25 * time.Hour, "", "outside Messenger's 24-hour window: the customer must write first"},
		{"3 days, another tag", 72 * time.Hour, "ACCOUNT_UPDATE", "outside Messenger's 24-hour window: the customer must write first"},
		{"8 days with HUMAN_AGENT", 8 * 24 * time.Hour, "HUMAN_AGENT", "outside Messenger's 7-day window for human agents: the customer must write first"},
		{"customer never wrote", 0, "", "outside Messenger's 24-hour window: the customer must write first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newFakeGraph(t, reply(t, 200, "send_response.json"))
			c := newTestClient(t, g)
			last := testNow.Add(-tt.age)
			if tt.age == 0 {
				last = time.Time{}
			}
			_, err := c.Send(context.Background(), outbound("hello again", last, tt.tag))
			var pe *connectors.PermanentError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a permanent error", err)
			}
			if pe.Reason != tt.reason {
				t.Errorf("reason = %q, want %q", pe.Reason, tt.reason)
			}
			if n := len(g.Calls()); n != 0 {
				t.Errorf("%d Graph calls, want none", n)
			}
		})
	}
}

func TestSendHumanAgentTag(t *testing.T) {
	g := newFakeGraph(t, reply(t, 200, "send_response.json"))
	c := newTestClient(t, g)
	if _, err := c.Send(context.Background(), outbound("Sorry for the wait.", testNow.Add(-6*24*time.Hour), HumanAgentTag)); err != nil {
		t.Fatal(err)
	}
	want := `{"recipient":{"id":"6738291543210987"},"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT","message":{"text":"Sorry for the wait."}}`
	if got := string(g.Calls()[0].Body); got != want {
		t.Errorf("body = %s\nwant   %s", got, want)
	}
}

func TestSendRefusesWhatMessengerCannotTake(t *testing.T) {
	recent := testNow.Add(-time.Hour)
	withFile := outbound("see attached", recent, "")
	withFile.Attachments = []connectors.Attachment{{Filename: "a.pdf"}}
	noRecipient := outbound("hi", recent, "")
	noRecipient.Recipient.ExternalID = ""
	for name, m := range map[string]connectors.Outbound{
		"empty text":   outbound("  ", recent, ""),
		"too long":     outbound(strings.Repeat("é", MaxTextLength+1), recent, ""),
		"attachment":   withFile,
		"no recipient": noRecipient,
	} {
		t.Run(name, func(t *testing.T) {
			g := newFakeGraph(t, reply(t, 200, "send_response.json"))
			_, err := newTestClient(t, g).Send(context.Background(), m)
			if !connectors.IsPermanent(err) {
				t.Errorf("err = %v, want permanent", err)
			}
			if len(g.Calls()) != 0 {
				t.Error("Facebook was called")
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	type want int
	const (
		permanent want = iota
		retryAfter
		retryable
	)
	tests := []struct {
		name     string
		reply    graphReply
		want     want
		after    time.Duration
		inReason string
	}{
		{"person unavailable", reply(t, 400, "error_551.json"), permanent, 0, "isn't available on Messenger"},
		{"token expired", reply(t, 400, "error_190.json"), permanent, 0, "reconnect the page"},
		{"invalid parameter", reply(t, 400, "error_100.json"), permanent, 0, "refused the message as invalid"},
		{"window closed by Facebook", reply(t, 400, "error_window.json"), permanent, 0, "the customer must write first"},
		{"page rate limit", reply(t, 400, "error_613.json"), retryAfter, time.Minute, ""},
		{"HTTP 429 with Retry-After", graphReply{429, map[string]string{"Retry-After": "120"}, readFixture(t, "error_613.json")}, retryAfter, 2 * time.Minute, ""},
		{"business use case limit", graphReply{400, map[string]string{
			"X-Business-Use-Case-Usage": `{"106171755573456":[{"type":"messenger","call_count":100,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":5}]}`,
		}, []byte(`{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","is_transient":true,"code":4,"fbtrace_id":"A1"}}`)}, retryAfter, 5 * time.Minute, ""},
		{"transient error", reply(t, 500, "error_2.json"), retryable, 0, ""},
		{"outage with HTML", graphReply{503, map[string]string{"Content-Type": "text/html"}, []byte("<html><body>Service Unavailable</body></html>")}, retryable, 0, ""},
		{"outage without body", graphReply{502, nil, nil}, retryable, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newFakeGraph(t, tt.reply)
			_, err := newTestClient(t, g).Send(context.Background(), outbound("hi", testNow.Add(-time.Minute), ""))
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error leaks the token: %v", err)
			}
			var ra *connectors.RetryAfterError
			var pe *connectors.PermanentError
			switch tt.want {
			case permanent:
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v, want permanent", err)
				}
				if !strings.Contains(pe.Reason, tt.inReason) {
					t.Errorf("reason %q lacks %q", pe.Reason, tt.inReason)
				}
				var ge *GraphError
				if !errors.As(err, &ge) || !strings.Contains(pe.Reason, ge.Message) {
					t.Errorf("reason %q should quote Facebook's message", pe.Reason)
				}
			case retryAfter:
				if !errors.As(err, &ra) || connectors.IsPermanent(err) {
					t.Fatalf("err = %v, want *RetryAfterError", err)
				}
				if ra.After != tt.after {
					t.Errorf("After = %v, want %v", ra.After, tt.after)
				}
			case retryable:
				if connectors.IsPermanent(err) || errors.As(err, &ra) {
					t.Fatalf("err = %v, want a plain retryable error", err)
				}
			}
		})
	}
}

func TestSendNetworkError(t *testing.T) {
	g := newFakeGraph(t, reply(t, 200, "send_response.json"))
	c := newTestClient(t, g)
	g.Close()
	_, err := c.Send(context.Background(), outbound("hi", testNow.Add(-time.Minute), ""))
	if err == nil || connectors.IsPermanent(err) {
		t.Fatalf("err = %v, want retryable", err)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Errorf("error leaks the token: %v", err)
	}
}

// TestSendOutageThenRecovery plays the outbox: it retries while the error allows and
// stops at the first success.
func TestSendOutageThenRecovery(t *testing.T) {
	g := newFakeGraph(t,
		graphReply{503, nil, []byte("upstream connect error")},
		reply(t, 500, "error_2.json"),
		reply(t, 200, "send_response.json"),
	)
	c := newTestClient(t, g)
	var mid string
	var err error
	attempts := 0
	for attempts < 10 {
		attempts++
		mid, err = c.Send(context.Background(), outbound("hi", testNow.Add(-time.Minute), ""))
		if err == nil || connectors.IsPermanent(err) {
			break
		}
	}
	if err != nil || mid == "" || attempts != 3 {
		t.Errorf("after %d attempts: mid %q, err %v", attempts, mid, err)
	}
}

func TestProfileCached(t *testing.T) {
	g := newFakeGraph(t, reply(t, 200, "profile.json"))
	c := newTestClient(t, g)
	for range 3 {
		name, err := c.Profile(context.Background(), testPSID)
		if err != nil {
			t.Fatal(err)
		}
		if name != "Peter Chang" {
			t.Errorf("name = %q", name)
		}
	}
	calls := g.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d Graph calls, want 1 (cached)", len(calls))
	}
	if calls[0].Path != "/"+testPSID || calls[0].Query.Get("fields") != "first_name,last_name,profile_pic" ||
		calls[0].Query.Get("access_token") != testToken {
		t.Errorf("profile request = %s ?%s", calls[0].Path, calls[0].Query.Encode())
	}
	c.now = func() time.Time { return testNow.Add(profileTTL + time.Second) }
	if _, err := c.Profile(context.Background(), testPSID); err != nil {
		t.Fatal(err)
	}
	if len(g.Calls()) != 2 {
		t.Error("an expired name should be fetched again")
	}
}

func TestProfileErrorNotCached(t *testing.T) {
	g := newFakeGraph(t, reply(t, 500, "error_2.json"), reply(t, 200, "profile.json"))
	c := newTestClient(t, g)
	if _, err := c.Profile(context.Background(), testPSID); err == nil {
		t.Fatal("want an error")
	}
	if name, err := c.Profile(context.Background(), testPSID); err != nil || name != "Peter Chang" {
		t.Errorf("second try = %q, %v", name, err)
	}
}

func TestCheck(t *testing.T) {
	g := newFakeGraph(t, reply(t, 200, "me.json"))
	c := newTestClient(t, g)
	if err := c.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	call := g.Calls()[0]
	if call.Method != "GET" || call.Path != "/v19.0/me" || call.Query.Get("access_token") != testToken {
		t.Errorf("request = %s %s", call.Method, call.Path)
	}

	c.pageID = "999"
	if err := c.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "not to page 999") {
		t.Errorf("other page: err = %v", err)
	}

	g2 := newFakeGraph(t, reply(t, 400, "error_190.json"))
	err := newTestClient(t, g2).Check(context.Background())
	var pe *connectors.PermanentError
	if !errors.As(err, &pe) || !strings.Contains(pe.Reason, "reconnect the page") {
		t.Errorf("expired token: err = %v", err)
	}
}

func TestReplyWindow(t *testing.T) {
	for _, tt := range []struct {
		age  time.Duration
		want Window
	}{
		{time.Minute, WindowOpen},
		{24 * time.Hour, WindowOpen},
		{24*time.Hour + time.Second, WindowHumanAgent},
		{7 * 24 * time.Hour, WindowHumanAgent},
		{7*24*time.Hour + time.Second, WindowClosed},
	} {
		if got := ReplyWindow(testNow.Add(-tt.age), testNow); got != tt.want {
			t.Errorf("age %v: %v, want %v", tt.age, got, tt.want)
		}
	}
	if ReplyWindow(time.Time{}, testNow) != WindowClosed {
		t.Error("no inbound message: the window is closed")
	}
}

func TestNewClientConfig(t *testing.T) {
	if _, err := NewClient(Config{}); err == nil {
		t.Error("a missing token should be refused")
	}
	if _, err := NewClient(Config{PageAccessToken: "x", GraphBaseURL: "ftp://graph"}); err == nil {
		t.Error("a non-http base URL should be refused")
	}
	c, err := NewClient(Config{PageAccessToken: "x", GraphVersion: "18.0"})
	if err != nil {
		t.Fatal(err)
	}
	if c.base != DefaultGraphBaseURL || c.version != "v18.0" {
		t.Errorf("base %q version %q", c.base, c.version)
	}
}

func TestGraphErrorDecodes(t *testing.T) {
	var w struct{ Error GraphError }
	if err := json.Unmarshal(readFixture(t, "error_551.json"), &w); err != nil {
		t.Fatal(err)
	}
	if w.Error.Code != 551 || w.Error.Subcode != 1545041 || w.Error.FBTraceID != "AxbxV8R2rRwl5Xj0iXdSmcq" {
		t.Errorf("%+v", w.Error)
	}
}

// Without AllowPrivateHosts a graph_base_url on loopback is refused at connect time:
// the page token never leaves.
func TestPrivateGraphBaseNeedsTheSetting(t *testing.T) {
	g := newFakeGraph(t, graphReply{status: 200, body: []byte(`{"id":"1","name":"Page"}`)})
	c, err := NewClient(Config{PageID: testPage, PageAccessToken: testToken, GraphBaseURL: g.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(context.Background()); !errors.Is(err, netguard.ErrBlocked) {
		t.Errorf("Check: %v", err)
	}
	if n := len(g.Calls()); n != 0 {
		t.Errorf("%d requests reached the loopback server", n)
	}
}
