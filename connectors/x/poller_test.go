package x

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kibo/connectors"
	"kibo/connectors/connectortest"
)

const secondCursor = "NDU2Nzg5MDEyMzQ1Njc4OTA"

// fakeClock stands in for time: Sleep advances Now at once, then hands the wait to the
// test (slept) and blocks until the test lets the poller go on (resume) or ctx ends.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	slept  chan time.Duration
	resume chan struct{}
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: testNow, slept: make(chan time.Duration), resume: make(chan struct{})}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
	select {
	case f.slept <- d:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-f.resume:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// nextSleep waits for the poller to finish a round and says how long it wants to wait.
func (f *fakeClock) nextSleep(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-f.slept:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("the poller did not come to rest")
		return 0
	}
}

func startPoller(t *testing.T, c *Connector, sink *connectortest.Sink) (*fakeClock, func()) {
	t.Helper()
	clk := newFakeClock()
	c.now, c.sleep = clk.Now, clk.Sleep
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, sink) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not stop")
		}
	}
	t.Cleanup(stop)
	return clk, stop
}

// serveTwoPages answers the list with page 1, then page 2 for its cursor.
func serveTwoPages(t *testing.T, f *fakeX, page1Header map[string]string) {
	f.handle(pathList, func(call xCall) xReply {
		if call.Query.Get("count") != "50" {
			t.Errorf("count = %q", call.Query.Get("count"))
		}
		switch call.Query.Get("cursor") {
		case "":
			return fixtureReply(t, 200, "events_list_page1.json", page1Header)
		case secondCursor:
			return fixtureReply(t, 200, "events_list_page2.json", nil)
		}
		t.Errorf("unexpected cursor %q", call.Query.Get("cursor"))
		return xReply{400, nil, nil}
	})
	f.reply(pathLookup, fixtureReply(t, 200, "users_lookup.json", nil))
}

func ids(stored []connectors.Inbound) []string {
	var out []string
	for _, in := range stored {
		out = append(out, in.ExternalID)
	}
	return out
}

var wantOrder = []string{
	"1063573894173323269",
	"1063573894173323270",
	"1063573894173323271",
	"1063573894173323272",
	"1063573894173323273",
}

func TestRunTwoPagesOldestFirst(t *testing.T) {
	f := newFakeX(t)
	serveTwoPages(t, f, map[string]string{"x-rate-limit-limit": "15", "x-rate-limit-remaining": "14", "x-rate-limit-reset": "1710418500"})
	c := newTestConnector(t, f, nil)
	sink := &connectortest.Sink{}
	clk, _ := startPoller(t, c, sink)

	if d := clk.nextSleep(t); d != time.Minute {
		t.Errorf("wait after a poll = %v, want the poll interval", d)
	}
	stored := sink.Stored()
	if got := ids(stored); !slices.Equal(got, wantOrder) {
		t.Fatalf("delivered %v\nwant      %v", got, wantOrder)
	}
	for _, in := range stored {
		if in.InboxID != 5 || in.Identity.Kind != "x" || len(in.Raw) == 0 {
			t.Errorf("%s: %+v", in.ExternalID, in)
		}
	}
	echo := stored[3]
	if !echo.Echo || echo.Identity.ExternalID != customerID || echo.Identity.Name != "Jordan Brinks" || echo.Text != "We've sent a new one." {
		t.Errorf("echo = %+v", echo)
	}
	sean := stored[4]
	if sean.Echo || sean.Identity.ExternalID != "623265148" || sean.Identity.Name != "Sean Cook" || sean.Identity.Handle != "theSeanCook" {
		t.Errorf("Sean's message = %+v", sean)
	}
	if !stored[0].SentAt.Equal(time.UnixMilli(1542410751275)) {
		t.Errorf("SentAt = %v", stored[0].SentAt)
	}
	lookups := f.callsTo(pathLookup)
	if len(lookups) != 1 {
		t.Fatalf("%d users/lookup calls", len(lookups))
	}
	asked := strings.Split(lookups[0].Query.Get("user_id"), ",")
	slices.Sort(asked)
	if !slices.Equal(asked, []string{customerID, "623265148"}) {
		t.Errorf("looked up %v; the account itself needs no lookup", asked)
	}
	checkOAuth(t, f.callsTo(pathList)[0])

	// The next poll sees only known events on page 1: nothing reaches the sink, page 2
	// is not fetched and the names come from the cache.
	clk.resume <- struct{}{}
	clk.nextSleep(t)
	if calls := sink.Calls(); calls != 5 {
		t.Errorf("sink called %d times, want 5: the seen-set should spare it", calls)
	}
	if n := len(f.callsTo(pathList)); n != 3 {
		t.Errorf("%d list calls, want 3 (page 1, page 2, page 1)", n)
	}
	if n := len(f.callsTo(pathLookup)); n != 1 {
		t.Errorf("%d lookups, want 1 (cached)", n)
	}
}

func TestRunWaitsOutRateLimit(t *testing.T) {
	f := newFakeX(t)
	reset := testNow.Add(90 * time.Second).Unix()
	headers := map[string]string{"x-rate-limit-limit": "15", "x-rate-limit-remaining": "0", "x-rate-limit-reset": strconv.FormatInt(reset, 10)}
	limited := true
	var mu sync.Mutex
	f.handle(pathList, func(call xCall) xReply {
		mu.Lock()
		defer mu.Unlock()
		if limited {
			limited = false
			return fixtureReply(t, 429, "error_88.json", headers)
		}
		if call.Query.Get("cursor") == "" {
			// The last call of the window: page 2 must wait for the reset.
			next := map[string]string{"x-rate-limit-limit": "15", "x-rate-limit-remaining": "0",
				"x-rate-limit-reset": strconv.FormatInt(reset+900, 10)}
			return fixtureReply(t, 200, "events_list_page1.json", next)
		}
		return fixtureReply(t, 200, "events_list_page2.json", nil)
	})
	f.reply(pathLookup, fixtureReply(t, 200, "users_lookup.json", nil))
	var mu2 sync.Mutex
	var statuses []bool
	c := newTestConnector(t, f, func(cfg *Config) {
		cfg.OnStatus = func(up bool, err error) {
			mu2.Lock()
			defer mu2.Unlock()
			statuses = append(statuses, up)
		}
	})
	sink := &connectortest.Sink{}
	clk, _ := startPoller(t, c, sink)

	if d := clk.nextSleep(t); d != 91*time.Second {
		t.Errorf("after a 429, wait %v, want until the reset (91s)", d)
	}
	if n := len(f.callsTo(pathList)); n != 1 {
		t.Errorf("%d list calls while limited", n)
	}
	clk.resume <- struct{}{}
	if d := clk.nextSleep(t); d != 900*time.Second {
		t.Errorf("with no calls left mid-walk, wait %v, want until the next reset (900s)", d)
	}
	if stored := sink.Stored(); len(stored) != 0 {
		t.Errorf("delivered %d before the walk finished", len(stored))
	}
	clk.resume <- struct{}{}
	clk.nextSleep(t)
	calls := f.callsTo(pathList)
	if len(calls) != 3 || calls[2].Query.Get("cursor") != secondCursor {
		t.Fatalf("the walk should resume at the saved cursor: %d calls", len(calls))
	}
	stored := sink.Stored()
	if got := ids(stored); !slices.Equal(got, wantOrder) {
		t.Errorf("delivered %v", got)
	}
	mu2.Lock()
	defer mu2.Unlock()
	for _, up := range statuses {
		if !up {
			t.Error("a rate limit is not a lost connection")
		}
	}
}

func TestRunBadCredentialsBacksOff(t *testing.T) {
	f := newFakeX(t)
	f.reply(pathList, fixtureReply(t, 401, "error_32.json", nil))
	type status struct {
		up  bool
		err error
	}
	var mu sync.Mutex
	var statuses []status
	c := newTestConnector(t, f, func(cfg *Config) {
		cfg.OnStatus = func(up bool, err error) {
			mu.Lock()
			defer mu.Unlock()
			statuses = append(statuses, status{up, err})
		}
	})
	sink := &connectortest.Sink{}
	clk, _ := startPoller(t, c, sink)

	var waits []time.Duration
	for i := range 3 {
		if i > 0 {
			clk.resume <- struct{}{}
		}
		waits = append(waits, clk.nextSleep(t))
	}
	if !slices.Equal(waits, []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute}) {
		t.Errorf("waits = %v, want doubling from the poll interval", waits)
	}
	// The credentials are fixed: the next poll reconnects.
	serveTwoPages(t, f, nil)
	clk.resume <- struct{}{}
	clk.nextSleep(t)
	if stored := sink.Stored(); len(stored) != 5 {
		t.Errorf("stored %d after reconnecting", len(stored))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(statuses) != 2 || statuses[0].up || !strings.Contains(statuses[0].err.Error(), "Could not authenticate you.") ||
		!statuses[1].up || statuses[1].err != nil {
		t.Errorf("statuses = %+v; want one 'down' with X's words, then one 'up'", statuses)
	}
}

func TestRunRedeliversAfterSinkFailure(t *testing.T) {
	f := newFakeX(t)
	serveTwoPages(t, f, nil)
	c := newTestConnector(t, f, nil)
	sink := &connectortest.Sink{}
	sink.Fail(errors.New("database is locked"))
	clk, _ := startPoller(t, c, sink)

	if d := clk.nextSleep(t); d != time.Minute {
		t.Errorf("backoff after a store failure = %v", d)
	}
	sink.Fail(nil)
	clk.resume <- struct{}{}
	clk.nextSleep(t)
	stored := sink.Stored()
	if got := ids(stored); !slices.Equal(got, wantOrder) {
		t.Errorf("after the store came back: %v", got)
	}
}

func TestRunLearnsOwnID(t *testing.T) {
	f := newFakeX(t)
	serveTwoPages(t, f, nil)
	f.reply(pathVerify, fixtureReply(t, 200, "verify_credentials.json", nil))
	c := newTestConnector(t, f, func(cfg *Config) { cfg.UserID = "" })
	sink := &connectortest.Sink{}
	clk, _ := startPoller(t, c, sink)
	clk.nextSleep(t)
	stored := sink.Stored()
	if len(stored) != 5 || !stored[3].Echo {
		t.Errorf("without UserID, the echo must still be told apart: %+v", ids(stored))
	}
	clk.resume <- struct{}{}
	clk.nextSleep(t)
	if n := len(f.callsTo(pathVerify)); n != 1 {
		t.Errorf("%d verify_credentials calls, want 1", n)
	}
}

func TestBackoff(t *testing.T) {
	for _, tt := range []struct {
		failures int
		want     time.Duration
	}{{1, time.Minute}, {2, 2 * time.Minute}, {5, 16 * time.Minute}, {6, maxBackoff}, {60, maxBackoff}} {
		if got := backoff(time.Minute, tt.failures); got != tt.want {
			t.Errorf("backoff(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}
