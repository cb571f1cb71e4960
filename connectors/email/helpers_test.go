package email

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"kibo/connectors"
	"kibo/connectors/connectortest"
)

// ---- a throwaway Dovecot, started by scripts/dovecot.sh ----

type dovecot struct {
	dir  string
	port int
}

func dovecotScript(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	p, err := filepath.Abs(filepath.Join(filepath.Dir(file), "..", "..", "scripts", "dovecot.sh"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startDovecot starts a Dovecot of our own on a free loopback port. The acceptance
// tests need a real IMAP server: they are skipped only when KIBO_SKIP_DOVECOT=1 and
// fail when Dovecot cannot be installed or started.
func startDovecot(t *testing.T) *dovecot {
	t.Helper()
	if os.Getenv("KIBO_SKIP_DOVECOT") == "1" {
		t.Skip("KIBO_SKIP_DOVECOT=1: skipping the acceptance test against a real Dovecot")
	}
	// Not t.TempDir: Dovecot's auth and mail processes run as other users and must
	// reach the directory (t.TempDir's parent is private), and its unix sockets need
	// a short path.
	dir, err := os.MkdirTemp("", "kibo-dc-")
	if err != nil {
		t.Fatal(err)
	}
	d := &dovecot{dir: dir, port: freePort(t)}
	t.Cleanup(func() {
		d.run(t, "stop", d.dir)
		os.RemoveAll(dir)
	})
	d.run(t, "start", d.dir, strconv.Itoa(d.port))
	return d
}

func (d *dovecot) run(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command(dovecotScript(t), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		log, _ := os.ReadFile(filepath.Join(d.dir, "dovecot.log"))
		t.Fatalf("scripts/dovecot.sh %v: %v\n%s\n%s", args, err, out.String(), log)
	}
}

func (d *dovecot) kill(t testing.TB)    { d.run(t, "kill", d.dir) }
func (d *dovecot) restart(t testing.TB) { d.run(t, "start", d.dir, strconv.Itoa(d.port)) }
func (d *dovecot) addr() string         { return net.JoinHostPort("127.0.0.1", strconv.Itoa(d.port)) }

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// config is a receiver configuration for this Dovecot (or for a proxy in front of it).
func (d *dovecot) config(mailbox string, port int) Config {
	if port == 0 {
		port = d.port
	}
	return Config{
		AllowPrivateHosts: true, // Dovecot listens on loopback
		Address:           "support@example.com",
		IMAP: ServerConfig{Host: "127.0.0.1", Port: port, TLS: TLSNone,
			Username: "support@example.com", Password: "secret", Mailbox: mailbox},
		SMTP:          ServerConfig{Host: "127.0.0.1", Port: 1, TLS: TLSNone},
		PollInterval:  time.Hour, // the tests rely on IDLE unless they say otherwise
		ReconnectMin:  20 * time.Millisecond,
		ReconnectMax:  200 * time.Millisecond,
		Timeout:       5 * time.Second,
		MaxAttachment: 30 << 20,
		Logger:        slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// admin is a second IMAP client, playing the mail server's other users: it appends
// mail, marks it read, deletes mailboxes.
func (d *dovecot) admin(t testing.TB) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(d.addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login("support@example.com", "secret").Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

func appendMsg(t testing.TB, c *imapclient.Client, mailbox string, raw []byte, flags ...imap.Flag) imap.UID {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(raw)), &imap.AppendOptions{Flags: flags})
	if _, err := cmd.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatalf("APPEND: %v", err)
	}
	return data.UID
}

// testMail is a small, valid message with a unique Message-ID.
func testMail(n int) []byte {
	return []byte(fmt.Sprintf("From: Customer %d <customer%d@example.org>\r\n"+
		"To: support@example.com\r\n"+
		"Subject: Question number %d\r\n"+
		"Date: Mon, 1 Apr 2024 10:00:00 +0000\r\n"+
		"Message-ID: <msg-%d@example.org>\r\n"+
		"MIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n"+
		"\r\n"+
		"Hello, this is question %d.\r\n", n, n, n, n, n))
}

func testID(n int) string { return fmt.Sprintf("<msg-%d@example.org>", n) }

// testNumber is n of testID(n).
func testNumber(id string) (int, bool) {
	var n int
	_, err := fmt.Sscanf(id, "<msg-%d@example.org>", &n)
	return n, err == nil
}

func testNumberOf(id string) int {
	n, _ := testNumber(id)
	return n
}

// testReply is testMail(n) from sender, answering testMail(to).
func testReply(n, to int, sender string) []byte {
	return []byte(fmt.Sprintf("From: %s\r\n"+
		"To: support@example.com\r\n"+
		"Subject: Re: Question number %d\r\n"+
		"Date: Mon, 1 Apr 2024 11:00:00 +0000\r\n"+
		"Message-ID: <msg-%d@example.org>\r\n"+
		"In-Reply-To: <msg-%d@example.org>\r\n"+
		"References: <msg-%d@example.org>\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n"+
		"\r\n"+
		"A follow-up, number %d.\r\n", sender, to, n, to, to, n))
}

// ---- an in-memory store: Sink and MailState, with the store's transaction rule ----

type quarantined struct {
	uidValidity, uid uint32
	raw              []byte
	reason           string
}

// memStore models the real store: Deliver commits the message (unless its
// ExternalID is known) and the cursor it carries, when it carries one, in one step
// (connectortest.Sink, whose Commit hook moves the cursor); Quarantine commits the
// quarantine row and the cursor in one step.
type memStore struct {
	*connectortest.Sink
	t  testing.TB
	mu sync.Mutex // the cursor and the quarantine; taken inside the sink's lock

	uidValidity, lastUID uint32
	quarantine           []quarantined
	committed            map[int]bool // testNumber of the stored messages

	// beforeCommit, when set, runs before the transaction; an error aborts it (the
	// process died, the disk is full) and nothing is committed.
	beforeCommit func(in connectors.Inbound) error
	// afterCommit, when set, runs after the commit; an error is returned to the
	// receiver although the message is stored (the answer was lost).
	afterCommit func(in connectors.Inbound) error
	// inOrder, when set, checks the receiver's promises for a fresh mailbox where
	// testMail(n) has UID n: the cursor never passes a message that is neither stored
	// nor quarantined, and a message is stored after the messages it answers.
	inOrder bool
}

func newMemStore(t testing.TB) *memStore {
	s := &memStore{t: t, committed: map[int]bool{}}
	s.Sink = &connectortest.Sink{
		Before: func(in connectors.Inbound) error {
			if s.beforeCommit != nil {
				return s.beforeCommit(in)
			}
			return nil
		},
		Commit: s.commit,
		After: func(in connectors.Inbound) error {
			if s.afterCommit != nil {
				return s.afterCommit(in)
			}
			return nil
		},
	}
	return s
}

func (s *memStore) Cursor(ctx context.Context, inboxID int64) (connectors.MailCursor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return connectors.MailCursor{UIDValidity: s.uidValidity, UID: s.lastUID}, nil
}

// cursor is where the cursor stands.
func (s *memStore) cursor() (uidValidity, lastUID uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.uidValidity, s.lastUID
}

func (s *memStore) advance(c connectors.MailCursor) {
	if c.UIDValidity == s.uidValidity && c.UID <= s.lastUID {
		s.t.Errorf("cursor went backwards or repeated: %d/%d after %d/%d", c.UIDValidity, c.UID, s.uidValidity, s.lastUID)
	}
	if s.inOrder {
		for n := uint32(1); n <= c.UID; n++ {
			if !s.committed[int(n)] && !slices.ContainsFunc(s.quarantine, func(q quarantined) bool { return q.uid == n }) {
				s.t.Errorf("the cursor moved to UID %d while UID %d is not committed", c.UID, n)
				break
			}
		}
	}
	s.uidValidity, s.lastUID = c.UIDValidity, c.UID
}

func (s *memStore) Quarantine(ctx context.Context, inboxID int64, at connectors.MailCursor, raw []byte, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quarantine = append(s.quarantine, quarantined{at.UIDValidity, at.UID, raw, reason})
	s.advance(at)
	return nil
}

// commit is what the store commits with a message: the checks of the receiver's
// promises, and the cursor the message carries.
func (s *memStore) commit(in connectors.Inbound, duplicate bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, _ := testNumber(in.ExternalID)
	if !duplicate && s.inOrder {
		for _, ref := range in.ThreadRefs {
			if r, ok := testNumber(ref); ok && r < n && !s.committed[r] {
				s.t.Errorf("%s stored before %s, which it answers", in.ExternalID, ref)
			}
		}
	}
	s.committed[n] = true
	if in.MailCursor != nil {
		s.advance(*in.MailCursor)
	}
}

func (s *memStore) count() int { return len(s.Stored()) }

func (s *memStore) dups() int { return s.Duplicates() }

func (s *memStore) has(id string) bool { return s.Has(id) }

// checkExactly verifies that the messages from..to (testMail) are all stored, each once.
func (s *memStore) checkExactly(t testing.TB, from, to int) {
	t.Helper()
	seen := map[string]int{}
	for _, m := range s.Stored() {
		seen[m.ExternalID]++
	}
	for n := from; n <= to; n++ {
		if c := seen[testID(n)]; c != 1 {
			t.Errorf("message %d stored %d times", n, c)
		}
	}
}

// ---- running a receiver ----

type runningReceiver struct {
	cancel    context.CancelFunc
	done      chan struct{}
	connected atomic.Int64 // successful syncs after connecting
	failures  atomic.Int64
	lastErr   atomic.Value
}

func runReceiver(t testing.TB, r *Receiver, sink connectors.Sink) *runningReceiver {
	t.Helper()
	rr := &runningReceiver{done: make(chan struct{})}
	r.cfg.OnStatus = func(connected bool, err error) {
		if connected {
			rr.connected.Add(1)
		} else {
			rr.failures.Add(1)
			rr.lastErr.Store(err.Error())
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr.cancel = cancel
	go func() {
		defer close(rr.done)
		if err := r.Run(ctx, sink); err != nil {
			t.Errorf("Run returned %v", err)
		}
	}()
	t.Cleanup(rr.stop)
	return rr
}

func (rr *runningReceiver) stop() {
	rr.cancel()
	<-rr.done
}

// waitFor polls cond every few milliseconds until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ---- a TCP proxy that can cut connections ----

type proxy struct {
	t        testing.TB
	ln       net.Listener
	target   string
	mu       sync.Mutex
	conns    []net.Conn
	accepted atomic.Int64
	// cutAfter, when > 0, cuts the connection after that many bytes went from the
	// server to the client (the middle of a FETCH).
	cutAfter atomic.Int64
}

func newProxy(t testing.TB, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.cutAll() })
	return p
}

func (p *proxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *proxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		go func() { io.Copy(server, client); server.Close() }()
		go func() {
			limit := p.cutAfter.Swap(0)
			if limit > 0 {
				io.CopyN(client, server, limit)
				client.Close()
				server.Close()
				return
			}
			io.Copy(client, server)
			client.Close()
		}()
	}
}

// cutAll drops every open connection, as a network failure would.
func (p *proxy) cutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

var logOut io.Writer = io.Discard
