package server

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// rawHTTP sends one request over a fresh connection and returns the answer's header
// block exactly as sent, so that an injected header line shows as one.
func rawHTTP(t *testing.T, base, method, target string, headers map[string]string, body string) string {
	t.Helper()
	head, _ := rawHTTPBody(t, base, method, target, headers, body)
	return head
}

// rawHTTPBody is rawHTTP with the body of the answer too.
func rawHTTPBody(t *testing.T, base, method, target string, headers map[string]string, body string) (string, string) {
	t.Helper()
	addr := strings.TrimPrefix(base, "http://")
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, addr)
	for k, v := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	if method == "POST" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, _ := io.ReadAll(conn)
	head, rest, _ := strings.Cut(string(resp), "\r\n\r\n")
	return head, rest
}

// headerValues are the values of one header in a raw header block, split on CRLF and
// on a bare LF alike (a browser takes either as the end of a line).
func headerValues(head, name string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(head, "\r\n", "\n"), "\n")[1:] {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

func TestSafeNext(t *testing.T) {
	for _, c := range []struct{ next, want string }{
		{"/settings", "/settings"},
		{"/contacts/12?tab=conversations#x", "/contacts/12?tab=conversations#x"},
		{"/inbox?q=100%25", "/inbox?q=100%25"},
		{"", "/inbox"},
		{"inbox", "/inbox"},
		{"//evil.example/", "/inbox"},
		{"/\\evil.example", "/inbox"},
		{"/%5cevil.example", "/inbox"},
		{"/%5Cevil.example", "/inbox"},
		{"\\\\evil.example", "/inbox"},
		{"https://evil.example/", "/inbox"},
		{"javascript:alert(1)", "/inbox"},
		{"/\t/evil.example/", "/inbox"},
		{"/\r\n/evil.example/", "/inbox"},
		{"/%09/evil.example/", "/inbox"},
		{"/%2f/evil.example/", "/inbox"},
		{"/%252f%252fevil.example/", "/inbox"},
		{"/\r\nSet-Cookie: inj=1", "/inbox"},
		{"/%0d%0aSet-Cookie:%20inj=1", "/inbox"},
		{"/%250d%250aSet-Cookie:%20inj=1", "/inbox"},
		{"/\x00", "/inbox"},
		{"/caf\u00e9", "/inbox"},
		{"/" + strings.Repeat("a", 3000), "/inbox"},
	} {
		if got := safeNext(c.next); got != c.want {
			t.Errorf("safeNext(%.80q) = %.80q, want %q", c.next, got, c.want)
		}
	}
}

// /login?next= is followed only to a clean path on this site: no header comes out of
// it and no redirect leaves, on GET (signed in or out) and on POST.
func TestLoginNextNeitherInjectsNorLeaves(t *testing.T) {
	k := startKibo(t)
	form := func(next string) string {
		return "email=sam%40example.com&password=agent-password&next=" + next
	}
	formHdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	head := rawHTTP(t, k.base, "POST", "/login", formHdr, form(""))
	cookies := headerValues(head, "Set-Cookie")
	if len(cookies) != 1 || !strings.HasPrefix(cookies[0], sessionCookie+"=") {
		t.Fatalf("plain login: %s", head)
	}
	session, _, _ := strings.Cut(cookies[0], ";")

	const crlf = "/%0d%0aSet-Cookie:%20inj=1"
	const lf = "/%0aSet-Cookie:%20inj=1"
	for _, next := range []string{crlf, lf} {
		for what, head := range map[string]string{
			"GET signed out": rawHTTP(t, k.base, "GET", "/login?next="+next, nil, ""),
			"GET signed in":  rawHTTP(t, k.base, "GET", "/login?next="+next, map[string]string{"Cookie": session}, ""),
			"POST":           rawHTTP(t, k.base, "POST", "/login", formHdr, form(next)),
		} {
			for _, c := range headerValues(head, "Set-Cookie") {
				if strings.HasPrefix(c, "inj=") {
					t.Errorf("%s next=%s: header injected:\n%s", what, next, head)
				}
			}
		}
	}
	for _, next := range []string{"//evil.example/", "/\t/evil.example/", "https://evil.example/", "/\\evil.example", "/%09/evil.example/", "/%5c%5cevil.example"} {
		for what, head := range map[string]string{
			"GET signed in": rawHTTP(t, k.base, "GET", "/login?next="+url.QueryEscape(next), map[string]string{"Cookie": session}, ""),
			"POST":          rawHTTP(t, k.base, "POST", "/login", formHdr, form(url.QueryEscape(next))),
		} {
			loc := headerValues(head, "Location")
			if len(loc) != 1 || loc[0] != "/inbox" {
				t.Errorf("%s next=%q: Location %q, want /inbox", what, next, loc)
			}
		}
	}
	// a clean path is followed, and a signed-out page sends the browser back to it
	head = rawHTTP(t, k.base, "POST", "/login", formHdr, form(url.QueryEscape("/contacts/3?tab=x&y=1")))
	if loc := headerValues(head, "Location"); len(loc) != 1 || loc[0] != "/contacts/3?tab=x&y=1" {
		t.Errorf("clean next: Location %q", loc)
	}
	head = rawHTTP(t, k.base, "GET", "/inbox?a=1&b=2", nil, "")
	if loc := headerValues(head, "Location"); len(loc) != 1 || loc[0] != "/login?next="+url.QueryEscape("/inbox?a=1&b=2") {
		t.Errorf("signed-out page: Location %q", loc)
	}
}

// An API token's last_used_at is written, off the request path and at most once a
// minute: not a write per request.
func TestTokenLastUsedIsWrittenAtMostOnceAMinute(t *testing.T) {
	clk := &opsClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	k := startKiboAt(t, clk)
	id, tok := k.newToken(k.agent.ID)
	lastUsed := func() string {
		var out struct {
			Tokens []struct {
				ID         int64      `json:"id"`
				LastUsedAt *time.Time `json:"last_used_at"`
			} `json:"tokens"`
		}
		k.api("GET", "/api/v1/tokens", k.adminToken, nil, &out, 200)
		for _, x := range out.Tokens {
			if x.ID == id && x.LastUsedAt != nil {
				return x.LastUsedAt.UTC().Format(time.RFC3339)
			}
		}
		return ""
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for lastUsed() != want {
			if time.Now().After(deadline) {
				t.Fatalf("last_used_at %q, want %q", lastUsed(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if lastUsed() != "" {
		t.Fatal("a new token has a last use")
	}
	k.api("GET", "/api/v1/me", tok, nil, nil, 200)
	waitFor("2026-03-02T09:00:00Z")
	clk.Add(30 * time.Second)
	for range 5 {
		k.api("GET", "/api/v1/me", tok, nil, nil, 200)
	}
	time.Sleep(200 * time.Millisecond) // what would be written by now
	waitFor("2026-03-02T09:00:00Z")
	clk.Add(31 * time.Second)
	k.api("GET", "/api/v1/me", tok, nil, nil, 200)
	waitFor("2026-03-02T09:01:01Z")
}

func TestClientAddressBehindTrustedProxies(t *testing.T) {
	none, _ := parseTrustedProxies(nil)
	proxies, err := parseTrustedProxies([]string{"10.0.0.0/8", " 192.0.2.7 ", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p      *trustedProxies
		peer   string
		xff    string
		client string
	}{
		{none, "203.0.113.9", "198.51.100.1", "203.0.113.9"},             // nobody is trusted
		{none, "127.0.0.1", "198.51.100.1", "127.0.0.1"},                 // not even loopback
		{proxies, "203.0.113.9", "198.51.100.1", "203.0.113.9"},          // not a proxy of ours
		{proxies, "10.1.2.3", "198.51.100.1", "198.51.100.1"},            // one proxy
		{proxies, "10.1.2.3", "6.6.6.6, 198.51.100.1", "198.51.100.1"},   // the client made up the first
		{proxies, "10.1.2.3", "198.51.100.1, 192.0.2.7", "198.51.100.1"}, // two proxies
		{proxies, "::1", "2001:db8::5", "2001:db8::5"},
		{proxies, "10.1.2.3", "", "10.1.2.3"},
		{proxies, "10.1.2.3", "not-an-ip", "10.1.2.3"},
		{proxies, "10.1.2.3", "10.9.9.9", "10.9.9.9"}, // only proxies: the first one
	} {
		if got := c.p.client(net.ParseIP(c.peer), c.xff); got != c.client {
			t.Errorf("peer %s, X-Forwarded-For %q: client %s, want %s", c.peer, c.xff, got, c.client)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example", "1.2.3"} {
		if _, err := parseTrustedProxies([]string{bad}); err == nil {
			t.Errorf("%q accepted as a trusted proxy", bad)
		}
	}
}

// The session cookie is Secure when Kibo's public URL is https, and when a trusted
// proxy says the request came over https; a client's own X-Forwarded-* is not
// believed (scheme, host).
func TestSecureCookieAndForwardedHeaders(t *testing.T) {
	login := func(k *testKibo, hdr map[string]string) string {
		hdr["Content-Type"] = "application/x-www-form-urlencoded"
		head := rawHTTP(t, k.base, "POST", "/login", hdr, "email=sam%40example.com&password=agent-password")
		for _, c := range headerValues(head, "Set-Cookie") {
			if strings.HasPrefix(c, sessionCookie+"=") {
				return c
			}
		}
		t.Fatalf("no session cookie:\n%s", head)
		return ""
	}
	secure := func(cookie string) bool {
		for _, attr := range strings.Split(cookie, ";") {
			if strings.EqualFold(strings.TrimSpace(attr), "secure") {
				return true
			}
		}
		return false
	}
	plain := startKibo(t)
	if c := login(plain, map[string]string{}); secure(c) {
		t.Errorf("plain http: %s", c)
	}
	if c := login(plain, map[string]string{"X-Forwarded-Proto": "https"}); secure(c) {
		t.Errorf("X-Forwarded-Proto from a client was believed: %s", c)
	}
	// a forwarded host is not believed either: a page on evil.example cannot pass
	// for Kibo's own by naming it
	b := plain.signIn("sam@example.com", "agent-password")
	h := http.Header{"Cookie": {sessionCookie + "=" + b.cookie}, "Origin": {"http://evil.example"}, "X-Forwarded-Host": {"evil.example"}}
	if _, resp, err := websocket.DefaultDialer.Dial(strings.Replace(plain.base, "http", "ws", 1)+"/api/v1/ws", h); err == nil || resp == nil || resp.StatusCode != 403 {
		t.Errorf("a socket from another origin with X-Forwarded-Host: %v", err)
	}

	public := startKiboTuned(t, nil, func(c *Config) { c.PublicURL = "https://support.example" })
	if c := login(public, map[string]string{}); !secure(c) {
		t.Errorf("KIBO_PUBLIC_URL https: %s", c)
	}
	proxied := startKiboTuned(t, nil, func(c *Config) { c.TrustedProxies = []string{"127.0.0.1"} })
	if c := login(proxied, map[string]string{"X-Forwarded-Proto": "https"}); !secure(c) {
		t.Errorf("https through a trusted proxy: %s", c)
	}
}
