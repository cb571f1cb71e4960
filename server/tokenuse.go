package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"kibo/store"
)

// tokenUse keeps API tokens' last_used_at without a write per request: a request only
// notes the time in memory, at most once a minute per token, and a background loop
// writes what was noted in one transaction. A crash loses at most the last minute's
// uses, which is what the column promises anyway ("about when").
type tokenUse struct {
	every time.Duration // the least time between two writes for one token

	mu      sync.Mutex
	pending map[int64]time.Time // noted, not written yet
	written map[int64]time.Time // when each token's use was last noted
	kick    chan struct{}
}

func newTokenUse(every time.Duration) *tokenUse {
	return &tokenUse{every: every, pending: map[int64]time.Time{}, written: map[int64]time.Time{}, kick: make(chan struct{}, 1)}
}

// saw notes that a token was used at now; it never waits on the database.
func (u *tokenUse) saw(id int64, now time.Time) {
	u.mu.Lock()
	if last, ok := u.written[id]; ok && now.Sub(last) < u.every {
		u.mu.Unlock()
		return
	}
	u.written[id] = now
	u.pending[id] = now
	u.mu.Unlock()
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

func (u *tokenUse) take(now time.Time) map[int64]time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.pending) == 0 {
		return nil
	}
	out := u.pending
	u.pending = map[int64]time.Time{}
	for id, at := range u.written { // forget what no longer gates anything
		if now.Sub(at) >= u.every {
			delete(u.written, id)
		}
	}
	return out
}

// run writes the noted uses until ctx ends, then once more.
func (u *tokenUse) run(ctx context.Context, st *store.Store, now func() time.Time, log *slog.Logger) {
	flush := func(ctx context.Context) {
		if used := u.take(now()); used != nil {
			if err := st.TouchAPITokens(ctx, used); err != nil {
				log.Warn("record API token use", "tokens", len(used), "err", err)
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			flush(context.Background())
			return
		case <-u.kick:
			flush(ctx)
		}
	}
}
