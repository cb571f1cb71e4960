// Package sla keeps each unresolved conversation's SLA due times current (first
// response, resolution; store/sla.go computes them from the policy and the business
// hours). A new or reopened conversation gets them from the follow-up work of its
// inbound message (server/followups), a changed priority from the conversation's
// PATCH at once, and what is left (a new policy, a backlog) from the periodic sweep.
// The warnings and breaches are alerts (server/alerts).
package sla

import (
	"context"
	"log/slog"

	"kibo/store"
)

// batch is how many conversations one statement of the sweep computes; a sweep stops
// after 100 batches and goes on at the next one.
const batch = 500

// DueTimes computes due times.
type DueTimes struct {
	store *store.Store
	log   *slog.Logger
}

// New computes due times in st.
func New(st *store.Store, log *slog.Logger) *DueTimes { return &DueTimes{store: st, log: log} }

// Refresh computes due times: of the given conversations, and of all still waiting
// (new, changed priority, new policy), a batch at a time.
func (d *DueTimes) Refresh(ctx context.Context, work []store.SLAWork) {
	for i := 0; i < 100; i++ {
		n, err := d.store.RefreshSLA(ctx, work, batch)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("compute SLA due times", "err", err)
			}
			return
		}
		if n < batch {
			return
		}
		work = nil
	}
}

// RefreshOnly computes the due times of the given conversations, in one transaction,
// and says whether it could: the follow-up work of inbound messages retries on error.
func (d *DueTimes) RefreshOnly(ctx context.Context, work []store.SLAWork) error {
	_, err := d.store.RefreshSLA(ctx, work, len(work))
	return err
}

// AfterUpdate is the hook of a conversation's change: a changed priority changes the
// due times at once. It returns the conversation as it now is, as agentID sees it.
func (d *DueTimes) AfterUpdate(ctx context.Context, conv *store.Conversation, agentID int64) *store.Conversation {
	d.Refresh(ctx, []store.SLAWork{{ConversationID: conv.ID}})
	if c, err := d.store.Conversation(ctx, conv.ID, agentID); err == nil {
		return c
	}
	return conv
}
