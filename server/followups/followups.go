// Package followups does what follows each stored inbound message: SLA due times,
// data-request detection, the incident auto-reply. The store records the work in the
// message's own transaction (store.Followup); a Worker does it and then deletes the
// record, so the work is done at least once whatever happens between the commit and
// the work (a crash, a restart, a backlog). Every step is idempotent, because a crash
// after a step and before the delete runs it again.
package followups

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"kibo/store"
)

// Item is one follow-up with the message and conversation it is about.
type Item struct {
	Work store.Followup
	Conv *store.Conversation
	Msg  *store.Message
}

// Steps runs the per-batch and per-message work; it returns the messages whose work
// failed, with the reason.
type Steps func(ctx context.Context, batch []Item) map[int64]error

// Worker runs the recorded follow-ups until its context ends.
type Worker struct {
	store *store.Store
	log   *slog.Logger
	now   func() time.Time
	steps Steps

	wake         chan struct{}
	done, failed atomic.Int64
}

const (
	batchSize = 256
	// a failed step waits 2^attempts seconds, at most an hour, and is never dropped: a
	// missed data request is a missed legal deadline. /metrics shows what is retrying.
	maxWait = time.Hour
	// poll finds work whose retry time has come, and work left by a crash when
	// nothing else wakes the worker
	poll = time.Second
)

// NewWorker makes a worker that runs steps on the follow-ups recorded in st.
func NewWorker(st *store.Store, log *slog.Logger, now func() time.Time, steps Steps) *Worker {
	return &Worker{store: st, log: log, now: now, steps: steps, wake: make(chan struct{}, 1)}
}

// Kick tells the worker that new work was committed.
func (w *Worker) Kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Done counts the messages whose follow-up work is done; Failed the failed attempts
// (each is retried).
func (w *Worker) Done() int64   { return w.done.Load() }
func (w *Worker) Failed() int64 { return w.failed.Load() }

// Run works until nothing is due, then waits for a kick or the poll, until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		for ctx.Err() == nil {
			n, err := w.runBatch(ctx)
			if err != nil {
				if ctx.Err() == nil {
					w.log.Warn("follow-up work", "err", err)
				}
				break
			}
			if n < batchSize {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-t.C:
		}
	}
}

// runBatch does one batch of due work and returns its size.
func (w *Worker) runBatch(ctx context.Context) (int, error) {
	due, err := w.store.DueFollowups(ctx, w.now(), batchSize)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	msgIDs := make([]int64, len(due))
	for i, f := range due {
		msgIDs[i] = f.MessageID
	}
	msgs, err := w.store.MessagesByID(ctx, msgIDs)
	if err != nil {
		return 0, err
	}
	convIDs := make([]int64, 0, len(msgs))
	for _, m := range msgs {
		convIDs = append(convIDs, m.ConversationID)
	}
	convs, err := w.store.ConversationsByID(ctx, convIDs)
	if err != nil {
		return 0, err
	}
	finished := make([]int64, 0, len(due))
	items := make([]Item, 0, len(due))
	for _, f := range due {
		msg := msgs[f.MessageID]
		var conv *store.Conversation
		if msg != nil {
			conv = convs[msg.ConversationID]
		}
		if msg == nil || conv == nil {
			// erased or deleted since: nothing is left to follow up
			finished = append(finished, f.MessageID)
			continue
		}
		items = append(items, Item{Work: f, Conv: conv, Msg: msg})
	}
	failures := w.steps(ctx, items)
	for _, it := range items {
		id := it.Work.MessageID
		if err, bad := failures[id]; bad {
			w.failed.Add(1)
			wait := time.Duration(1<<min(it.Work.Attempts, 12)) * time.Second
			wait = min(wait, maxWait)
			w.log.Warn("follow-up of an inbound message failed: retrying", "message", id, "attempt", it.Work.Attempts+1, "in", wait, "err", err)
			if err := w.store.PostponeFollowup(ctx, id, err.Error(), w.now().Add(wait)); err != nil {
				return 0, err
			}
			continue
		}
		finished = append(finished, id)
	}
	if err := w.store.FinishFollowups(ctx, finished); err != nil {
		return 0, err
	}
	w.done.Add(int64(len(finished)))
	return len(due), nil
}
