// Package counts keeps the inbox counts of every open agent page current without the
// pages asking (by status, unassigned, mine, unread, per inbox): the store's writer
// keeps the figures in the transaction of each change, and a Pusher sends each agent
// theirs after a change. A page asks GET /api/v1/counts only when it loads or
// reconnects.
package counts

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"kibo/store"
)

// Pages are the agents' open pages (server/hub).
type Pages interface {
	// ToEachAgent sends every page the frame made for its agent; a nil frame sends
	// nothing to that agent.
	ToEachAgent(frame func(agentID int64) []byte)
}

// Pusher, after a change, reads the counts the writer keeps (one statement, whatever
// the size of the inbox) and sends each agent theirs in a "counts" event, at most once
// per interval however many changes come in, and only to agents whose figures changed.
type Pusher struct {
	store    *store.Store
	pages    Pages
	log      *slog.Logger
	interval time.Duration

	dirty chan struct{}
	// last is what each agent was last sent (only the pusher's goroutine uses it)
	last map[int64][]byte
}

// New makes a Pusher that sends at most once per interval.
func New(st *store.Store, pages Pages, log *slog.Logger, interval time.Duration) *Pusher {
	return &Pusher{store: st, pages: pages, log: log, interval: interval, dirty: make(chan struct{}, 1), last: map[int64][]byte{}}
}

// Kick says that conversations changed.
func (p *Pusher) Kick() {
	select {
	case p.dirty <- struct{}{}:
	default:
	}
}

// Run pushes after each kick until ctx ends.
func (p *Pusher) Run(ctx context.Context) {
	ctx = store.ForEvents(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.dirty:
		}
		p.push(ctx)
		// the changes of the next interval go out together
		select {
		case <-ctx.Done():
			return
		case <-time.After(p.interval):
		}
	}
}

func (p *Pusher) push(ctx context.Context) {
	snap, err := p.store.CountsSnapshot(ctx)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("read the inbox counts", "err", err)
		}
		return
	}
	p.pages.ToEachAgent(func(agentID int64) []byte {
		b, err := json.Marshal(map[string]any{"type": "counts", "counts": snap.For(agentID)})
		if err != nil || bytes.Equal(b, p.last[agentID]) {
			return nil
		}
		p.last[agentID] = b
		return b
	})
}
