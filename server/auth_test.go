package server

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

// rawHTTP sends one request over a fresh connection and returns the answer's header
// block exactly as sent, so that an injected header line shows as one.
func rawHTTP(t *testing.T, base, method, target string, headers map[string]string, body string) string {
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
	head, _, _ := strings.Cut(string(resp), "\r\n\r\n")
	return head
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
