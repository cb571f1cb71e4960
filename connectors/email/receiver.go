package email

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"kibo/connectors"
)

// SyncState is where the receiver's progress lives. The store implements it; the
// receiver never writes the cursor itself. Instead every message it hands to the sink
// carries its position (Metadata MetaUIDValidity and MetaUID), and the sink commits
// that position in the same transaction as the message, also when Deliver finds a
// duplicate. A crash anywhere therefore resumes exactly after the last committed
// message: never a loss, never a duplicate.
type SyncState interface {
	// Cursor returns the last UIDVALIDITY and the highest UID committed for this
	// inbox; (0, 0) before the first message.
	Cursor(ctx context.Context, inboxID int64) (uidValidity uint32, lastUID uint32, err error)
	// Quarantine stores a message that cannot be processed (unparseable, no sender,
	// refused by the store for good) with its raw source and the reason, raises the
	// alert, and advances the cursor to (uidValidity, uid), all in one transaction,
	// so that one bad message never blocks the ones after it.
	Quarantine(ctx context.Context, inboxID int64, uidValidity, uid uint32, raw []byte, reason string) error
}

// Receiver reads one IMAP mailbox into a sink: it syncs by UID from the stored cursor
// (never by \Seen or "the last N", so another client reading the mail or a day of
// downtime loses nothing), then waits with IDLE (or polls) for more, and reconnects
// with backoff after any failure.
type Receiver struct {
	inboxID int64
	cfg     Config
	state   SyncState
	// noIdle makes the receiver poll even when the server offers IDLE (tests).
	noIdle bool
}

// fetchBatch is how many messages one UID FETCH asks for; fetchBytes caps the total
// size of one batch so that a run of large messages does not fill the memory.
const (
	fetchBatch = 100
	fetchBytes = 64 << 20
)

// NewReceiver makes a receiver for one inbox. It does not connect until Run or Check.
func NewReceiver(inboxID int64, cfg Config, state SyncState) *Receiver {
	return &Receiver{inboxID: inboxID, cfg: cfg.withDefaults(), state: state}
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
	storedValidity, lastUID, err := r.state.Cursor(ctx, r.inboxID)
	if err != nil {
		return fmt.Errorf("reading the IMAP cursor: %w", err)
	}
	start := imap.UID(lastUID) + 1
	if storedValidity != uidValidity {
		if storedValidity != 0 {
			r.cfg.Logger.Warn("email: UIDVALIDITY changed; re-scanning the whole mailbox (duplicates are dropped by Message-ID)",
				"inbox", r.inboxID, "mailbox", r.cfg.IMAP.Mailbox, "old", storedValidity, "new", uidValidity)
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
		n := min(fetchBatch, len(uids))
		if err := r.fetch(ctx, c, sink, uidValidity, uids[:n]); err != nil {
			return err
		}
		uids = uids[n:]
	}
	return nil
}

// fetch delivers one batch of UIDs, splitting it further when the messages are large.
func (r *Receiver) fetch(ctx context.Context, c *imapclient.Client, sink connectors.Sink, uidValidity uint32, uids []imap.UID) error {
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
			if err := r.fetchBodies(ctx, c, sink, uidValidity, group); err != nil {
				return err
			}
			group, total = group[:0], 0
		}
	}
	if len(group) > 0 {
		return r.fetchBodies(ctx, c, sink, uidValidity, group)
	}
	return nil
}

func (r *Receiver) fetchBodies(ctx context.Context, c *imapclient.Client, sink connectors.Sink, uidValidity uint32, uids []imap.UID) error {
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
	for _, m := range msgs {
		// Unasked-for FETCH responses (flag changes by other clients) are not ours.
		if m.uid == 0 || !m.body || !want.Contains(m.uid) {
			continue
		}
		if err := r.deliver(ctx, sink, uidValidity, uint32(m.uid), m.raw); err != nil {
			return err
		}
	}
	return nil
}

// deliver hands one message to the sink, or to quarantine when it cannot become a
// ticket.
func (r *Receiver) deliver(ctx context.Context, sink connectors.Sink, uidValidity, uid uint32, raw []byte) error {
	if raw == nil {
		return r.quarantine(ctx, uidValidity, uid, raw, "the IMAP server returned no content for this message")
	}
	p, err := Parse(raw, r.cfg.MaxAttachment)
	if err != nil {
		return r.quarantine(ctx, uidValidity, uid, raw, "cannot parse the message: "+err.Error())
	}
	in := ToInbound(r.inboxID, p, raw)
	in.Metadata[MetaUIDValidity] = strconv.FormatUint(uint64(uidValidity), 10)
	in.Metadata[MetaUID] = strconv.FormatUint(uint64(uid), 10)
	in.Metadata[MetaMailbox] = r.cfg.IMAP.Mailbox
	if _, err := sink.Deliver(ctx, in); err != nil {
		if connectors.IsPermanent(err) {
			return r.quarantine(ctx, uidValidity, uid, raw, "the store refused the message: "+err.Error())
		}
		return fmt.Errorf("delivering IMAP UID %d: %w", uid, err)
	}
	return nil
}

func (r *Receiver) quarantine(ctx context.Context, uidValidity, uid uint32, raw []byte, reason string) error {
	r.cfg.Logger.Warn("email: message quarantined", "inbox", r.inboxID, "uid", uid, "reason", reason)
	if err := r.state.Quarantine(ctx, r.inboxID, uidValidity, uid, raw, reason); err != nil {
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
