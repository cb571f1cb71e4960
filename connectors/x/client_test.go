package x

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kibo/connectors"
	"kibo/connectors/netguard"
)

const (
	testConsumerKey  = "xvz1evFS4wEEPTGEFPHBog"
	testAccessToken  = "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb"
	testAccessSecret = "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE"
)

var testNow = time.Date(2024, 3, 14, 12, 0, 0, 0, time.UTC)

type xCall struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	URL    string
}

type xReply struct {
	status int
	header map[string]string
	body   []byte
}

// fakeX is a local API v1.1: per path, it answers with the next scripted reply (the last
// one repeats) or with a handler's, and records every request.
type fakeX struct {
	*httptest.Server
	mu       sync.Mutex
	calls    []xCall
	replies  map[string][]xReply
	served   map[string]int
	handlers map[string]func(call xCall) xReply
}

func newFakeX(t *testing.T) *fakeX {
	f := &fakeX{replies: map[string][]xReply{}, served: map[string]int{}, handlers: map[string]func(xCall) xReply{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		call := xCall{r.Method, r.URL.Path, r.URL.Query(), r.Header.Clone(), body, "http://" + r.Host + r.URL.Path}
		f.mu.Lock()
		f.calls = append(f.calls, call)
		h := f.handlers[r.URL.Path]
		list := f.replies[r.URL.Path]
		n := f.served[r.URL.Path]
		f.served[r.URL.Path]++
		f.mu.Unlock()
		var rep xReply
		switch {
		case h != nil:
			rep = h(call)
		case len(list) > 0:
			rep = list[min(n, len(list)-1)]
		default:
			rep = xReply{404, nil, []byte(`{"errors":[{"code":34,"message":"Sorry, that page does not exist."}]}`)}
		}
		if rep.header["Content-Type"] == "" {
			w.Header().Set("Content-Type", "application/json;charset=utf-8")
		}
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(rep.status)
		w.Write(rep.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeX) reply(path string, replies ...xReply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replies[path] = replies
	f.served[path] = 0
}

func (f *fakeX) handle(path string, h func(xCall) xReply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[path] = h
}

func (f *fakeX) callsTo(path string) []xCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []xCall
	for _, c := range f.calls {
		if c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

const (
	pathList   = "/1.1/direct_messages/events/list.json"
	pathNew    = "/1.1/direct_messages/events/new.json"
	pathLookup = "/1.1/users/lookup.json"
	pathVerify = "/1.1/account/verify_credentials.json"
)

func fixtureReply(t *testing.T, status int, name string, header map[string]string) xReply {
	return xReply{status, header, readFixture(t, name)}
}

func newTestConnector(t *testing.T, f *fakeX, mod func(*Config)) *Connector {
	t.Helper()
	cfg := Config{
		InboxID:        5,
		UserID:         ownID,
		ConsumerKey:    testConsumerKey,
		ConsumerSecret: testSecret,
		AccessToken:    testAccessToken,
		AccessSecret:   testAccessSecret,
		APIBaseURL:     f.URL,
		PollInterval:   time.Minute,
		// the fake X API listens on loopback
		AllowPrivateHosts: true,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return testNow }
	return c
}

func outbound(text string) connectors.Outbound {
	return connectors.Outbound{
		MessageID: 7,
		InboxID:   5,
		Recipient: connectors.Identity{Kind: Kind, ExternalID: customerID},
		Text:      text,
	}
}

func jsonEqual(t *testing.T, got, want []byte) bool {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("not JSON: %s", got)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(a, b)
}

// checkOAuth verifies the request's OAuth 1.0a HMAC-SHA1 signature as a server at the
// rewritten address would: proof that the host was rewritten before signing.
func checkOAuth(t *testing.T, call xCall) {
	t.Helper()
	auth, ok := strings.CutPrefix(call.Header.Get("Authorization"), "OAuth ")
	if !ok {
		t.Fatalf("no OAuth header: %q", call.Header.Get("Authorization"))
	}
	params := map[string]string{}
	for _, part := range strings.Split(auth, ", ") {
		k, v, _ := strings.Cut(part, "=")
		v, _ = url.QueryUnescape(strings.Trim(v, `"`))
		params[k] = v
	}
	if params["oauth_consumer_key"] != testConsumerKey || params["oauth_token"] != testAccessToken {
		t.Errorf("OAuth header keys = %v", params)
	}
	sig := params["oauth_signature"]
	delete(params, "oauth_signature")
	for k, vs := range call.Query {
		params[k] = vs[0]
	}
	var pairs []string
	for k, v := range params {
		pairs = append(pairs, pctEncode(k)+"="+pctEncode(v))
	}
	sort.Strings(pairs)
	base := call.Method + "&" + pctEncode(call.URL) + "&" + pctEncode(strings.Join(pairs, "&"))
	mac := hmac.New(sha1.New, []byte(pctEncode(testSecret)+"&"+pctEncode(testAccessSecret)))
	mac.Write([]byte(base))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); sig != want {
		t.Errorf("OAuth signature does not verify for %s", call.URL)
	}
}

func pctEncode(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func TestSend(t *testing.T) {
	f := newFakeX(t)
	f.reply(pathNew, fixtureReply(t, 200, "events_new_response.json", nil))
	c := newTestConnector(t, f, nil)
	id, err := c.Send(context.Background(), outbound("Thanks, a new box is on its way."))
	if err != nil {
		t.Fatal(err)
	}
	if id != "1063573894173323280" {
		t.Errorf("id = %q", id)
	}
	calls := f.callsTo(pathNew)
	if len(calls) != 1 || calls[0].Method != "POST" {
		t.Fatalf("calls = %+v", calls)
	}
	if !jsonEqual(t, calls[0].Body, readFixture(t, "events_new_request.json")) {
		t.Errorf("body = %s", calls[0].Body)
	}
	checkOAuth(t, calls[0])
}

func TestSendRefusals(t *testing.T) {
	f := newFakeX(t)
	c := newTestConnector(t, f, nil)
	withFile := outbound("see file")
	withFile.Attachments = []connectors.Attachment{{Filename: "a.pdf"}}
	noRecipient := outbound("hi")
	noRecipient.Recipient.ExternalID = ""
	for name, m := range map[string]connectors.Outbound{
		"no text":      outbound(" "),
		"file":         withFile,
		"no recipient": noRecipient,
		"too long":     outbound(strings.Repeat("a", MaxTextLength+1)),
	} {
		if _, err := c.Send(context.Background(), m); !connectors.IsPermanent(err) {
			t.Errorf("%s: err = %v, want permanent", name, err)
		}
	}
	if n := len(f.callsTo(pathNew)); n != 0 {
		t.Errorf("%d calls to X", n)
	}
}

func TestSendErrors(t *testing.T) {
	reset := strconv.FormatInt(testNow.Add(90*time.Second).Unix(), 10)
	rateHeaders := map[string]string{"x-rate-limit-limit": "1000", "x-rate-limit-remaining": "0", "x-rate-limit-reset": reset}
	type want int
	const (
		permanent want = iota
		retryAfter
		retryable
	)
	tests := []struct {
		name     string
		reply    xReply
		want     want
		after    time.Duration
		inReason string
		down     bool // OnStatus hears "not connected"
	}{
		{"rate limit 429", fixtureReply(t, 429, "error_88.json", rateHeaders), retryAfter, 91 * time.Second, "", false},
		{"rate limit code 88 without headers", fixtureReply(t, 429, "error_88.json", nil), retryAfter, 15 * time.Minute, "", false},
		{"can't DM this user", fixtureReply(t, 403, "error_349.json", nil), permanent, 0, "doesn't accept direct messages", false},
		{"not following", fixtureReply(t, 403, "error_150.json", nil), permanent, 0, "doesn't follow this account", false},
		{"bad credentials", fixtureReply(t, 401, "error_32.json", nil), permanent, 0, "reconnect the account", true},
		{"expired token", fixtureReply(t, 401, "error_89.json", nil), permanent, 0, "reconnect the account", true},
		{"internal error", fixtureReply(t, 500, "error_131.json", nil), retryable, 0, "", true},
		{"over capacity", fixtureReply(t, 503, "error_130.json", nil), retryable, 0, "", true},
		{"outage with HTML", xReply{502, map[string]string{"Content-Type": "text/html"}, []byte("<html>Bad Gateway</html>")}, retryable, 0, "", true},
		{"outage without body", xReply{503, nil, nil}, retryable, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeX(t)
			f.reply(pathNew, tt.reply)
			var got []bool
			c := newTestConnector(t, f, func(cfg *Config) {
				cfg.OnStatus = func(up bool, err error) { got = append(got, up) }
			})
			_, err := c.Send(context.Background(), outbound("hi"))
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
			case retryAfter:
				if !errors.As(err, &ra) || connectors.IsPermanent(err) {
					t.Fatalf("err = %v, want *RetryAfterError", err)
				}
				if ra.After != tt.after {
					t.Errorf("After = %v, want %v", ra.After, tt.after)
				}
			case retryable:
				if err == nil || connectors.IsPermanent(err) || errors.As(err, &ra) {
					t.Fatalf("err = %v, want plain retryable", err)
				}
			}
			if down := len(got) == 1 && !got[0]; down != tt.down {
				t.Errorf("OnStatus calls %v; want a 'not connected' report: %v", got, tt.down)
			}
		})
	}
}

func TestSendNetworkError(t *testing.T) {
	f := newFakeX(t)
	c := newTestConnector(t, f, nil)
	f.Close()
	_, err := c.Send(context.Background(), outbound("hi"))
	if err == nil || connectors.IsPermanent(err) {
		t.Fatalf("err = %v, want retryable", err)
	}
}

// TestSendOutageThenRecovery plays the outbox: it retries while the error allows.
func TestSendOutageThenRecovery(t *testing.T) {
	f := newFakeX(t)
	f.reply(pathNew,
		xReply{503, nil, []byte("Service Unavailable")},
		fixtureReply(t, 500, "error_131.json", nil),
		fixtureReply(t, 200, "events_new_response.json", nil),
	)
	c := newTestConnector(t, f, nil)
	attempts := 0
	var id string
	var err error
	for attempts < 10 {
		attempts++
		if id, err = c.Send(context.Background(), outbound("hi")); err == nil || connectors.IsPermanent(err) {
			break
		}
	}
	if err != nil || id != "1063573894173323280" || attempts != 3 {
		t.Errorf("after %d attempts: %q, %v", attempts, id, err)
	}
}

func TestCheck(t *testing.T) {
	f := newFakeX(t)
	f.reply(pathVerify, fixtureReply(t, 200, "verify_credentials.json", nil))
	c := newTestConnector(t, f, nil)
	if err := c.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	call := f.callsTo(pathVerify)[0]
	if call.Method != "GET" || call.Query.Get("skip_status") != "true" {
		t.Errorf("request = %s %s?%s", call.Method, call.Path, call.Query.Encode())
	}
	checkOAuth(t, call)

	other := newTestConnector(t, f, func(cfg *Config) { cfg.UserID = "12345" })
	if err := other.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "@Harris_0ff") {
		t.Errorf("credentials of another account: %v", err)
	}

	f.reply(pathVerify, fixtureReply(t, 401, "error_32.json", nil))
	err := c.Check(context.Background())
	var pe *connectors.PermanentError
	if !errors.As(err, &pe) || !strings.Contains(pe.Reason, "Could not authenticate you.") {
		t.Errorf("bad credentials: %v", err)
	}
}

func TestRewriteTransportKeepsPathPrefix(t *testing.T) {
	f := newFakeX(t)
	f.handle("/proxy/1.1/account/verify_credentials.json", func(xCall) xReply {
		return fixtureReply(t, 200, "verify_credentials.json", nil)
	})
	c := newTestConnector(t, f, func(cfg *Config) { cfg.APIBaseURL = f.URL + "/proxy/" })
	if err := c.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestNewConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("missing credentials should be refused")
	}
	full := Config{ConsumerKey: "a", ConsumerSecret: "b", AccessToken: "c", AccessSecret: "d"}
	bad := full
	bad.APIBaseURL = "api.twitter.com"
	if _, err := New(bad); err == nil {
		t.Error("a base URL without scheme should be refused")
	}
	c, err := New(full)
	if err != nil {
		t.Fatal(err)
	}
	if c.cfg.PollInterval != DefaultPollInterval || c.cfg.APIBaseURL != DefaultAPIBaseURL {
		t.Errorf("defaults: %+v", c.cfg)
	}
	if _, ok := c.transport.(*rewriteTransport); ok {
		t.Error("the default base URL needs no rewrite")
	}
}

// Without AllowPrivateHosts an api_base_url on loopback is refused at connect time:
// the signed request (and the account's tokens) never leave.
func TestPrivateAPIBaseNeedsTheSetting(t *testing.T) {
	f := newFakeX(t)
	c := newTestConnector(t, f, func(cfg *Config) { cfg.AllowPrivateHosts = false })
	err := c.Check(context.Background())
	if !errors.Is(err, netguard.ErrBlocked) {
		t.Errorf("Check: %v", err)
	}
	f.mu.Lock()
	n := len(f.calls)
	f.mu.Unlock()
	if n != 0 {
		t.Errorf("%d requests reached the loopback server", n)
	}
}
