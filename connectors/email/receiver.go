package email

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"kibo/connectors"
)

// The receiver's progress lives in the store (connectors.MailState); the receiver
// never writes the cursor itself. Instead the message it hands to the sink last in a
// batch carries its position (Inbound.MailCursor), once every other message of the
// batch is committed, and the sink commits that position in the same transaction as
// the message, also when Deliver finds a duplicate. A crash anywhere therefore resumes
// after a position all of whose messages are committed: never a loss; what was
// committed after it comes again and is recognised by Message-ID, never stored twice.
// A message that can't be processed is quarantined with the cursor moved past it
// (MailState.Quarantine), so it never blocks the ones after it.

// Receiver reads one IMAP mailbox into a sink: it syncs by UID from the stored cursor
// (never by \Seen or "the last N", so another client reading the mail or a day of
// downtime loses nothing), then waits with IDLE (or polls) for more, and reconnects
// with backoff after any failure.
type Receiver struct {
	inboxID int64
	cfg     Config
	state   connectors.MailState
	// noIdle makes the receiver poll even when the server offers IDLE (tests).
	noIdle bool
	// batch is how many messages one FETCH asks for (fetchBatch; tests make it
	// smaller to cross batches with few messages).
	batch int
}

// fetchBatch is how many messages one UID FETCH asks for; fetchBytes caps the total
// size of one batch so that a run of large messages does not fill the memory. The
// messages of a batch are delivered concurrently (deliverBatch), so a larger batch
// makes larger group commits: 500 ingests about 1.3× as fast as 100 (BENCHMARKS.md,
// "E-mail ingest").
const (
	fetchBatch = 500
	fetchBytes = 64 << 20
)

// NewReceiver makes a receiver for one inbox. It does not connect until Run or Check.
func NewReceiver(inboxID int64, cfg Config, state connectors.MailState) *Receiver {
	return &Receiver{inboxID: inboxID, cfg: cfg.withDefaults(), state: state, batch: fetchBatch}
}

// Run receives until ctx ends and then returns nil. Failures never end it: each one is
// reported through Config.OnStatus and logged, and the receiver reconnects after a
// wait that doubles from ReconnectMin up to ReconnectMax (reset once a session has
// synced).
func (r *Receiver) Run(ctx context.Context, sink connectors.Sink) error {
	log := r.cfg.Logger.With("inbox", r.inboxID, "mailbox", r.cfg.IMAP.Mailbox)
	delay := r.cfg.ReconnectMin
	for {
		synced, err := r.session(ctx, sink)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("IMAP session ended")
		}
		r.status(false, err)
		if synced {
			delay = r.cfg.ReconnectMin
		}
		wait := delay/2 + rand.N(delay/2+1)
		log.Warn("email: IMAP receiver failed; reconnecting", "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(delay*2, r.cfg.ReconnectMax)
	}
}

func (r *Receiver) status(connected bool, err error) {
	if r.cfg.OnStatus != nil {
		r.cfg.OnStatus(connected, err)
	}
}

var errClosed = errors.New("the IMAP server closed the connection")

// session is one connection: connect, select, sync, then wait and sync until an error.
// synced reports whether the first sync completed.
func (r *Receiver) session(ctx context.Context, sink connectors.Sink) (synced bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("email: receiver panic: %v", p)
		}
	}()
	// The unilateral handler runs on the client's reader goroutine and must not
	// block: it only drops a token in a one-slot channel.
	wake := make(chan struct{}, 1)
	opts := &imapclient.Options{
		WordDecoder: wordDecoder,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case wake <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	c, err := connectIMAP(ctx, r.cfg, opts)
	if err != nil {
		return false, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	sel, err := c.Select(r.cfg.IMAP.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return false, fmt.Errorf("IMAP mailbox %q cannot be opened: %w", r.cfg.IMAP.Mailbox, err)
	}
	if err := r.sync(ctx, c, sink, sel.UIDValidity); err != nil {
		return false, err
	}
	r.status(true, nil)
	idle := !r.noIdle && c.Caps().Has(imap.CapIdle)
	for {
		timer, err := r.wait(ctx, c, wake, idle)
		if err != nil {
			return true, err
		}
		if timer {
			// Servers do not always tell a client idling in a mailbox that it was
			// deleted and recreated (Dovecot does not, and even answers STATUS from
			// the old one): open it afresh now and then.
			sel, err = c.Select(r.cfg.IMAP.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
			if err != nil {
				return true, fmt.Errorf("IMAP mailbox %q cannot be opened: %w", r.cfg.IMAP.Mailbox, err)
			}
		}
		if err := r.sync(ctx, c, sink, sel.UIDValidity); err != nil {
			return true, err
		}
	}
}

// wait blocks until there may be new mail: an EXISTS from the server, the IDLE refresh
// time, or (without IDLE) the poll interval. timer reports that the time ran out.
func (r *Receiver) wait(ctx context.Context, c *imapclient.Client, wake <-chan struct{}, idle bool) (timer bool, err error) {
	if !idle {
		t := time.NewTimer(r.cfg.PollInterval)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-c.Closed():
			return false, errClosed
		case <-wake:
			return false, nil
		case <-t.C:
			return true, nil
		}
	}
	select {
	case <-wake: // mail arrived while we were syncing
		return false, nil
	default:
	}
	cmd, err := c.Idle()
	if err != nil {
		return false, fmt.Errorf("IMAP IDLE: %w", err)
	}
	t := time.NewTimer(r.cfg.IdleRefresh)
	defer t.Stop()
	var reason error
	select {
	case <-ctx.Done():
		reason = ctx.Err()
	case <-c.Closed():
		reason = errClosed
	case <-wake:
	case <-t.C:
		timer = true
	}
	if err := cmd.Close(); err != nil && reason == nil {
		reason = fmt.Errorf("ending IMAP IDLE: %w", err)
	}
	if reason == nil {
		if err := cmd.Wait(); err != nil {
			reason = fmt.Errorf("IMAP IDLE: %w", err)
		}
	}
	return timer, reason
}

// sync delivers every message after the committed cursor, in UID order.
func (r *Receiver) sync(ctx context.Context, c *imapclient.Client, sink connectors.Sink, uidValidity uint32) error {
	stored, err := r.state.Cursor(ctx, r.inboxID)
	if err != nil {
		return fmt.Errorf("reading the IMAP cursor: %w", err)
	}
	start := imap.UID(stored.UID) + 1
	if stored.UIDValidity != uidValidity {
		if stored.UIDValidity != 0 {
			r.cfg.Logger.Warn("email: UIDVALIDITY changed; re-scanning the whole mailbox (duplicates are dropped by Message-ID)",
				"inbox", r.inboxID, "mailbox", r.cfg.IMAP.Mailbox, "old", stored.UIDValidity, "new", uidValidity)
		}
		start = 1
	}
	if start == 0 { // lastUID was the largest UID there is
		return nil
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{
		UID: []imap.UIDSet{{imap.UIDRange{Start: start, Stop: 0}}},
	}, nil).Wait()
	if err != nil {
		return fmt.Errorf("IMAP UID SEARCH: %w", err)
	}
	// "n:*" always includes the last message, even when its UID is below n.
	var uids []imap.UID
	for _, uid := range data.AllUIDs() {
		if uid >= start {
			uids = append(uids, uid)
		}
	}
	slices.Sort(uids)
	for len(uids) > 0 {
		n := min(r.batch, len(uids))
		if err := r.fetch(ctx, c, uids[:n], func(batch []*pending) error {
			return r.deliverBatch(ctx, sink, uidValidity, batch)
		}); err != nil {
			return err
		}
		uids = uids[n:]
	}
	return nil
}

// fetch fetches one batch of UIDs, splitting it further when the messages are large,
// and hands each part to hand, in UID order.
func (r *Receiver) fetch(ctx context.Context, c *imapclient.Client, uids []imap.UID, hand func([]*pending) error) error {
	sizes, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
	if err != nil {
		return fmt.Errorf("IMAP FETCH sizes: %w", err)
	}
	size := map[imap.UID]int64{}
	for _, m := range sizes {
		size[m.UID] = m.RFC822Size
	}
	var group []imap.UID
	var total int64
	for i, uid := range uids {
		s, ok := size[uid]
		if !ok {
			continue // expunged since the search
		}
		group = append(group, uid)
		total += s
		if total >= fetchBytes || i == len(uids)-1 {
			if err := r.fetchBodies(c, group, hand); err != nil {
				return err
			}
			group, total = nil, 0
		}
	}
	if len(group) > 0 {
		return r.fetchBodies(c, group, hand)
	}
	return nil
}

func (r *Receiver) fetchBodies(c *imapclient.Client, uids []imap.UID, hand func([]*pending) error) error {
	type fetched struct {
		uid  imap.UID
		raw  []byte
		body bool
	}
	// BODY.PEEK[] never sets \Seen: Kibo reads the mailbox without changing it.
	cmd := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	var msgs []fetched
	for {
		m := cmd.Next()
		if m == nil {
			break
		}
		var f fetched
		for {
			item := m.Next()
			if item == nil {
				break
			}
			switch item := item.(type) {
			case imapclient.FetchItemDataUID:
				f.uid = item.UID
			case imapclient.FetchItemDataBodySection:
				f.body = true
				if item.Literal == nil {
					continue
				}
				b, err := io.ReadAll(item.Literal)
				if err == nil && int64(len(b)) != item.Literal.Size() {
					// A connection closed mid-literal reads as a clean EOF.
					err = fmt.Errorf("message cut short at %d of %d bytes", len(b), item.Literal.Size())
				}
				if err != nil {
					// Leave the command alone from here: after a failed literal
					// read, go-imap (beta.8) would read the rest of it from this
					// goroutine while its reader goroutine uses the same buffer (a
					// data race). The connection is lost anyway.
					c.Close()
					return fmt.Errorf("IMAP FETCH: reading a message: %w", err)
				}
				f.raw = b
			}
		}
		msgs = append(msgs, f)
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("IMAP FETCH: %w", err)
	}
	slices.SortFunc(msgs, func(a, b fetched) int { return cmp.Compare(a.uid, b.uid) })
	want := imap.UIDSetNum(uids...)
	var batch []*pending
	for _, m := range msgs {
		// Unasked-for FETCH responses (flag changes by other clients) are not ours.
		if m.uid == 0 || !m.body || !want.Contains(m.uid) {
			continue
		}
		batch = append(batch, &pending{uid: uint32(m.uid), raw: m.raw})
	}
	if len(batch) == 0 {
		return nil
	}
	return hand(batch)
}

// pending is one fetched message on its way to the sink.
type pending struct {
	uid uint32
	raw []byte
	in  connectors.Inbound
	// reason, when set, sends the message to quarantine instead of the sink.
	reason string
	// after lists the earlier messages of the batch this one must wait for.
	after []*pending
	done  chan struct{}
	err   error // a failure that a retry may mend: the batch fails
}

// deliverBatch hands a fetched batch (in UID order) to the sink. One message after
// the other, every message would wait for its own commit (an fsync): the store's
// group commit could not batch anything. So the messages are parsed in parallel and
// delivered concurrently, and the cursor is kept safe and the order where it
// matters:
//
//   - the concurrent deliveries carry no cursor (Inbound.MailCursor nil), so their
//     commits leave it where it was;
//   - messages that cannot be processed are quarantined only after every delivery
//     before the last has succeeded, in UID order (a quarantine moves the cursor to
//     its UID);
//   - the last message of the batch goes last, alone, with the cursor: committing
//     it moves the cursor over the whole batch, all of which is committed by then.
//
// A failure anywhere fails the batch before the cursor moves; the next session
// fetches it again and the sink recognises what it already stored by Message-ID.
// Messages that depend on each other (a reply and the message it answers, two of
// one sender, one ticket token, the same Message-ID, the same attachment file) are
// delivered in UID order.
func (r *Receiver) deliverBatch(ctx context.Context, sink connectors.Sink, uidValidity uint32, batch []*pending) error {
	if len(batch) == 0 {
		return nil
	}
	r.parseAll(batch)
	last := batch[len(batch)-1]
	rest := batch[:len(batch)-1]
	if len(rest) > 0 {
		linkDependencies(batch)
		var wg sync.WaitGroup
		sem := make(chan struct{}, maxConcurrentDeliveries)
		for _, p := range rest {
			p.done = make(chan struct{})
		}
		for _, p := range rest {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				defer close(p.done)
				for _, dep := range p.after {
					<-dep.done
					if dep.err != nil {
						p.err = fmt.Errorf("waiting for IMAP UID %d: %w", dep.uid, dep.err)
						return
					}
				}
				if p.reason == "" {
					p.err = r.deliverOne(ctx, sink, p, nil)
				}
			}()
		}
		wg.Wait()
		for _, p := range rest {
			if p.err != nil {
				return p.err
			}
		}
		for _, p := range rest {
			if p.reason != "" {
				if err := r.quarantine(ctx, uidValidity, p.uid, p.raw, p.reason); err != nil {
					return err
				}
			}
		}
	}
	if last.reason == "" {
		if err := r.deliverOne(ctx, sink, last, &uidValidity); err != nil {
			return err
		}
	}
	if last.reason != "" {
		return r.quarantine(ctx, uidValidity, last.uid, last.raw, last.reason)
	}
	return nil
}

// maxConcurrentDeliveries bounds the deliveries in flight; a fetch batch is smaller.
const maxConcurrentDeliveries = 128

// parseAll parses the batch on every CPU and sets each message's Inbound, or the
// reason it goes to quarantine.
func (r *Receiver) parseAll(batch []*pending) {
	work := make(chan *pending)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(batch)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				r.prepare(p)
			}
		}()
	}
	for _, p := range batch {
		work <- p
	}
	close(work)
	wg.Wait()
}

func (r *Receiver) prepare(p *pending) {
	if p.raw == nil {
		p.reason = "the IMAP server returned no content for this message"
		return
	}
	parsed, err := Parse(p.raw, r.cfg.MaxAttachment)
	if err != nil {
		p.reason = "cannot parse the message: " + err.Error()
		return
	}
	p.in = ToInbound(r.inboxID, parsed, p.raw)
	p.in.Metadata[MetaMailbox] = r.cfg.IMAP.Mailbox
}

// linkDependencies makes each message wait for the latest earlier message of the
// batch it shares a key with: a Message-ID (its own, or one it answers through
// In-Reply-To and References), its sender, its ticket token, or an attachment's
// content (the store writes one file per content, and two writers of one file would
// trip over each other). What shares nothing is delivered at once.
func linkDependencies(batch []*pending) {
	latest := map[string]*pending{}
	for _, p := range batch {
		if p.reason != "" {
			continue
		}
		var keys []string
		if p.in.ExternalID != "" {
			keys = append(keys, "id:"+p.in.ExternalID)
		}
		for _, ref := range p.in.ThreadRefs {
			keys = append(keys, "id:"+ref)
		}
		keys = append(keys, "from:"+p.in.Identity.ExternalID)
		if p.in.SubjectToken != 0 {
			keys = append(keys, "token:"+strconv.FormatInt(p.in.SubjectToken, 10))
		}
		for _, a := range p.in.Attachments {
			if a.Data != nil {
				sum := sha256.Sum256(a.Data)
				keys = append(keys, "file:"+string(sum[:]))
			}
		}
		seen := map[*pending]bool{}
		for _, k := range keys {
			if dep := latest[k]; dep != nil && !seen[dep] {
				seen[dep] = true
				p.after = append(p.after, dep)
			}
		}
		for _, k := range keys {
			latest[k] = p
		}
	}
}

// deliverOne hands one parsed message to the sink. With uidValidity set, the
// message carries the cursor (Inbound.MailCursor): its commit moves the cursor to its
// UID. A refusal for good sends it to quarantine (reason), anything else is
// returned.
func (r *Receiver) deliverOne(ctx context.Context, sink connectors.Sink, p *pending, uidValidity *uint32) (err error) {
	// it runs on a goroutine of its own: a panic in the sink must end the session
	// (and be reported), not the process
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("delivering IMAP UID %d: panic: %v", p.uid, v)
		}
	}()
	in := p.in
	if uidValidity != nil {
		in.MailCursor = &connectors.MailCursor{UIDValidity: *uidValidity, UID: p.uid}
	}
	if _, err := sink.Deliver(ctx, in); err != nil {
		if connectors.IsPermanent(err) {
			p.reason = "the store refused the message: " + err.Error()
			return nil
		}
		return fmt.Errorf("delivering IMAP UID %d: %w", p.uid, err)
	}
	return nil
}

func (r *Receiver) quarantine(ctx context.Context, uidValidity, uid uint32, raw []byte, reason string) error {
	r.cfg.Logger.Warn("email: message quarantined", "inbox", r.inboxID, "uid", uid, "reason", reason)
	if err := r.state.Quarantine(ctx, r.inboxID, connectors.MailCursor{UIDValidity: uidValidity, UID: uid}, raw, reason); err != nil {
		return fmt.Errorf("quarantining IMAP UID %d: %w", uid, err)
	}
	return nil
}

// Check logs in to the IMAP server and opens the mailbox, for "Test connection".
func (r *Receiver) Check(ctx context.Context) error {
	return checkIMAP(ctx, r.cfg)
}

func checkIMAP(ctx context.Context, cfg Config) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	c, err := connectIMAP(ctx, cfg, &imapclient.Options{WordDecoder: wordDecoder})
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if _, err := c.Select(cfg.IMAP.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return &ConnError{Msg: fmt.Sprintf("IMAP mailbox %q cannot be opened", cfg.IMAP.Mailbox), Err: err}
	}
	_ = c.Logout().Wait()
	return nil
}

// connectIMAP dials by TLS mode and logs in.
func connectIMAP(ctx context.Context, cfg Config, opts *imapclient.Options) (*imapclient.Client, error) {
	s := cfg.IMAP
	conn, err := dial(ctx, cfg, "IMAP", s)
	if err != nil {
		return nil, err
	}
	// Until login completes, ctx ending must also end a server that went silent.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var c *imapclient.Client
	if s.TLS == TLSStartTLS {
		o := *opts
		o.TLSConfig = cfg.tlsConfig(s.Host)
		c, err = imapclient.NewStartTLS(conn, &o)
		if err != nil {
			conn.Close()
			return nil, describeTLSError("IMAP", s, err)
		}
	} else {
		c = imapclient.New(conn, opts)
	}
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, &ConnError{Msg: fmt.Sprintf("IMAP server %s did not greet (is it an IMAP server?)", s.addr()), Err: err}
	}
	if err := c.Login(s.Username, s.Password).Wait(); err != nil {
		c.Close()
		var imapErr *imap.Error
		if errors.As(err, &imapErr) {
			return nil, &ConnError{Msg: fmt.Sprintf("IMAP login refused for %s", s.Username), Auth: true, Err: err}
		}
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, &ConnError{Msg: fmt.Sprintf("IMAP login failed for %s", s.Username), Err: err}
	}
	return c, nil
}
