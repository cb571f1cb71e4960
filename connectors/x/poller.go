package x

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/dghubble/go-twitter/twitter"

	"kibo/connectors"
)

const (
	// pageSize is events per events/list call (X allows 50).
	pageSize = 50
	// maxSeen bounds the memory of delivered event ids. Forgetting one costs a duplicate
	// Deliver (the sink ignores it), never a lost message.
	maxSeen = 20000
	// maxBackoff caps the wait between failed polls.
	maxBackoff = 30 * time.Minute
)

// pollState carries a walk through the list's pages across a rate-limit wait, so a long
// backlog is fetched in pieces instead of restarted.
type pollState struct {
	cursor  string
	pending []twitter.DirectMessageEvent
	// notBefore is when X's rate-limit window reopens, after an answer said none is left.
	notBefore time.Time
}

// rateLimitedError says the poll must wait until X's window reopens.
type rateLimitedError struct {
	until time.Time
	err   error
}

func (e *rateLimitedError) Error() string {
	msg := fmt.Sprintf("x: rate limited until %s", e.until.UTC().Format(time.RFC3339))
	if e.err != nil {
		msg += ": " + e.err.Error()
	}
	return msg
}

func (e *rateLimitedError) Unwrap() error { return e.err }

// sinkError is a failure to store, not X's fault.
type sinkError struct{ err error }

func (e *sinkError) Error() string { return "x: storing a direct message: " + e.err.Error() }
func (e *sinkError) Unwrap() error { return e.err }

// Run polls DM events every PollInterval until ctx ends, delivering what is new to sink
// oldest first. It never gives up: errors are reported through OnStatus and retried with
// a growing wait, rate limits are waited out. It returns nil when ctx ends.
func (c *Connector) Run(ctx context.Context, sink connectors.Sink) error {
	var st pollState
	failures := 0
	for {
		err := c.poll(ctx, sink, &st)
		if ctx.Err() != nil {
			return nil
		}
		wait := c.cfg.PollInterval
		var rl *rateLimitedError
		var se *sinkError
		switch {
		case err == nil:
			failures = 0
			c.report(true, nil)
			if d := st.notBefore.Sub(c.now()) + time.Second; d > wait {
				wait = d
			}
		case errors.As(err, &rl):
			failures = 0
			c.report(true, err)
			wait = max(rl.until.Sub(c.now()), time.Second)
		default:
			failures++
			// A store failure is not X's fault: the account is still connected.
			c.report(errors.As(err, &se), err)
			wait = backoff(c.cfg.PollInterval, failures)
		}
		if c.sleep(ctx, wait) != nil {
			return nil
		}
	}
}

// backoff doubles the poll interval with each failure in a row, up to maxBackoff.
func backoff(interval time.Duration, failures int) time.Duration {
	d := interval
	for i := 1; i < failures && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// poll walks the events list from the newest page until it reaches events already
// delivered (or the end), then delivers the new ones oldest first.
func (c *Connector) poll(ctx context.Context, sink connectors.Sink, st *pollState) error {
	own, err := c.ownUserID(ctx)
	if err != nil {
		return c.asRateLimit(err)
	}
	for {
		if !st.notBefore.IsZero() && c.now().Before(st.notBefore) {
			return &rateLimitedError{until: st.notBefore.Add(time.Second)}
		}
		params := &twitter.DirectMessageEventsListParams{Count: pageSize, Cursor: st.cursor}
		var page *twitter.DirectMessageEvents
		resp, err := c.call(ctx, func(api *twitter.Client) (resp *http.Response, err error) {
			page, resp, err = api.DirectMessages.EventsList(params)
			return resp, err
		})
		if s := statusOf(resp); err != nil || s < 200 || s >= 300 {
			if s >= 200 && s < 300 {
				err = fmt.Errorf("x: X's answer to the message list could not be read: %w", err)
			} else {
				err = c.asRateLimit(c.classify("the message list", resp, err))
			}
			var rl *rateLimitedError
			if !errors.As(err, &rl) {
				// Start over next time; what was collected is fetched again.
				*st = pollState{}
			}
			return err
		}
		st.notBefore = time.Time{}
		if rate := readRate(resp); rate.known && rate.remaining <= 0 {
			st.notBefore = rate.reset
		}
		reachedKnown := false
		for _, ev := range page.Events {
			if c.isSeen(ev.ID) {
				reachedKnown = true
				continue
			}
			st.pending = append(st.pending, ev)
		}
		if reachedKnown || page.NextCursor == "" || page.NextCursor == st.cursor {
			break
		}
		st.cursor = page.NextCursor
	}
	pending := st.pending
	st.cursor, st.pending = "", nil
	return c.deliver(ctx, sink, own, pending)
}

// asRateLimit turns a *connectors.RetryAfterError into the poller's rate-limit wait.
func (c *Connector) asRateLimit(err error) error {
	var ra *connectors.RetryAfterError
	if errors.As(err, &ra) {
		return &rateLimitedError{until: c.now().Add(ra.After), err: err}
	}
	return err
}

type polledMessage struct {
	id string
	in connectors.Inbound
}

// deliver names the customers of events and hands them to sink oldest first, stopping at
// the first failure so that nothing newer counts as seen before it is stored.
func (c *Connector) deliver(ctx context.Context, sink connectors.Sink, own string, events []twitter.DirectMessageEvent) error {
	var parsed []dmEvent
	var raws [][]byte
	var ids []string
	dup := map[string]bool{}
	for _, ev := range events {
		if ev.ID == "" || dup[ev.ID] {
			continue
		}
		dup[ev.ID] = true
		// go-twitter decoded the event; encoding it again gives the webhook's shape, so
		// both paths share one parser.
		raw, err := json.Marshal(ev)
		var de dmEvent
		if err == nil {
			err = json.Unmarshal(raw, &de)
		}
		if err != nil || de.Type != "message_create" || de.MessageCreate == nil {
			c.markSeen(ev.ID)
			continue
		}
		parsed, raws = append(parsed, de), append(raws, raw)
		if id := de.MessageCreate.SenderID; id == own {
			ids = append(ids, de.MessageCreate.Target.RecipientID)
		} else {
			ids = append(ids, id)
		}
	}
	c.lookupUsers(ctx, ids)

	var msgs []polledMessage
	for i, de := range parsed {
		in, err := toInbound(c.cfg.InboxID, own, raws[i], de, c.user)
		if err != nil {
			// An event X should never send; skipping it keeps the rest flowing.
			c.markSeen(de.ID)
			continue
		}
		msgs = append(msgs, polledMessage{id: de.ID, in: in})
	}
	sort.SliceStable(msgs, func(i, j int) bool {
		a, b := msgs[i], msgs[j]
		if !a.in.SentAt.Equal(b.in.SentAt) {
			return a.in.SentAt.Before(b.in.SentAt)
		}
		// Event ids are snowflakes: a longer one is newer, else compare as text.
		if len(a.id) != len(b.id) {
			return len(a.id) < len(b.id)
		}
		return a.id < b.id
	})
	for _, m := range msgs {
		if _, err := sink.Deliver(ctx, m.in); err != nil {
			return &sinkError{err: err}
		}
		c.markSeen(m.id)
	}
	return nil
}

func (c *Connector) isSeen(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.seen[id]
	return ok
}

func (c *Connector) markSeen(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[id]; ok {
		return
	}
	c.seen[id] = struct{}{}
	c.seenFIFO = append(c.seenFIFO, id)
	if len(c.seenFIFO) > maxSeen {
		drop := len(c.seenFIFO) - maxSeen
		for _, old := range c.seenFIFO[:drop] {
			delete(c.seen, old)
		}
		c.seenFIFO = append([]string(nil), c.seenFIFO[drop:]...)
	}
}
