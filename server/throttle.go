package server

import (
	"strings"
	"sync"
	"time"
)

// loginThrottle slows password guessing without letting a guesser lock a real agent
// out for long. It counts failed passwords per (account, address) pair, per account
// and per address, each with its own rule: a few failures are free, then each one
// locks the key for twice as long as the last, up to a short cap, and failures are
// forgotten after a quiet while. The pair, which is the guesser, gets the fewest free
// failures and the longest cap; the account alone, which a guesser may share with its
// owner, the shortest cap, and a pair that signed in before is not held back by it.
// A success clears its pair. A refused attempt records nothing and costs no bcrypt.
//
// Every attempt counts as a failure from the moment it is admitted (a success takes
// it back), so a burst of parallel guesses is throttled like a sequence.
//
// It lives in memory: a restart forgets it, and several Kibo processes count apart.
type loginThrottle struct {
	now   func() time.Time
	rules [3]throttleRule // pair, account, address

	mu    sync.Mutex
	keys  map[string]*strikes
	known map[string]time.Time // pair → its last sign-in
}

type throttleRule struct {
	free   int           // failures before the first lock
	base   time.Duration // the first lock; each further failure doubles it
	max    time.Duration
	forget time.Duration // a key quiet this long starts again from nothing
}

// The rules. A guesser at one address gets 5 tries, then waits 1 s, 2 s, 4 s... up to
// 5 minutes between tries. An account gets 20 failures from all addresses together,
// then at most 30 s of lock at a time; an address 50 failures over any accounts (a
// list of stolen passwords), then up to 5 minutes.
var defaultThrottleRules = [3]throttleRule{
	{free: 5, base: time.Second, max: 5 * time.Minute, forget: time.Hour},
	{free: 20, base: time.Second, max: 30 * time.Second, forget: 15 * time.Minute},
	{free: 50, base: time.Second, max: 5 * time.Minute, forget: time.Hour},
}

const (
	rememberSignIn  = 30 * 24 * time.Hour // how long a pair that signed in stays known
	throttleMaxKeys = 100_000             // past this, forgotten keys are swept
)

type strikes struct {
	rule  *throttleRule
	fails int
	last  time.Time // the last failure
	until time.Time // locked until
}

func newLoginThrottle(now func() time.Time) *loginThrottle {
	return &loginThrottle{now: now, rules: defaultThrottleRules, keys: map[string]*strikes{}, known: map[string]time.Time{}}
}

// loginAttempt is one admitted attempt; report how it went with its methods.
type loginAttempt struct {
	t    *loginThrottle
	keys [3]string
}

func throttleKeys(account, addr string) [3]string {
	account = strings.ToLower(strings.TrimSpace(account))
	return [3]string{"p\x00" + account + "\x00" + addr, "a\x00" + account, "i\x00" + addr}
}

// begin admits an attempt, or says how long to wait before the next one may be made.
func (t *loginThrottle) begin(account, addr string) (*loginAttempt, time.Duration) {
	keys := throttleKeys(account, addr)
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var wait time.Duration
	for i, k := range keys {
		if i == 1 && now.Sub(t.known[keys[0]]) < rememberSignIn {
			continue // its owner signed in from here: the account's lock is for others
		}
		if st := t.keys[k]; st != nil && st.until.After(now) {
			wait = max(wait, st.until.Sub(now))
		}
	}
	if wait > 0 {
		return nil, wait
	}
	if len(t.keys) >= throttleMaxKeys {
		t.sweepLocked(now)
	}
	for i, k := range keys {
		st := t.keys[k]
		if st == nil {
			st = &strikes{rule: &t.rules[i]}
			t.keys[k] = st
		}
		if now.Sub(st.last) > st.rule.forget {
			st.fails = 0
		}
		st.fails++
		st.last = now
		st.until = now.Add(st.rule.lock(st.fails))
	}
	return &loginAttempt{t: t, keys: keys}, 0
}

// lock is how long a key stays locked after its n-th failure.
func (r *throttleRule) lock(n int) time.Duration {
	if n <= r.free {
		return 0
	}
	d := r.base
	for i := r.free + 1; i < n && d < r.max; i++ {
		d *= 2
	}
	return min(d, r.max)
}

// succeeded takes the attempt back from the account and the address, clears the pair
// and remembers it.
func (a *loginAttempt) succeeded() {
	t := a.t
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.keys, a.keys[0])
	for _, k := range a.keys[1:] {
		if st := t.keys[k]; st != nil {
			st.fails = max(st.fails-1, 0)
			if st.fails <= st.rule.free {
				st.until = time.Time{}
			}
		}
	}
	if len(t.known) >= throttleMaxKeys {
		for p, at := range t.known {
			if now.Sub(at) >= rememberSignIn {
				delete(t.known, p)
			}
		}
	}
	t.known[a.keys[0]] = now
}

// sweepLocked forgets keys that lock nothing and would start from nothing; if that is
// not enough (a flood of made-up accounts), every unlocked key.
func (t *loginThrottle) sweepLocked(now time.Time) {
	for k, st := range t.keys {
		if !st.until.After(now) && now.Sub(st.last) > st.rule.forget {
			delete(t.keys, k)
		}
	}
	if len(t.keys) < throttleMaxKeys*9/10 {
		return
	}
	for k, st := range t.keys {
		if !st.until.After(now) {
			delete(t.keys, k)
		}
	}
}

// retryAfter is a wait in whole seconds for the Retry-After header, at least 1.
func retryAfter(d time.Duration) int {
	return max(int((d+time.Second-1)/time.Second), 1)
}
