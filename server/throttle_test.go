package server

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLoginThrottleRules(t *testing.T) {
	clk := &opsClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	lt := newLoginThrottle(clk.Now)
	fail := func(account, addr string) time.Duration {
		t.Helper()
		try, wait := lt.begin(account, addr)
		if try == nil {
			return wait
		}
		return 0 // admitted, and wrong: the failure stands
	}
	// a guesser at one address: 5 free tries, then 1 s, 2 s, 4 s between tries
	for i := 1; i <= 5; i++ {
		if w := fail("ann@example.com", "203.0.113.9"); w != 0 {
			t.Fatalf("try %d refused (%s)", i, w)
		}
	}
	if fail("ann@example.com", "203.0.113.9") != 0 {
		t.Fatal("the sixth try is admitted; its failure locks the next")
	}
	if w := fail("ANN@example.com ", "203.0.113.9"); w != time.Second {
		t.Fatalf("after 6 failures: wait %s, want 1s (the account's case and spaces do not matter)", w)
	}
	// the owner elsewhere is not held back by the guesser's pair
	if try, w := lt.begin("ann@example.com", "198.51.100.1"); try == nil {
		t.Fatalf("the owner at another address waits %s", w)
	} else {
		try.succeeded()
	}
	clk.Add(time.Second)
	fail("ann@example.com", "203.0.113.9")
	if w := fail("ann@example.com", "203.0.113.9"); w != 2*time.Second {
		t.Fatalf("after 7 failures: wait %s, want 2s", w)
	}
	clk.Add(2 * time.Second)
	fail("ann@example.com", "203.0.113.9")
	if w := fail("ann@example.com", "203.0.113.9"); w != 4*time.Second {
		t.Fatalf("after 8 failures: wait %s, want 4s", w)
	}
	// the pair's lock stops at 5 minutes
	for range 20 {
		clk.Add(10 * time.Minute)
		fail("ann@example.com", "203.0.113.9")
	}
	if w := fail("ann@example.com", "203.0.113.9"); w != 5*time.Minute {
		t.Fatalf("the pair's lock: %s, want its cap of 5 minutes", w)
	}
	// a success clears the pair
	clk.Add(5 * time.Minute)
	try, _ := lt.begin("ann@example.com", "203.0.113.9")
	try.succeeded()
	for i := 1; i <= 5; i++ {
		if w := fail("ann@example.com", "203.0.113.9"); w != 0 {
			t.Fatalf("after a success, try %d refused (%s)", i, w)
		}
	}

	// guessers spread over many addresses lock the account, but for at most 30 s,
	// and not for an address its owner signed in from
	lt = newLoginThrottle(clk.Now)
	try, _ = lt.begin("bo@example.com", "198.51.100.1")
	try.succeeded()
	var w time.Duration
	for i := 0; i < 100 && w == 0; i++ {
		w = fail("bo@example.com", fmt.Sprintf("203.0.113.%d", i))
	}
	if w == 0 || w > 30*time.Second {
		t.Fatalf("the account over many addresses: wait %s", w)
	}
	for range 40 {
		clk.Add(30 * time.Second)
		fail("bo@example.com", "203.0.113.200")
		fail("bo@example.com", "203.0.113.201")
	}
	if w := fail("bo@example.com", "203.0.113.202"); w <= 0 || w > 30*time.Second {
		t.Fatalf("the account's lock: %s, want at most 30 s", w)
	}
	if try, w := lt.begin("bo@example.com", "198.51.100.1"); try == nil {
		t.Fatalf("the owner's usual address waits %s behind the account's lock", w)
	}

	// one address trying many accounts is locked
	lt = newLoginThrottle(clk.Now)
	w = 0
	for i := 0; i < 100 && w == 0; i++ {
		w = fail(fmt.Sprintf("user%d@example.com", i), "203.0.113.50")
	}
	if w == 0 {
		t.Fatal("one address guessing 100 accounts is never locked")
	}
	if try, _ := lt.begin("someone@example.com", "203.0.113.51"); try == nil {
		t.Fatal("another address is locked with it")
	}
	// and a quiet hour forgets
	clk.Add(2 * time.Hour)
	if try, _ := lt.begin("user1@example.com", "203.0.113.50"); try == nil {
		t.Fatal("still locked after a quiet hour")
	}
}

// A burst of parallel guesses is throttled like a sequence: only the free tries get
// through to bcrypt.
func TestLoginThrottleParallelBurst(t *testing.T) {
	lt := newLoginThrottle(time.Now)
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if try, _ := lt.begin("ann@example.com", "203.0.113.9"); try != nil {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if admitted != 6 {
		t.Fatalf("%d of 200 parallel guesses admitted, want 6", admitted)
	}
}

// Wrong passwords at the login form get 429 with Retry-After and a readable page; the
// right password is refused too while the lock lasts, and works after it; a client's
// X-Forwarded-For does not make it someone else.
func TestLoginFormIsThrottled(t *testing.T) {
	clk := &opsClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	k := startKiboAt(t, clk)
	post := func(password string, hdr map[string]string) (int, string, string) {
		t.Helper()
		h := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}
		for k, v := range hdr {
			h[k] = v
		}
		head, body := rawHTTPBody(t, k.base, "POST", "/login", h, "email=sam%40example.com&password="+password)
		status, _ := strconv.Atoi(strings.Fields(head)[1])
		ra := ""
		if v := headerValues(head, "Retry-After"); len(v) > 0 {
			ra = v[0]
		}
		return status, ra, body
	}
	status, retry := 0, ""
	for i := 0; i < 30; i++ {
		var body string
		status, retry, body = post("wrong-"+strconv.Itoa(i), map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i)})
		if status == 429 {
			if !strings.Contains(body, "Too many wrong passwords") || !strings.Contains(body, "<form") {
				t.Fatalf("the 429 page is not the login form with a message:\n%s", body)
			}
			break
		}
		if status != 401 {
			t.Fatalf("wrong password %d: %d", i, status)
		}
	}
	if status != 429 || retry != "1" {
		t.Fatalf("30 wrong passwords: %d, Retry-After %q", status, retry)
	}
	if status, _, _ := post("agent-password", nil); status != 429 {
		t.Fatalf("the right password during the lock: %d", status)
	}
	clk.Add(time.Second)
	if status, _, _ := post("agent-password", nil); status != 303 {
		t.Fatalf("the right password after Retry-After: %d", status)
	}
}

// Changing one's own password goes through the same throttle, with a JSON 429.
func TestCurrentPasswordIsThrottled(t *testing.T) {
	k := startKibo(t)
	path := fmt.Sprintf("/api/v1/agents/%d", k.agent.ID)
	var e map[string]map[string]string
	resp := k.api("PATCH", path, k.agentToken, map[string]any{"password": "new-password", "current_password": "wrong"}, nil, 403)
	for range 10 {
		resp = k.api("PATCH", path, k.agentToken, map[string]any{"password": "new-password", "current_password": "wrong"}, &e, 0)
		if resp.StatusCode == 429 {
			break
		}
	}
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || e["error"]["code"] != "rate_limited" {
		t.Fatalf("guessing the current password: %d, Retry-After %q, %v", resp.StatusCode, resp.Header.Get("Retry-After"), e)
	}
}
