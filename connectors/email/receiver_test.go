package email

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"kibo/connectors"
)

// The acceptance tests of the receiver run against a real Dovecot (scripts/dovecot.sh).
// Each ends by checking that every message is stored exactly once.

func TestReceiverSyncsEveryMessageOnceAndIgnoresSeen(t *testing.T) {
	t.Parallel()
	d := startDovecot(t)
	admin := d.admin(t)
	// 250 messages: more than one fetch batch. Another client has read some of them
	// already; that must change nothing.
	const n = 250
	for i := 1; i <= n; i++ {
		var flags []imap.Flag
		if i%3 == 0 {
			flags = append(flags, imap.FlagSeen)
		}
		appendMsg(t, admin, "INBOX", testMail(i), flags...)
	}
	store := newMemStore(t)
	store.inOrder = true // the cursor never passes an uncommitted message
	r := NewReceiver(7, d.config("INBOX", 0), store)
	r.batch = 100
	rr := runReceiver(t, r, store)
	waitFor(t, 10*time.Second, "the initial sync", func() bool { return store.count() == n })
	store.checkExactly(t, 1, n)

	// Delivered with the inbox and the sender; the cursor covers them all.
	for _, m := range store.Stored() {
		i := testNumberOf(m.ExternalID)
		if m.InboxID != 7 || m.Identity.ExternalID != fmt.Sprintf("customer%d@example.org", i) ||
			m.Metadata[MetaMailbox] != "INBOX" || len(m.Raw) == 0 {
			t.Fatalf("message %d mapped wrongly: %+v", i, m)
		}
	}
	if _, last := store.cursor(); last != n {
		t.Errorf("cursor at UID %d, want %d", last, n)
	}

	// Kibo never marks mail as read (BODY.PEEK).
	if _, err := admin.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	seen, err := admin.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(seen.AllUIDs()); got != n/3 {
		t.Errorf("%d messages are \\Seen after the sync, want the %d another client read", got, n/3)
	}

	// Another client marks everything read, then new mail arrives already read:
	// it still arrives (by UID, never by UNSEEN).
	if err := admin.Store(imap.UIDSetNum(1, 2, 3, 4, 5), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	for i := n + 1; i <= n+5; i++ {
		appendMsg(t, admin, "INBOX", testMail(i), imap.FlagSeen)
	}
	waitFor(t, 10*time.Second, "mail appended already read", func() bool { return store.count() == n+5 })
	rr.stop()

	// A new receiver resumes from the cursor: the last message's UID equals the
	// cursor, and "UID last+1:*" still returns it; nothing may be delivered again.
	before := store.Calls()
	rr2 := runReceiver(t, NewReceiver(7, d.config("INBOX", 0), store), store)
	waitFor(t, 5*time.Second, "the second receiver to sync", func() bool { return rr2.connected.Load() > 0 })
	if got := store.Calls() - before; got != 0 {
		t.Errorf("a restarted receiver delivered %d messages again", got)
	}
	appendMsg(t, admin, "INBOX", testMail(n+6))
	waitFor(t, 10*time.Second, "mail after the restart", func() bool { return store.count() == n+6 })
	store.checkExactly(t, 1, n+6)
	if store.dups() != 0 {
		t.Errorf("%d duplicate deliveries; want none without a UIDVALIDITY change", store.dups())
	}
}

func TestReceiverIdleDeliversWithinSeconds(t *testing.T) {
	t.Parallel()
	d := startDovecot(t)
	admin := d.admin(t)
	store := newMemStore(t)
	cfg := d.config("INBOX", 0)
	cfg.PollInterval = time.Hour // only IDLE can wake the receiver
	rr := runReceiver(t, NewReceiver(1, cfg, store), store)
	waitFor(t, 5*time.Second, "the receiver to connect", func() bool { return rr.connected.Load() > 0 })
	time.Sleep(50 * time.Millisecond) // let it enter IDLE
	for i := 1; i <= 3; i++ {
		start := time.Now()
		appendMsg(t, admin, "INBOX", testMail(i))
		waitFor(t, 5*time.Second, "a message appended while idle", func() bool { return store.count() == i })
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("message %d took %s to arrive", i, took)
		}
	}
	store.checkExactly(t, 1, 3)
}

func TestReceiverPollsWithoutIdle(t *testing.T) {
	t.Parallel()
	d := startDovecot(t)
	admin := d.admin(t)
	store := newMemStore(t)
	cfg := d.config("INBOX", 0)
	cfg.PollInterval = 50 * time.Millisecond
	r := NewReceiver(1, cfg, store)
	r.noIdle = true
	rr := runReceiver(t, r, store)
	waitFor(t, 5*time.Second, "the receiver to connect", func() bool { return rr.connected.Load() > 0 })
	appendMsg(t, admin, "INBOX", testMail(1))
	appendMsg(t, admin, "INBOX", testMail(2))
	waitFor(t, 5*time.Second, "polled mail", func() bool { return store.count() == 2 })
	store.checkExactly(t, 1, 2)
}

func TestReceiverSurvivesDroppedConnections(t *testing.T) {
	t.Parallel()
	d := startDovecot(t)
	admin := d.admin(t)
	const n = 300
	for i := 1; i <= n; i++ {
		appendMsg(t, admin, "INBOX", testMail(i))
	}
	p := newProxy(t, d.addr())
	// The network fails three times during the sync: in the middle of the first
	// FETCH response (30 KB into the connection), then twice right after a commit.
	p.cutAfter.Store(30 << 10)
	store := newMemStore(t)
	store.inOrder = true
	var cuts atomic.Int64
	store.afterCommit = func(in connectors.Inbound) error {
		switch in.ExternalID {
		case testID(40), testID(170):
			cuts.Add(1)
			p.cutAll()
		}
		return nil
	}
	r := NewReceiver(1, d.config("INBOX", p.port()), store)
	r.batch = 100
	rr := runReceiver(t, r, store)
	waitFor(t, 20*time.Second, "all mail through a failing network", func() bool { return store.count() == n })
	store.checkExactly(t, 1, n)
	if store.dups() != 0 {
		t.Errorf("%d duplicate deliveries", store.dups())
	}
	if rr.failures.Load() < 3 || p.accepted.Load() < 4 {
		t.Errorf("expected at least 3 failures and 4 connections, got %d and %d", rr.failures.Load(), p.accepted.Load())
	}
	if cuts.Load() != 2 {
		t.Errorf("%d cuts", cuts.Load())
	}
	// And it is still receiving.
	appendMsg(t, admin, "INBOX", testMail(n+1))
	waitFor(t, 10*time.Second, "mail after the failures", func() bool { return store.count() == n+1 })
}

func TestReceiverSurvivesDovecotRestart(t *testing.T) {
	t.Parallel()
	d := startDovecot(t)
	admin := d.admin(t)
	const n = 120
	for i := 1; i <= n; i++ {
		appendMsg(t, admin, "INBOX", testMail(i))
	}
	store := newMemStore(t)
	store.inOrder = true
	// Dovecot dies (SIGKILL, with all its processes) in the middle of the sync and
	// comes back a little later.
	restarted := make(chan struct{})
	store.afterCommit = func(in connectors.Inbound) error {
		if in.ExternalID == testID(50) {
			d.kill(t)
			go func() {
				time.Sleep(100 * time.Millisecond)
				d.restart(t)
				close(restarted)
			}()
		}
		return nil
	}
	r := NewReceiver(1, d.config("INBOX", 0), store)
	r.batch = 50
	rr := runReceiver(t, r, store)
	<-restarted
	waitFor(t, 15*time.Second, "all mail after the restart", func() bool { return store.count() == n })
	if rr.failures.Load() == 0 {
		t.Error("the receiver reported no failure while Dovecot was down")
	}
	if e, _ := rr.lastErr.Load().(string); e == "" {
		t.Error("no error text reported through OnStatus")
	}

	// A second restart while idle; mail sent meanwhile arrives afterwards.
	connected := rr.connected.Load()
	d.kill(t)
	d.restart(t)
	admin2 := d.admin(t)
	for i := n + 1; i <= n+10; i++ {
		appendMsg(t, admin2, "INBOX", testMail(i))
	}
	waitFor(t, 15*time.Second, "mail after the second restart", func() bool { return store.count() == n+10 })
	if rr.connected.Load() <= connected {
		t.Error("the receiver did not report reconnecting")
	}
	store.checkExactly(t, 1, n+10)
	if store.dups() != 0 {
		t.Errorf("%d duplicate deliveries", store.dups())
	}
}

func TestReceiverRescansWhenUIDValidityChanges(t *testing.T) {
	t.Parallel()
	d := startDovecot(t)
	admin := d.admin(t)
	const box = "Support"
	if err := admin.Create(box, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		appendMsg(t, admin, box, testMail(i))
	}
	oldValidity := uidValidity(t, admin, box)
	store := newMemStore(t)
	cfg := d.config(box, 0)
	// Dovecot does not tell the idling client that its mailbox was deleted; the
	// receiver finds out when it renews IDLE and re-selects the mailbox (every 25
	// minutes by default).
	cfg.IdleRefresh = 200 * time.Millisecond
	rr := runReceiver(t, NewReceiver(1, cfg, store), store)
	waitFor(t, 10*time.Second, "the first sync", func() bool { return store.count() == 10 })

	// Someone deletes and recreates the folder, and the server puts the old mail
	// back with new UIDs (a restore from backup, a server migration), plus new mail.
	if err := admin.Delete(box).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(box, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for i := 15; i >= 1; i-- { // a different order, so that UIDs differ too
		appendMsg(t, admin, box, testMail(i))
	}
	newValidity := uidValidity(t, admin, box)
	if newValidity == oldValidity {
		t.Fatalf("UIDVALIDITY did not change (%d)", newValidity)
	}
	waitFor(t, 15*time.Second, "the re-scan", func() bool { return store.count() == 15 && store.dups() == 10 })
	store.checkExactly(t, 1, 15)
	if uv, last := store.cursor(); uv != newValidity || last != 15 {
		t.Errorf("cursor %d/%d, want %d/15", uv, last, newValidity)
	}
	if rr.failures.Load() != 0 {
		t.Errorf("%d failures; the change should have been noticed without one", rr.failures.Load())
	}
}

func uidValidity(t testing.TB, c *imapclient.Client, box string) uint32 {
	t.Helper()
	st, err := c.Status(box, &imap.StatusOptions{UIDValidity: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return st.UIDValidity
}

// The process dies after the fetch, before the message's transaction commits: a new
// receiver (a restarted Kibo) resumes from the cursor, and nothing is lost or stored
// twice. The messages of a batch are delivered concurrently and the cursor moves only
// once all of them are committed, so what was committed of a failed batch comes again
// and is recognised by its Message-ID.
func TestReceiverResumesAfterKillBetweenFetchAndCommit(t *testing.T) {
	t.Parallel()
	d := startDovecot(t)
	admin := d.admin(t)
	const n = 40
	for i := 1; i <= n; i++ {
		appendMsg(t, admin, "INBOX", testMail(i))
	}
	store := newMemStore(t)
	store.inOrder = true

	// Kibo #1 is killed while storing message 17: its context ends and the
	// transaction never commits.
	ctx, cancel := context.WithCancel(context.Background())
	store.beforeCommit = func(in connectors.Inbound) error {
		if in.ExternalID == testID(17) {
			cancel()
			return context.Canceled
		}
		return nil
	}
	r1 := NewReceiver(1, d.config("INBOX", 0), store)
	done := make(chan error, 1)
	go func() { done <- r1.Run(ctx, store) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if _, last := store.cursor(); store.has(testID(17)) || last != 0 {
		t.Fatalf("after the kill: message 17 stored %v, cursor at %d; want neither", store.has(testID(17)), last)
	}
	before := store.count()

	// The store itself fails twice on message 25 (disk full, lock timeout): the
	// receiver retries until it goes in.
	var failures atomic.Int64
	store.beforeCommit = func(in connectors.Inbound) error {
		if in.ExternalID == testID(25) && failures.Add(1) <= 2 {
			return errors.New("database is locked")
		}
		return nil
	}
	// And the answer to message 33's commit is lost (the store committed, the
	// receiver did not hear it).
	var lost atomic.Bool
	store.afterCommit = func(in connectors.Inbound) error {
		if in.ExternalID == testID(33) && !lost.Swap(true) {
			return errors.New("connection to the store lost")
		}
		return nil
	}
	rr := runReceiver(t, NewReceiver(1, d.config("INBOX", 0), store), store)
	waitFor(t, 10*time.Second, "the resumed sync", func() bool { return store.count() == n })
	store.checkExactly(t, 1, n)
	waitFor(t, 5*time.Second, "the cursor over all", func() bool { _, last := store.cursor(); return last == n })
	// What was committed before a failure came again and was recognised, never stored
	// twice (checkExactly); at most the batch was delivered again for each failure.
	if d := store.dups(); d < before || d > 3*n {
		t.Errorf("%d repeated deliveries (%d were stored before the kill)", d, before)
	}
	if !lost.Load() {
		t.Error("the lost answer was never simulated")
	}
	if failures.Load() < 3 {
		t.Errorf("message 25 was tried %d times", failures.Load())
	}
	// the two faults may hit one batch together: at least two failed sessions
	if rr.failures.Load() < 2 {
		t.Errorf("%d failures reported, want at least 2", rr.failures.Load())
	}
}

func TestReceiverQuarantinesWhatItCannotProcess(t *testing.T) {
	t.Parallel()
	d := startDovecot(t)
	admin := d.admin(t)
	appendMsg(t, admin, "INBOX", testMail(1))
	junk := []byte("X-Nothing: at all\r\n\r\nno sender, no anything\r\n")
	appendMsg(t, admin, "INBOX", junk)
	appendMsg(t, admin, "INBOX", testMail(3))
	appendMsg(t, admin, "INBOX", testMail(4))
	panics := []byte("From: a@example.org\r\nX-Test-Parser-Panic: yes\r\n\r\nboom\r\n")
	appendMsg(t, admin, "INBOX", panics)
	appendMsg(t, admin, "INBOX", testMail(5))
	store := newMemStore(t)
	store.beforeCommit = func(in connectors.Inbound) error {
		if in.ExternalID == testID(4) {
			return connectors.Permanent("attachment storage refused the file", nil)
		}
		return nil
	}
	runReceiver(t, NewReceiver(1, d.config("INBOX", 0), store), store)
	waitFor(t, 10*time.Second, "the sync", func() bool { return store.has(testID(5)) })
	stored := store.count()
	store.mu.Lock()
	defer store.mu.Unlock()
	if stored != 3 || len(store.quarantine) != 3 {
		t.Fatalf("%d stored, %d quarantined; want 3 and 3", stored, len(store.quarantine))
	}
	q := store.quarantine[0]
	if q.uid != 2 || string(q.raw) != string(junk) || !strings.Contains(q.reason, "no sender") {
		t.Errorf("quarantine[0] = UID %d, reason %q, raw %q", q.uid, q.reason, q.raw)
	}
	if q := store.quarantine[1]; q.uid != 4 || !strings.Contains(q.reason, "attachment storage refused") {
		t.Errorf("quarantine[1] = UID %d, reason %q", q.uid, q.reason)
	}
	if q := store.quarantine[2]; q.uid != 5 || !strings.Contains(q.reason, "parser panic") || string(q.raw) != string(panics) {
		t.Errorf("quarantine[2] = UID %d, reason %q", q.uid, q.reason)
	}
	if store.lastUID != 6 {
		t.Errorf("cursor at UID %d, want 6", store.lastUID)
	}
}

func TestReceiverReportsLoginFailuresAndKeepsTrying(t *testing.T) {
	t.Parallel()
	d := startDovecot(t)
	store := newMemStore(t)
	cfg := d.config("INBOX", 0)
	cfg.IMAP.Password = "wrong"
	rr := runReceiver(t, NewReceiver(1, cfg, store), store)
	waitFor(t, 5*time.Second, "three failed attempts", func() bool { return rr.failures.Load() >= 3 })
	e, _ := rr.lastErr.Load().(string)
	if !strings.Contains(e, "IMAP login refused for support@example.com") {
		t.Errorf("status error %q", e)
	}
	rr.stop()
}

func TestCheckReportsClearErrors(t *testing.T) {
	t.Parallel()
	d := startDovecot(t)
	ctx := context.Background()
	ok := d.config("INBOX", 0)
	if err := NewReceiver(1, ok, newMemStore(t)).Check(ctx); err != nil {
		t.Fatalf("Check with good settings: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"wrong password", func(c *Config) { c.IMAP.Password = "nope" }, "IMAP login refused for support@example.com: imap: NO"},
		{"unknown host", func(c *Config) { c.IMAP.Host = "imap.does-not-exist.invalid" }, `IMAP server "imap.does-not-exist.invalid" not found (unknown host)`},
		{"connection refused", func(c *Config) { c.IMAP.Port = freePort(t) }, "refused the connection"},
		{"TLS to a plain port", func(c *Config) { c.IMAP.TLS = TLSImplicit }, "TLS handshake with IMAP server 127.0.0.1:"},
		{"STARTTLS not offered", func(c *Config) { c.IMAP.TLS = TLSStartTLS }, "STARTTLS handshake with IMAP server"},
		{"no such mailbox", func(c *Config) { c.IMAP.Mailbox = "Nope" }, `IMAP mailbox "Nope" cannot be opened`},
	} {
		cfg := ok
		tc.change(&cfg)
		err := NewReceiver(1, cfg, newMemStore(t)).Check(ctx)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// Quick tests against go-imap's in-memory server for what Dovecot does not make easy
// to provoke.

func TestReceiverIgnoresStarResultBelowCursor(t *testing.T) {
	t.Parallel()
	srv := newMemServer(t)
	for i := 1; i <= 3; i++ {
		srv.append(t, testMail(i))
	}
	store := newMemStore(t)
	store.uidValidity, store.lastUID = srv.uidValidity, 3 // all three already stored
	r := NewReceiver(1, srv.config(), store)
	r.noIdle = true
	r.cfg.PollInterval = 20 * time.Millisecond
	rr := runReceiver(t, r, store)
	waitFor(t, 5*time.Second, "a few polls", func() bool { return rr.connected.Load() > 0 })
	time.Sleep(100 * time.Millisecond)
	if got := store.Calls(); got != 0 {
		t.Fatalf("delivered %d messages at or below the cursor", got)
	}
	srv.append(t, testMail(4))
	waitFor(t, 5*time.Second, "the new message", func() bool { return store.has(testID(4)) })
	if store.count() != 1 {
		t.Errorf("stored %d, want only message 4", store.count())
	}
}

// The messages of a batch go to the sink concurrently, but a reply never before the
// message it answers, and one sender's messages in the order they came; the cursor
// follows only what is committed.
func TestReceiverDeliversRelatedMessagesInUIDOrder(t *testing.T) {
	t.Parallel()
	srv := newMemServer(t)
	const n = 230
	var originals []int
	for i := 1; i <= n; i++ {
		switch {
		case i > 3 && i%3 == 0:
			// a reply to a recent message (often in the same batch), from a third party
			to := originals[len(originals)-1-i%min(len(originals), 5)]
			srv.append(t, testReply(i, to, fmt.Sprintf("Colleague <colleague%d@example.org>", i)))
		case i%5 == 0:
			// one customer writes again and again
			srv.append(t, []byte(strings.Replace(string(testMail(i)), fmt.Sprintf("<customer%d@example.org>", i), "<frequent@example.org>", 1)))
			originals = append(originals, i)
		default:
			srv.append(t, testMail(i))
			originals = append(originals, i)
		}
	}
	store := newMemStore(t)
	store.inOrder = true
	// a slow, uneven store, so that concurrent deliveries overtake each other
	store.beforeCommit = func(in connectors.Inbound) error {
		time.Sleep(time.Duration(testNumberOf(in.ExternalID)*7%5) * time.Millisecond)
		return nil
	}
	r := NewReceiver(1, srv.config(), store)
	r.batch = 100 // three batches
	runReceiver(t, r, store)
	waitFor(t, 20*time.Second, "the sync", func() bool { return store.count() == n })
	store.checkExactly(t, 1, n)
	last, overtaken := 0, 0
	for i, m := range store.Stored() {
		k := testNumberOf(m.ExternalID)
		if m.Identity.ExternalID == "frequent@example.org" {
			if k < last {
				t.Errorf("frequent@example.org's message %d stored after its message %d", k, last)
			}
			last = k
		}
		if k != i+1 {
			overtaken++
		}
	}
	if overtaken == 0 {
		t.Log("every message was stored in UID order: nothing was delivered concurrently")
	}
	if _, cur := store.cursor(); cur != n {
		t.Errorf("cursor at UID %d, want %d", cur, n)
	}
}
