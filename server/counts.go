package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"kibo/server/hub"
	"kibo/store"
)

// countsPusher keeps the counts of every open agent page current without the pages
// asking: after a change it reads the counts the writer keeps (one statement, whatever
// the size of the inbox) and sends each agent theirs in a "counts" event, at most once
// per interval however many changes come in, and only to agents whose figures changed.
// A page asks GET /api/v1/counts only when it loads or reconnects.
type countsPusher struct {
	store    *store.Store
	hub      *hub.Hub
	log      *slog.Logger
	interval time.Duration

	dirty chan struct{}
	// last is what each agent was last sent (only the pusher's goroutine uses it)
	last map[int64][]byte
}

func newCountsPusher(st *store.Store, h *hub.Hub, log *slog.Logger, interval time.Duration) *countsPusher {
	return &countsPusher{store: st, hub: h, log: log, interval: interval, dirty: make(chan struct{}, 1), last: map[int64][]byte{}}
}

// kick says that conversations changed.
func (p *countsPusher) kick() {
	select {
	case p.dirty <- struct{}{}:
	default:
	}
}

func (p *countsPusher) run(ctx context.Context) {
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

func (p *countsPusher) push(ctx context.Context) {
	snap, err := p.store.CountsSnapshot(ctx)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("read the inbox counts", "err", err)
		}
		return
	}
	p.hub.ToEachAgent(func(agentID int64) []byte {
		b, err := json.Marshal(map[string]any{"type": "counts", "counts": snap.For(agentID)})
		if err != nil || bytes.Equal(b, p.last[agentID]) {
			return nil
		}
		p.last[agentID] = b
		return b
	})
}
